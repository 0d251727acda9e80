"""The simulator's hosted pages: Checkout, Customer Portal and invoices, as plain HTML forms."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stripe_simulator import checkout as checkout_sessions
from stripe_simulator import payment_methods, subscriptions
from stripe_simulator import portal as portal_sessions
from stripe_simulator.catalog import product_name
from stripe_simulator.errors import StripeError
from stripe_simulator.pdf import invoice_pdf
from stripe_simulator.store import Store

if TYPE_CHECKING:
    from stripe_simulator.app import SimulatorApp

PageResult = tuple[int, str, str | bytes, str]

LAYOUT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><p><strong>Stripe simulator</strong>: no real money moves here.</p>
<h1>{title}</h1>{body}</body></html>"""


def page(title: str, body: str, status: int = 200) -> PageResult:
    return status, "text/html", LAYOUT.format(title=title, body=body), ""


def redirect(url: str) -> PageResult:
    return 303, "text/html", "", url


def handle(app: SimulatorApp, method: str, path: str, params: dict[str, Any]) -> PageResult:
    from stripe_simulator.app import escape

    parts = path.strip("/").split("/")
    store = app.store
    with store.lock:
        try:
            if parts[0] == "checkout" and len(parts) == 2:
                return saved(store, checkout(app, method, parts[1], params))
            if parts[0] == "portal" and len(parts) == 2:
                return saved(store, portal(app, method, parts[1], params))
            if parts[0] == "invoices" and len(parts) in (2, 3):
                invoice = store.get("invoice", parts[1])
                if len(parts) == 3:
                    customer = store.objects.get("customer", {}).get(invoice["customer"], {})
                    return (
                        200,
                        "application/pdf",
                        invoice_pdf(invoice, customer.get("email") or ""),
                        "",
                    )
                amount = f"{invoice['amount_due'] / 100:.2f} {invoice['currency'].upper()}"
                body = f"<p>Invoice {escape(invoice['number'])}: {escape(amount)}, "
                body += f"{escape(invoice['status'])}.</p>"
                return page("Invoice", body)
        except StripeError as error:
            return page("Not found", f"<p>{escape(error)}</p>", 404)
    return page("Not found", "<p>No such page.</p>", 404)


def saved(store: Store, result: PageResult) -> PageResult:
    store.save()
    return result


def checkout(app: SimulatorApp, method: str, session_id: str, params: dict[str, Any]) -> PageResult:
    from stripe_simulator.app import escape

    store = app.store
    session = store.get("checkout.session", session_id)
    error = ""
    code = str(params.get("promotion_code", "")).strip() if method == "POST" else ""
    if method == "POST":
        try:
            # The same path as the control API's pay: a bad code refuses before any charge.
            session = checkout_sessions.pay(store, session_id, params.get("card", ""), code)
            return redirect(session["success_url"])
        except StripeError as refused:
            where = "promotion-code-error" if refused.body["error"].get("param") == "code" else ""
            error = f'<p role="alert" id="{where or "card-error"}">{escape(refused)}</p>'
    if session["status"] != "open":
        return redirect(session["success_url"])
    request = checkout_sessions.request_of(store, session_id)
    names = [product_name(store, store.get("price", i["price"])) for i in request["line_items"]]
    verb = "Pay for" if session["mode"] == "payment" else "Subscribe to"
    promotion = ""
    if request.get("allow_promotion_codes"):
        promotion = f"""<label>Promotion code <input name="promotion_code" id="promotion-code"
autocomplete="off" value="{escape(code)}"></label>
"""
    body = f"""<p>{verb} {escape(", ".join(dict.fromkeys(names)))}.</p>{error}
<form method="post">
<label>Card number <input name="card" id="card" autocomplete="off" value=""></label>
<p>4242 4242 4242 4242 succeeds; 4000 0000 0000 0002 is declined.</p>
{promotion}<button type="submit" id="pay">{verb.split()[0]}</button></form>
<p><a href="{escape(session["cancel_url"] or "/")}">Cancel</a></p>"""
    return page("Checkout", body)


def portal(app: SimulatorApp, method: str, session_id: str, params: dict[str, Any]) -> PageResult:
    from stripe_simulator.app import escape

    store = app.store
    session = store.get("billing_portal.session", session_id)
    subs = store.list_for("subscription", {"customer": session["customer"]})
    card_error = ""
    if method == "POST" and params.get("action") == "card":
        try:
            update_card(store, session["customer"], params.get("card", ""))
            return redirect(f"/portal/{session_id}")
        except StripeError as declined:
            card_error = f'<p role="alert" id="card-error">{escape(declined)}</p>'
    elif method == "POST":
        sub = store.get("subscription", params.get("subscription", ""))
        if sub["customer"] != session["customer"]:
            return page("Not found", "<p>No such subscription.</p>", 404)
        if params.get("action") == "cancel":
            subscriptions.update(store, sub["id"], {"cancel_at_period_end": "true"})
        elif params.get("action") == "switch":
            item = next(
                i
                for i in sub["items"]["data"]
                if i["price"]["recurring"]["usage_type"] == "licensed"
            )
            subscriptions.update(
                store, sub["id"], {"items": [{"id": item["id"], "price": params.get("price", "")}]}
            )
        return redirect(f"/portal/{session_id}")
    rows = []
    for sub in subs:
        switch = "".join(
            f'<button name="price" value="{escape(p["id"])}">'
            f"Switch to {escape(product_name(store, p))}</button>"
            for p in portal_sessions.prices(store)
        )
        state = "cancels at period end" if sub["cancel_at_period_end"] else sub["status"]
        rows.append(
            f"""<section><p>Subscription {escape(sub["id"])}: {escape(state)}</p>
<form method="post"><input type="hidden" name="subscription" value="{escape(sub["id"])}">
<button name="action" value="cancel" id="cancel">Cancel at period end</button></form>
<form method="post"><input type="hidden" name="subscription" value="{escape(sub["id"])}">
<input type="hidden" name="action" value="switch">{switch}</form></section>"""
        )
    back = f'<p><a href="{escape(session["return_url"] or "/")}" id="return">Return</a></p>'
    card = f"""<section><h2>Payment method</h2><p id="card-on-file">{
        escape(card_on_file(store, session["customer"]))
    }</p>{card_error}
<form method="post"><input type="hidden" name="action" value="card">
<label>New card number <input name="card" id="card" autocomplete="off" value=""></label>
<button type="submit" id="update-card">Update payment method</button></form></section>"""
    return page("Customer portal", ("".join(rows) or "<p>No subscriptions.</p>") + card + back)


def card_on_file(store: Store, customer_id: str) -> str:
    default = store.get("customer", customer_id)["invoice_settings"]["default_payment_method"]
    if not default:
        return "No card on file."
    card = store.get("payment_method", default)["card"]
    expiry = f"{card['exp_month']}/{card['exp_year']}"
    return f"{card['brand'].title()} ending in {card['last4']}, expires {expiry}"


def update_card(store: Store, customer_id: str, number: str) -> None:
    """A new default card; a subscription whose payment failed is charged again with it."""
    payment_methods.attach_card(store, customer_id, number)
    for sub in store.list_for("subscription", {"customer": customer_id}):
        if sub["status"] in ("past_due", "unpaid"):
            subscriptions.pay_open_invoices(store, sub["id"])
