from __future__ import annotations

import time
from datetime import UTC, datetime
from unittest.mock import Mock

import pytest

from billing import gateway, metering
from billing.models import MeterReport
from tests.billing.conftest import subscribe
from usage.models import OverageToReport
from usage.overage import send_pending


def upcoming_overage_calls(team) -> int:
    sub = team.subscriptions.get()
    preview = gateway.preview_invoice(team.billing_customer.stripe_id, sub.stripe_id)
    return sum(
        line["quantity"]
        for line in preview["lines"]["data"]
        if line["pricing"]["price_details"]["price"] == team.plan.stripe_overage_price_id
    )


def test_it_reports_a_batch_once_with_a_deterministic_identifier(client, plans, team, alice, sim):
    subscribe(sim, client, team, plans["starter"], alice)
    team.refresh_from_db()
    period = datetime(2026, 11, 1, tzinfo=UTC)
    assert metering.report_overage(team, period, "b1", 1500, datetime.now(UTC)) is True
    assert metering.report_overage(team, period, "b1", 1500, datetime.now(UTC)) is False
    report = MeterReport.objects.get()
    assert report.identifier == f"{team.id}:20261101:b1"
    assert upcoming_overage_calls(team) == 1500


def test_it_never_bills_twice_when_it_crashes_between_sending_and_recording(
    client, plans, team, alice, sim, monkeypatch
):
    subscribe(sim, client, team, plans["starter"], alice)
    team.refresh_from_db()
    period = datetime(2026, 11, 1, tzinfo=UTC)
    used_at = datetime.now(UTC)
    real_create = MeterReport.objects.create

    def crash(**kwargs):
        raise RuntimeError("process died after sending")

    monkeypatch.setattr(MeterReport.objects, "create", crash)
    with pytest.raises(RuntimeError):
        metering.report_overage(team, period, "b2", 700, used_at)
    monkeypatch.setattr(MeterReport.objects, "create", real_create)
    assert (
        metering.report_overage(team, period, "b2", 700, used_at) is True
    )  # the retry resends the same identifier
    assert MeterReport.objects.count() == 1
    assert upcoming_overage_calls(team) == 700


def test_it_bills_nothing_for_an_account_that_never_subscribed(team, db, sim):
    assert (
        metering.report_overage(
            team, datetime(2026, 11, 1, tzinfo=UTC), "b3", 10, datetime.now(UTC)
        )
        is False
    )
    assert not MeterReport.objects.exists()


def test_a_retry_of_a_queued_batch_resends_the_same_parameters(
    client, plans, team, alice, sim, monkeypatch
):
    """The outbox row fixes the meter event's timestamp: a retry a second later sends the same
    parameters, which Stripe replays, instead of new ones it refuses (idempotency_error)."""
    subscribe(sim, client, team, plans["starter"], alice)
    team.refresh_from_db()
    sub = team.subscriptions.get()
    used_at = datetime.now(UTC)
    OverageToReport.objects.create(
        batch_id="b4", account=team, period_start=sub.current_period_start, quantity=300,
        used_at=used_at,
    )  # fmt: skip
    real_create = MeterReport.objects.create
    monkeypatch.setattr(MeterReport.objects, "create", Mock(side_effect=RuntimeError("died")))
    with pytest.raises(RuntimeError):
        send_pending()
    monkeypatch.setattr(MeterReport.objects, "create", real_create)
    time.sleep(1.1)  # the retry comes in a later second than the first attempt
    assert send_pending() == 1
    [event] = [e for e in sim.meter_events() if e["identifier"].endswith(":b4")]
    assert event["timestamp"] == int(used_at.timestamp())
    assert upcoming_overage_calls(team) == 300


def test_an_idempotency_error_is_recorded_as_sent_not_retried_as_an_outage(
    client, plans, team, alice, sim, caplog
):
    subscribe(sim, client, team, plans["starter"], alice)
    team.refresh_from_db()
    period = datetime(2026, 11, 1, tzinfo=UTC)
    identifier = metering.meter_identifier(team, period, "b5")
    # An earlier release sent this batch with another timestamp, under the same key.
    other = int(datetime.now(UTC).timestamp()) + 60
    gateway.create_meter_event(
        "tollgate_api_calls", team.billing_customer.stripe_id, 400, identifier, other
    )
    assert metering.report_overage(team, period, "b5", 400, datetime.now(UTC)) is True
    assert MeterReport.objects.filter(identifier=identifier).exists()
    assert "sent before with other parameters" in caplog.text
    assert upcoming_overage_calls(team) == 400  # billed once


def test_a_resend_stripe_refuses_as_a_duplicate_is_recorded_as_sent(
    client, plans, team, alice, sim
):
    """Past its idempotency key's 24 hours, Stripe answers a meter event resent under the same
    identifier with a 400 naming it: that batch was billed, so it is recorded, not retried."""
    subscribe(sim, client, team, plans["starter"], alice)
    team.refresh_from_db()
    period = datetime(2026, 11, 1, tzinfo=UTC)
    identifier = metering.meter_identifier(team, period, "b6")
    sent = int(datetime.now(UTC).timestamp())
    gateway.create_meter_event(
        "tollgate_api_calls", team.billing_customer.stripe_id, 300, identifier, sent
    )
    sim.app.store.idempotent.clear()  # a day later: Stripe has forgotten the key
    assert metering.report_overage(team, period, "b6", 300, datetime.now(UTC)) is True
    assert MeterReport.objects.filter(identifier=identifier).exists()
    assert upcoming_overage_calls(team) == 300  # billed once
