from __future__ import annotations

import time

from billing.models import EventStatus, StripeEvent, Subscription
from tests.billing.conftest import signed_post, subscribe


def _event(event_id="evt_1", event_type="customer.created"):
    return {"id": event_id, "object": "event", "type": event_type, "created": int(time.time()),
            "data": {"object": {"id": "cus_1", "object": "customer"}}}  # fmt: skip


def test_it_stores_a_verified_event_once_and_answers_2xx_to_every_delivery(client, db, sim):
    first = signed_post(client, _event())
    second = signed_post(client, _event())
    assert first.status_code == 200 and second.status_code == 200
    assert second.json()["duplicate"] is True
    event = StripeEvent.objects.get()
    assert (event.id, event.type, event.status) == (
        "evt_1",
        "customer.created",
        EventStatus.IGNORED,
    )


def test_it_rejects_a_tampered_payload_without_writing(client, db, sim):
    import json

    from stripe_simulator.webhooks import signature_header
    from tests.billing.conftest import WEBHOOK_SECRET

    payload = json.dumps(_event()).encode()
    header = signature_header(payload, WEBHOOK_SECRET)
    tampered = payload.replace(b"customer.created", b"invoice.paid")
    response = client.post("/billing/webhook", data=tampered, content_type="application/json",
                           headers={"Stripe-Signature": header})  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_signature"
    assert not StripeEvent.objects.exists()


def test_it_rejects_a_wrong_secret(client, db, sim):
    response = signed_post(client, _event(), secret="whsec_wrong")
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_it_rejects_a_stale_signature(client, db, sim):
    response = signed_post(client, _event(), timestamp=int(time.time()) - 301)
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_it_rejects_a_missing_signature_and_garbage(client, db, sim):
    assert (
        client.post("/billing/webhook", data=b"{}", content_type="application/json").status_code
        == 400
    )
    assert (
        client.post("/billing/webhook", data=b"not json", content_type="text/plain").status_code
        == 400
    )
    assert not StripeEvent.objects.exists()


def test_it_refuses_get(client, db):
    assert client.get("/billing/webhook").status_code == 405


def test_it_applies_events_by_refetching_from_stripe(client, plans, team, alice, sim):
    sub_id = subscribe(sim, client, team, plans["starter"], alice)
    assert StripeEvent.objects.filter(status=EventStatus.APPLIED).count() == 5
    sub = Subscription.objects.get(stripe_id=sub_id)
    assert sub.status == "active" and sub.plan == plans["starter"]
    assert sub.checkout_session_id.startswith("cs_test_")


def test_it_records_a_failure_on_the_event_and_retries_it(
    client, plans, team, alice, sim, monkeypatch
):
    from billing import flows, tasks
    from portal.celery import app

    calls = {"n": 0}
    real = flows.sync_subscription

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("crashed mid-way")
        return real(*args, **kwargs)

    monkeypatch.setattr(flows, "sync_subscription", flaky)
    app.conf.task_eager_propagates = False  # retry eagerly, as a worker would
    start = len(sim.events())
    from billing import flows as f

    url = f.start_checkout(team, plans["starter"], alice, "http://t/s", "http://t/c")
    sim.pay_checkout(url)
    # The card is attached first (payment_method.attached, customer.updated), as in Stripe.
    created = next(e for e in sim.events()[start:] if e["type"] == "customer.subscription.created")
    signed_post(client, created)
    event = StripeEvent.objects.get(pk=created["id"])
    assert event.status == EventStatus.APPLIED and event.attempts == 2
    assert tasks.MAX_RETRIES >= 3
