"""The simulator's hosted pages and its webhook delivery, over real HTTP."""

from __future__ import annotations

import html
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from billing import flows, gateway
from tests.billing.conftest import WEBHOOK_SECRET, deliver, subscribe
from tests.helpers import wait_for


def test_it_hosts_a_checkout_page_that_declines_the_decline_card(plans, team, alice, sim):
    url = flows.start_checkout(
        team, plans["starter"], alice, "http://t/s?id={CHECKOUT_SESSION_ID}", "http://t/c"
    )
    assert 'name="card"' in requests.get(url, timeout=5).text
    declined = requests.post(
        url, data={"card": "4000 0000 0000 0002"}, timeout=5, allow_redirects=False
    )
    assert "Your card was declined." in declined.text
    paid = requests.post(
        url, data={"card": "4242 4242 4242 4242"}, timeout=5, allow_redirects=False
    )
    assert paid.status_code == 303
    assert paid.headers["Location"] == f"http://t/s?id={url.rsplit('/', 1)[1]}"


def checkout_page(team, plan, alice) -> str:
    return flows.start_checkout(
        team, plan, alice, "http://t/s?id={CHECKOUT_SESSION_ID}", "http://t/c"
    )


def test_the_checkout_page_asks_for_a_code_only_when_the_session_allows_them(
    plans, team, alice, sim
):
    page = requests.get(checkout_page(team, plans["starter"], alice), timeout=5).text
    assert "Promotion code" not in page and 'name="promotion_code"' not in page


def test_a_code_typed_on_the_checkout_page_discounts_the_subscription(
    client, plans, team, alice, launch, sim
):
    url = checkout_page(team, plans["starter"], alice)
    page = requests.get(url, timeout=5).text
    assert '<label>Promotion code <input name="promotion_code"' in page
    start = len(sim.events())
    paid = requests.post(
        url, data={"card": "4242 4242 4242 4242", "promotion_code": " launch20 "}, timeout=5,
        allow_redirects=False,
    )  # fmt: skip
    assert paid.status_code == 303
    deliver(client, sim.events()[start:])
    [invoice] = gateway.list_invoices(team.billing_customer.stripe_id)
    assert [d["amount"] for d in invoice["total_discount_amounts"]] == [200]  # 20% of 10.00
    assert team.invoices.get().discount == 200


@pytest.mark.parametrize(
    "code", ["NOPE", "LAUNCH21", "<script>alert(1)</script>", '" autofocus onfocus="x', "x" * 3000]
)
def test_an_unknown_code_on_the_checkout_page_is_an_error_and_charges_nothing(
    plans, team, alice, launch, sim, code
):
    url = checkout_page(team, plans["starter"], alice)
    refused = requests.post(
        url, data={"card": "4242 4242 4242 4242", "promotion_code": code}, timeout=5,
        allow_redirects=False,
    )  # fmt: skip
    assert refused.status_code == 200
    assert '<p role="alert" id="promotion-code-error">This code is invalid.</p>' in refused.text
    assert f'value="{html.escape(code)}"' in refused.text  # kept in the box, escaped
    assert "<script>" not in refused.text and '" autofocus' not in refused.text
    assert gateway.list_invoices(team.billing_customer.stripe_id) == []
    assert all(event["type"] != "checkout.session.completed" for event in sim.events())


def test_an_inactive_code_on_the_checkout_page_is_refused(plans, team, alice, launch, sim):
    [promo] = gateway.promotion_codes("LAUNCH20")
    gateway.deactivate_promotion_code(promo["id"])
    url = checkout_page(team, plans["starter"], alice)
    refused = requests.post(
        url, data={"card": "4242 4242 4242 4242", "promotion_code": "LAUNCH20"}, timeout=5,
        allow_redirects=False,
    )  # fmt: skip
    assert refused.status_code == 200 and "This code is invalid." in refused.text
    assert 'value="LAUNCH20"' in refused.text  # kept in the box, to correct
    assert gateway.list_invoices(team.billing_customer.stripe_id) == []


def test_it_hosts_a_customer_portal_to_cancel_and_switch_plans(client, plans, team, alice, sim):
    sub_id = subscribe(sim, client, team, plans["starter"], alice)
    portal = flows.open_portal(team, "http://t/back")
    page = requests.get(portal, timeout=5).text
    assert "Switch to Pro" in page and 'href="http://t/back"' in page
    requests.post(
        portal,
        data={"subscription": sub_id, "action": "switch", "price": plans["pro"].stripe_price_id},
        timeout=5,
    )
    assert (
        gateway.retrieve_subscription(sub_id)["items"]["data"][0]["price"]["id"]
        == plans["pro"].stripe_price_id
    )
    requests.post(portal, data={"subscription": sub_id, "action": "cancel"}, timeout=5)
    assert gateway.retrieve_subscription(sub_id)["cancel_at_period_end"] is True


def test_it_hosts_invoice_pages_and_pdfs(client, plans, team, alice, sim):
    subscribe(sim, client, team, plans["starter"], alice)
    invoice = team.invoices.get()
    assert "10.00 USD" in requests.get(invoice.hosted_invoice_url, timeout=5).text
    pdf = requests.get(invoice.invoice_pdf, timeout=5)
    assert pdf.headers["Content-Type"].startswith("application/pdf")


def test_it_delivers_signed_webhooks_and_retries_failures(plans, team, alice, sim, settings):
    received: list[tuple[int, bytes, str]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = 500 if not received else 200  # the first delivery fails
            received.append((status, body, self.headers["Stripe-Signature"]))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sim.control(
            "webhooks", url=f"http://127.0.0.1:{server.server_port}/hook", secret=WEBHOOK_SECRET
        )
        flows.ensure_customer(team, alice.email)
        url = flows.start_checkout(team, plans["starter"], alice, "http://t/s", "http://t/c")
        sim.pay_checkout(url)
        wait_for(
            lambda: received and [b for _, b, _ in received].count(received[0][1]) >= 2,
            timeout=15,
            what="the failed delivery sent again",
        )
    finally:
        sim.control("webhooks", url="")
        server.shutdown()
    first_status, first_body, _ = received[0]
    retried = [body for status, body, _ in received[1:] if body == first_body]
    assert first_status == 500 and retried, "the failed delivery was sent again"
    for _, body, signature in received:
        assert gateway.verify_webhook(body, signature)["object"] == "event"
