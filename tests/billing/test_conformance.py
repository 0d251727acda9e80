"""The simulator answers as Stripe's own API description (2026-10-28) says Stripe answers, and
the portal asks only what that description allows.

Every flow the portal runs through its seam (billing/gateway.py) is played against the
simulator in its own process, over HTTP; every function of the seam must have run. Every
request the seam sent is then checked against the parameters the reference gives its endpoint
(unknown names, missing required ones, types, enums, empty strings: what Stripe refuses with a
400), and every answer the seam received and every webhook event the simulator sent against the
resources and events of the reference generated from the `stripe` package's type declarations
(tests/billing/reference.py): required fields, no unknown fields, nullability, enums, types and
expandable fields. The test lists every mismatch, endpoint by endpoint.
"""

from __future__ import annotations

import functools
import inspect
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts.models import Account
from billing import flows, gateway, metering
from billing.models import Customer
from catalog.models import Coupon
from credits.models import CreditWallet
from stripe_simulator import stripe_params
from stripe_simulator.errors import StripeError
from tests.billing.conftest import run_and_deliver, subscribe
from tests.billing.reference import (
    error_mismatches,
    event_ref,
    mismatches,
    notification_ref,
    reference,
    resource_ref,
)

# Every seam call over real HTTP to `manage.py stripe_simulator`, the way `make run` runs it.
pytestmark = pytest.mark.simulator_process

# What the seam calls, as the simulator saw it: every one must be exercised below.
SEAM_ENDPOINTS = {
    "POST /v1/customers",
    "POST /v1/products",
    "GET /v1/products/{id}",
    "POST /v1/products/{id}",
    "GET /v1/prices",
    "POST /v1/prices",
    "POST /v1/prices/{id}",
    "GET /v1/billing/meters",
    "POST /v1/billing/meters",
    "POST /v1/billing/meter_events",
    "POST /v1/checkout/sessions",
    "GET /v1/checkout/sessions/{id}",
    "POST /v1/billing_portal/sessions",
    "GET /v1/subscriptions",
    "GET /v1/subscriptions/{id}",
    "POST /v1/subscriptions/{id}",
    "DELETE /v1/subscriptions/{id}",
    "GET /v1/invoices",
    "GET /v1/invoices/{id}",
    "POST /v1/invoices/create_preview",
    "POST /v1/subscription_schedules",
    "POST /v1/subscription_schedules/{id}",
    "POST /v1/subscription_schedules/{id}/release",
    "GET /v2/core/events/{id}",
    "POST /v1/coupons",
    "GET /v1/coupons/{id}",
    "GET /v1/promotion_codes",
    "POST /v1/promotion_codes",
    "POST /v1/promotion_codes/{id}",
    "POST /v1/payment_intents",
    "GET /v1/payment_intents/{id}",
}
# The seam's functions that reach Stripe or check what it sent (all but the pure helpers).
SEAM_FUNCTIONS = {
    name for name, value in vars(gateway).items()
    if inspect.isfunction(value) and value.__module__ == gateway.__name__
    and not name.startswith("_") and name not in ("client", "checked_envelope")
}  # fmt: skip
# Path segments that name a collection or an action; any other segment is an object's id.
NAMES = {part for name in SEAM_ENDPOINTS for part in name.split(" ")[1].split("/")} - {"{id}"}


def endpoint(method: str, path: str) -> str:
    return f"{method} " + "/".join(p if p in NAMES else "{id}" for p in path.split("/"))


def answer_mismatches(body: dict) -> list[str]:
    if body.get("object") == "list":
        found = [
            f"list.{name}: missing" for name in ("data", "has_more", "url") if name not in body
        ]
        for index, item in enumerate(body.get("data", [])):
            found += mismatches(item, resource_ref(item["object"]), f"data[{index}]")
        return found
    if body.get("object") == "v2.core.event":
        return event_mismatches(body)
    return mismatches(body, resource_ref(body["object"]))


def event_mismatches(event: dict, *, notification: bool = False) -> list[str]:
    ref = (notification_ref if notification else event_ref)(event["type"])
    if ref is None:
        return [f"{event['type']}: Stripe has no such event type"]
    return mismatches(event, ref)


def trial_customer(sim, sub_id: str) -> str:
    return gateway.retrieve_subscription(sub_id)["customer"]


