"""Meter events Stripe accepts but cannot bill come back later, and reach the operator."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from billing import metering
from billing.models import Customer, MeterErrorReport, MeterReport, StripeEvent
from tests.billing.conftest import run_and_deliver, signed_post, subscribe


def test_a_wrongly_mapped_customer_is_reported_to_the_operator(
    client, plans, team, alice, user_factory, sim, caplog
):
    subscribe(sim, client, team, plans["starter"], alice)
    team.refresh_from_db()
    # The account's Stripe customer id is wrong: Stripe still accepts the meter event.
    Customer.objects.filter(account=team).update(stripe_id="cus_wrongly_mapped")
    now = datetime.now(UTC)
    assert metering.report_overage(team, now, "b1", 250, now) is True
    assert MeterReport.objects.filter(account=team).count() == 1
    with caplog.at_level(logging.ERROR, logger="billing.flows"):
        run_and_deliver(sim, client, lambda: sim.control("meter_errors/report"))
    event = StripeEvent.objects.get(type="v1.billing.meter.error_report_triggered")
    assert event.status == "applied"
    report = MeterErrorReport.objects.get()
    assert report.error_count == 1 and report.event_id == event.id
    [kind] = report.errors
    assert kind["code"] == "meter_event_customer_not_found"
    assert kind["samples"][0]["account_id"] == str(team.id)
    assert "Stripe could not bill 1 meter event(s)" in caplog.text
    staff = user_factory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    page = client.get("/staff/usage/").content.decode()
    assert 'id="meter-errors"' in page and "meter_event_customer_not_found (1)" in page
    admin = client.get("/admin/billing/metererrorreport/").content.decode()
    assert "1 meter event(s) could not be billed" in admin
    # A redelivery of the notification records nothing twice.
    run_and_deliver(sim, client, lambda: None)
    assert MeterErrorReport.objects.count() == 1


def test_a_thin_event_without_a_related_object_is_recorded_not_a_500(client, db, sim):
    notice = {"id": "evt_thin_1", "object": "v2.core.event", "related_object": None,
              "type": "v1.billing.meter.no_meter_found",
              "created": "2026-11-28T10:00:00.000Z"}  # fmt: skip
    assert signed_post(client, notice).status_code == 200
    event = StripeEvent.objects.get(pk="evt_thin_1")
    assert (event.object_id, event.status) == ("", "ignored")
    unsigned = {"id": "evt_thin_2", "object": "v2.core.event", "type": "x"}
    assert signed_post(client, unsigned).status_code == 400  # no related_object key
