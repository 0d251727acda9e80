"""An invoice's lines as Stripe gives them: pending items (prorations) first, newest first, then
the subscription's items; ten embedded, all listed at `lines.url`; and the invoice's period, the
one its items were added in (Invoices.d.ts: period_start, period_end, lines)."""

from __future__ import annotations


def change_prices(stripe, sub: dict, prices: dict, times: int) -> None:
    """Switch the licensed item back and forth, each switch a credit and a charge."""
    item = sub["items"]["data"][0]["id"]
    for n in range(times):
        price = prices["pro"] if n % 2 == 0 else prices["business"]
        stripe.ok("POST", f"/v1/subscriptions/{sub['id']}", [
            ("items[0][id]", item), ("items[0][price]", price),
            ("proration_behavior", "create_prorations")])  # fmt: skip


def test_an_invoice_embeds_ten_lines_and_lists_them_all_in_stripes_order(stripe):
    prices = stripe.catalog()
    sub = stripe.subscribe(prices["business"], extra=[("line_items[1][price]", prices["overage"])])
    change_prices(stripe, sub, prices, 6)
    preview = stripe.ok("POST", "/v1/invoices/create_preview", {"subscription": sub["id"]})
    lines = preview["lines"]
    assert preview["id"].startswith("upcoming_in_")
    assert len(lines["data"]) == 10 and lines["has_more"] is True
    assert lines["url"] == f"/v1/invoices/{preview['id']}/lines"
    listed = stripe.ok("GET", lines["url"], {"limit": "100"})
    assert listed["has_more"] is False and len(listed["data"]) == 12 + 2
    assert [line["id"] for line in listed["data"][:10]] == [line["id"] for line in lines["data"]]
    prorated = [line["parent"]["subscription_item_details"]["proration"] for line in listed["data"]]
    assert prorated == [True] * 12 + [False, False]  # prorations first
    assert sum(line["amount"] for line in listed["data"]) == preview["subtotal"]
    pages, after = [], None
    while True:
        page = stripe.ok(
            "GET", lines["url"], {"limit": "4", **({"starting_after": after} if after else {})}
        )
        pages += page["data"]
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    assert [line["id"] for line in pages] == [line["id"] for line in listed["data"]]

    stripe.ok("POST", f"/_sim/subscriptions/{sub['id']}/advance")
    renewal = stripe.invoices(sub["id"])[0]
    assert renewal["lines"]["has_more"] is True and len(renewal["lines"]["data"]) == 10
    whole = stripe.ok("GET", f"/v1/invoices/{renewal['id']}/lines", {"limit": "100"})["data"]
    assert sum(line["amount"] for line in whole) == renewal["subtotal"]
    assert stripe.error("GET", "/v1/invoices/in_nonesuch/lines", status=404)["code"] == (
        "resource_missing"
    )


def test_an_invoice_period_is_the_one_its_items_were_added_in(stripe):
    """A first invoice's is its creation; a renewal's, the period just ended (its usage), while
    its licensed line bills the period begun."""
    prices = stripe.catalog()
    sub = stripe.subscribe(prices["business"], extra=[("line_items[1][price]", prices["overage"])])
    [first] = stripe.invoices(sub["id"])
    assert first["period_start"] == first["period_end"] == first["created"]
    start, end = (
        sub["items"]["data"][0][k] for k in ("current_period_start", "current_period_end")
    )
    preview = stripe.ok("POST", "/v1/invoices/create_preview", {"subscription": sub["id"]})
    assert (preview["period_start"], preview["period_end"]) == (start, end)
    stripe.ok("POST", f"/_sim/subscriptions/{sub['id']}/advance")
    renewal = stripe.invoices(sub["id"])[0]
    assert renewal["billing_reason"] == "subscription_cycle"
    assert (renewal["period_start"], renewal["period_end"]) == (start, end)
    licensed, metered = renewal["lines"]["data"]
    assert licensed["period"]["start"] == end  # the month that begins
    assert (metered["period"]["start"], metered["period"]["end"]) == (start, end)  # its usage