def play_every_flow(sim, client, plans, team, alice, user_factory, settings):
    """Everything the portal asks of Stripe, in the order a customer's life brings it."""
    # Catalog sync ran in the `plans` fixture (products, prices, the meter); a second run
    # reads them back and adds only the yearly prices of a plan now also sold by the year.
    from billing.catalog_sync import sync_catalog

    plans["starter"].yearly_price = Decimal("100.00")
    plans["starter"].save(update_fields=["yearly_price"])
    launch = Coupon.objects.create(
        slug="launch", name="Launch", percent_off=Decimal("20"), duration="repeating",
        duration_in_months=3, promotion_codes=["LAUNCH20"],
    )  # fmt: skip
    sync_catalog()
    plans["starter"].refresh_from_db()
    # Checkout without a trial; the customer portal; an upgrade with prorations.
    sub_id = subscribe(sim, client, team, plans["starter"], alice)
    flows.open_portal(team, "http://t/back")
    assert flows.card_on_file(team) is not None  # the subscription, its card expanded
    run_and_deliver(sim, client, lambda: flows.change_plan(
        team, plans["pro"], alice, downgrade_at_period_end=False))  # fmt: skip
    flows.upcoming_invoice(team)
    # Overage to the meter, cancel and undo, a downgrade at the period end, the renewal.
    team.refresh_from_db()
    metering.report_overage(team, datetime.now(UTC), "conformance", 1200, datetime.now(UTC))
    run_and_deliver(sim, client, lambda: flows.set_cancel_at_period_end(team, alice, True))
    run_and_deliver(sim, client, lambda: flows.set_cancel_at_period_end(team, alice, False))
    # A downgrade planned, replaced by an upgrade, planned again; the renewal applies it.
    flows.change_plan(team, plans["starter"], alice, downgrade_at_period_end=True)
    flows.change_plan(team, plans["pro"], alice, downgrade_at_period_end=True)
    flows.change_plan(team, plans["starter"], alice, downgrade_at_period_end=True)
    run_and_deliver(sim, client, lambda: sim.control(f"subscriptions/{sub_id}/advance"))
    # A failed renewal and its recovery.
    sim.control(f"subscriptions/{sub_id}/fail_next_payment")
    run_and_deliver(sim, client, lambda: sim.control(f"subscriptions/{sub_id}/advance"))
    run_and_deliver(sim, client, lambda: sim.control(f"subscriptions/{sub_id}/pay"))
    # Checkout with a trial, for another account; the nightly reconcile; closing an account.
    plans["pro"].trial_days = 14
    plans["pro"].save(update_fields=["trial_days"])
    other = Account.objects.create_with_owner("Trialists", user_factory("t@example.com"))
    trial = subscribe(sim, client, other, plans["pro"], other.owners().get())
    flows.upcoming_invoice(other)
    run_and_deliver(sim, client, lambda: sim.control(
        f"subscriptions/{trial}/backdate", seconds=str(12 * 86400)))  # fmt: skip
    # Usage for a customer Stripe does not know: accepted, reported later.
    Customer.objects.filter(account=other).update(stripe_id="cus_unknown")
    metering.report_overage(other, datetime.now(UTC), "unknown", 5, datetime.now(UTC))
    run_and_deliver(sim, client, lambda: sim.control("meter_errors/report"))
    Customer.objects.filter(account=other).update(stripe_id=trial_customer(sim, trial))
    flows.reconcile()
    run_and_deliver(sim, client, lambda: flows.cancel_now(other))
    # An annual plan, with Stripe Tax, address and tax ID collection; its renewal preview; a
    # move to monthly billing (Stripe restarts the period and invoices at once, crediting the
    # unused part of the year).
    settings.STRIPE_AUTOMATIC_TAX = settings.STRIPE_COLLECT_TAX_ID = True
    annual = Account.objects.create_with_owner("Annual", user_factory("y@example.com"))
    owner = annual.owners().get()
    subscribe(sim, client, annual, plans["starter"], owner, interval="year",
              promotion_code="launch20")  # fmt: skip
    flows.upcoming_invoice(annual)
    run_and_deliver(sim, client, lambda: flows.change_plan(
        annual, plans["pro"], owner, downgrade_at_period_end=False, interval="month"))  # fmt: skip
    # A plan renamed and repriced: the product is updated, the old price archived.
    plans["starter"].name, plans["starter"].monthly_price = "Starter+", Decimal("12.00")
    plans["starter"].save(update_fields=["name", "monthly_price"])
    # A coupon's new terms: a new Stripe coupon, the code moved to it.
    launch.percent_off = Decimal("25")
    launch.save(update_fields=["percent_off"])
    sync_catalog()
    play_prepaid_flows(sim, client, plans, user_factory)


