"""Failing receivers get retries with backoff; one that never recovers is disabled, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import Membership
from accounts.roles import Role
from apikeys.models import ApiKey
from tests.webhooks.helpers import signed_events
from webhooks import delivery, endpoints
from webhooks.delivery import RETRY_DELAYS
from webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def endpoint(team, alice, receiver):
    return endpoints.create(team, alice, None, url=receiver.url(), event_types=["key.created"])


def run_due(now) -> list[str]:
    return [delivery.attempt(pk, now) for pk in delivery.due_ids(now)]


def test_a_receiver_that_fails_then_recovers_gets_the_retries(endpoint, receiver, team, alice):
    answers = iter([500, 503, 200])
    receiver.respond = lambda received: next(answers)
    ApiKey.objects.issue(team, name="k", created_by=alice)  # first attempt: 500
    sent = Delivery.objects.get()
    assert sent.status == "pending" and sent.attempts == 1
    start = sent.last_attempt_at

    assert run_due(start + RETRY_DELAYS[0] - timedelta(seconds=1)) == []  # not yet
    assert run_due(start + RETRY_DELAYS[0]) == ["pending (503)"]
    later = start + RETRY_DELAYS[0] + RETRY_DELAYS[1]
    assert run_due(later) == ["succeeded (200)"]
    assert run_due(later + timedelta(days=3)) == []  # done: nothing more

    events = [r for r in receiver.requests]
    assert len(events) == 3
    assert len({r.headers["tollgate-event-id"] for r in events}) == 1  # one event, for dedupe
    assert len({r.body for r in events}) == 1  # the same bytes each time
    sent.refresh_from_db()
    assert (sent.status, sent.attempts, sent.response_status) == ("succeeded", 3, 200)


def test_an_endpoint_failing_for_three_days_is_disabled_and_its_owners_told(
    endpoint, receiver, team, alice, user_factory
):
    admin = user_factory("admin@example.com")
    Membership.objects.create(account=team, user=admin, role=Role.ADMIN)
    receiver.respond = lambda received: 500
    ApiKey.objects.issue(team, name="k", created_by=alice)
    now = Delivery.objects.get().last_attempt_at
    for wait in RETRY_DELAYS:
        now += wait
        run_due(now)
    sent = Delivery.objects.get()
    assert sent.status == "failed" and sent.attempts == len(RETRY_DELAYS) + 1
    assert timedelta(days=2) < now - sent.event.created_at <= timedelta(days=3)
    endpoint.refresh_from_db()
    assert not endpoint.is_enabled
    [email] = mail.outbox
    assert sorted(email.to) == ["admin@example.com", "alice@example.com"]
    assert endpoint.url in email.body

    ApiKey.objects.issue(team, name="k2", created_by=alice)  # disabled: nothing queued
    assert Delivery.objects.count() == 1


def test_resend_sends_a_delivered_event_again_with_the_same_id(endpoint, receiver, team, alice):
    ApiKey.objects.issue(team, name="k", created_by=alice)
    delivery.resend(Delivery.objects.get())
    [first, second] = signed_events(receiver, endpoint.secret)
    assert first["id"] == second["id"]
    assert Delivery.objects.get().attempts == 2


def test_a_rolled_secret_signs_beside_the_old_one_for_a_day(endpoint, receiver, team, alice):
    old = endpoint.secret
    new = endpoint.roll_secret()
    delivery.send_test(endpoint)
    assert signed_events(receiver, old) and signed_events(receiver, new)
    Endpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    delivery.send_test(endpoint)
    header = receiver.requests[-1].headers["tollgate-signature"]
    assert header.count("v1=") == 1


def test_a_claimed_delivery_is_not_sent_twice(endpoint, receiver, team, alice):
    """Two workers given the same delivery (a redelivered task): one sends it."""
    receiver.respond = lambda received: 500
    ApiKey.objects.issue(team, name="k", created_by=alice)
    sent = Delivery.objects.get()
    due = sent.last_attempt_at + RETRY_DELAYS[0]
    Delivery.objects.filter(pk=sent.pk).update(lease_until=due + timedelta(seconds=30))
    assert delivery.attempt(sent.pk, due) == "not due"
    assert len(receiver.requests) == 1
