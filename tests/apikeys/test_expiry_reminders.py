from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from accounts.models import Membership
from accounts.roles import Role
from apikeys.reminders import send_expiry_reminders
from apikeys.tasks import send_expiry_reminders as reminder_task

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 5, 10, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def test_it_emails_owners_and_the_creator_seven_days_ahead_once(clock, issue_key, bob, team, alice):
    key, _ = issue_key(name="Nightly job", created_by=bob, expires_at=NOW + timedelta(days=7))
    assert reminder_task.delay().get() == 1
    [message] = mail.outbox
    assert sorted(message.to) == ["alice@example.com", "bob@example.com"]
    assert "Nightly job" in message.subject and "2026-05-17" in message.subject
    assert f"/a/{team.slug}/keys/" in message.body
    assert message.alternatives[0][1] == "text/html"
    key.refresh_from_db()
    assert key.expiry_reminder_sent_at == NOW

    clock.shift(timedelta(days=1))
    assert send_expiry_reminders() == 0
    assert len(mail.outbox) == 1


def test_it_waits_until_seven_days_before(clock, issue_key):
    issue_key(expires_at=NOW + timedelta(days=7, minutes=1))
    assert send_expiry_reminders() == 0
    clock.shift(timedelta(minutes=1))
    assert send_expiry_reminders() == 1


def test_it_skips_revoked_rotated_and_unexpiring_keys(clock, issue_key, alice):
    revoked, _ = issue_key(expires_at=NOW + timedelta(days=2))
    revoked.revoke()
    issue_key(name="forever")
    assert send_expiry_reminders() == 0
    rotated, _ = issue_key(expires_at=NOW + timedelta(days=2))
    successor, _ = rotated.rotate(timedelta(hours=1), actor=alice)
    assert send_expiry_reminders() == 1  # the successor (same expiry), not the retiring key
    assert "Server" in mail.outbox[0].subject
    successor.refresh_from_db()
    rotated.refresh_from_db()
    assert successor.expiry_reminder_sent_at is not None
    assert rotated.expiry_reminder_sent_at is None


def test_it_sends_each_person_one_email_even_with_two_roles(clock, issue_key, team, alice):
    issue_key(created_by=alice, expires_at=NOW + timedelta(days=3))
    co_owner = type(alice).objects.create_user("dora@example.com", "pw")
    Membership.objects.create(account=team, user=co_owner, role=Role.OWNER)
    send_expiry_reminders()
    assert sorted(mail.outbox[0].to) == ["alice@example.com", "dora@example.com"]


def test_it_is_on_the_daily_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["apikeys.send_expiry_reminders"]
    assert entry["task"] == reminder_task.name
    assert entry["schedule"] == 24 * 3600