def play_prepaid_flows(sim, client, plans, user_factory):
    """A credit pack and a time pass bought in Checkout's payment mode; an automatic top-up
    charged off-session, and one the bank refuses (authentication required)."""
    from billing.catalog_sync import sync_catalog
    from catalog.models import CreditPack
    from credits import purchases

    pack = CreditPack.objects.create(slug="ten", name="Ten", credits=10, price=Decimal("1.00"),
                                     plan=plans["free"])  # fmt: skip
    plans["pro"].pass_days, plans["pro"].pass_price = 1, Decimal("5.00")
    plans["pro"].save(update_fields=["pass_days", "pass_price"])
    sync_catalog()
    pack.refresh_from_db()
    plans["pro"].refresh_from_db()
    for card in ("4242424242424242", "4000002760003184"):
        buyer = Account.objects.create_with_owner(card, user_factory(f"{card}@example.com"))
        owner = buyer.owners().get()
        for kind, item in (("credits", pack), ("pass", plans["pro"])):
            url = purchases.start_purchase(buyer, owner, kind, item, "http://t/s", "http://t/c")
            run_and_deliver(sim, client, lambda url=url, card=card: sim.pay_checkout(url, card))
        CreditWallet.objects.filter(account=buyer).update(auto_topup=True, topup_pack=pack)
        run_and_deliver(sim, client, lambda buyer=buyer: purchases.top_up(buyer.pk))


def request_mismatches(name: str, params: dict) -> list[str]:
    """What Stripe would refuse in a request, by the reference's parameters of its endpoint."""
    document = {"endpoints": reference()["params"], "definitions": reference()["definitions"]}
    try:
        stripe_params.check(name, params, document)
    except StripeError as error:
        return [f"request {error.body['error'].get('param')}: {error}"]
    return []


@pytest.fixture
def seam_calls(monkeypatch) -> set[str]:
    """The names of the seam's functions called from now on (ask for it before `plans`)."""
    called: set[str] = set()
    for name in SEAM_FUNCTIONS:
        real = getattr(gateway, name)

        def recorded(*args, _real=real, _name=name, **kwargs):
            called.add(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(gateway, name, functools.wraps(real)(recorded))
    return called


def test_every_request_answer_and_event_matches_stripes_api_description(
    seam_calls, client, plans, team, alice, user_factory, sim, settings
):
    assert reference()["api_version"] == gateway.STRIPE_API_VERSION
    play_every_flow(sim, client, plans, team, alice, user_factory, settings)
    missed = sorted(SEAM_FUNCTIONS - seam_calls)
    assert not missed, f"seam functions play_every_flow never calls: {missed}"
    exchanges = sim.exchanges()
    # The new flows ran: a yearly price, and an invoice (the preview) with Stripe Tax.
    assert any((e["body"].get("recurring") or {}).get("interval") == "year" for e in exchanges)
    assert any(e["body"].get("total_taxes") for e in exchanges)
    assert any(e["body"].get("total_discount_amounts") for e in exchanges)
    by_endpoint: dict[str, list[str]] = defaultdict(list)
    for exchange in exchanges:
        name = endpoint(exchange["method"], exchange["path"])
        by_endpoint[name] += request_mismatches(name, exchange["params"])
        if exchange["status"] == 200:
            by_endpoint[name] += answer_mismatches(exchange["body"])
        else:  # e.g. the catalog sync asking for a product that does not exist yet
            by_endpoint[name] += error_mismatches(exchange["body"])
    assert set(by_endpoint) == SEAM_ENDPOINTS
    events = sim.events()
    for event in events:
        thin = event["object"] == "v2.core.event"  # a v2 event's webhook: a thin notification
        by_endpoint[f"event {event['type']}"] += event_mismatches(event, notification=thin)
    assert {e["type"] for e in events} >= {
        "checkout.session.completed", "customer.subscription.created",
        "customer.subscription.updated", "customer.subscription.deleted", "invoice.created",
        "invoice.finalized", "invoice.paid", "invoice.payment_failed",
        "customer.subscription.trial_will_end", "subscription_schedule.created",
        "subscription_schedule.updated", "subscription_schedule.released",
        "v1.billing.meter.error_report_triggered", "payment_intent.succeeded",
        "payment_intent.payment_failed",
    }  # fmt: skip
    report = {name: sorted(set(found)) for name, found in sorted(by_endpoint.items()) if found}
    assert report == {}, "\n".join(
        f"{name} ({len(found)}):\n  " + "\n  ".join(found[:40]) for name, found in report.items()
    )
