from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing import gateway, metering
from billing.models import MeterReport
from tests.billing.conftest import subscribe


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
    assert metering.report_overage(team, period, "b1", 1500) is True
    assert metering.report_overage(team, period, "b1", 1500) is False
    report = MeterReport.objects.get()
    assert report.identifier == f"{team.id}:20261101:b1"
    assert upcoming_overage_calls(team) == 1500


def test_it_never_bills_twice_when_it_crashes_between_sending_and_recording(
    client, plans, team, alice, sim, monkeypatch
):
    subscribe(sim, client, team, plans["starter"], alice)
    team.refresh_from_db()
    period = datetime(2026, 11, 1, tzinfo=UTC)
    real_create = MeterReport.objects.create

    def crash(**kwargs):
        raise RuntimeError("process died after sending")

    monkeypatch.setattr(MeterReport.objects, "create", crash)
    with pytest.raises(RuntimeError):
        metering.report_overage(team, period, "b2", 700)
    monkeypatch.setattr(MeterReport.objects, "create", real_create)
    assert (
        metering.report_overage(team, period, "b2", 700) is True
    )  # the retry resends the same identifier
    assert MeterReport.objects.count() == 1
    assert upcoming_overage_calls(team) == 700


def test_it_bills_nothing_for_an_account_that_never_subscribed(team, db, sim):
    assert metering.report_overage(team, datetime(2026, 11, 1, tzinfo=UTC), "b3", 10) is False
    assert not MeterReport.objects.exists()
