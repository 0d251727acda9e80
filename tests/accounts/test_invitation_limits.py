"""Invitation emails are limited per account (an hour) and per recipient (a day, from every
account together), atomically in Redis, with a clear message when a limit is reached."""

from __future__ import annotations

import threading

import pytest
from django.core import mail

from accounts.models import Account, Invitation
from portal import throttle
from portal.throttle import Limit

pytestmark = pytest.mark.django_db


def invite(client, team, email, role="developer"):
    return client.post(f"/a/{team.slug}/members/invite/", {"email": email, "role": role})


def test_an_account_sends_only_so_many_an_hour(
    client, alice, team, settings, django_capture_on_commit_callbacks
):
    settings.INVITATIONS_PER_ACCOUNT_PER_HOUR = 3
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        statuses = [invite(client, team, f"p{n}@example.com").status_code for n in range(5)]
        refused = invite(client, team, "late@example.com")
    assert statuses == [302, 302, 302, 400, 400]
    assert "Alice&#x27;s team has sent 3 invitations in the last hour" in refused.content.decode()
    assert len(mail.outbox) == 3
    assert Invitation.objects.filter(account=team).count() == 3


def test_another_account_is_not_held_back(client, alice, team, settings):
    settings.INVITATIONS_PER_ACCOUNT_PER_HOUR = 1
    other = Account.objects.create_with_owner("Other", alice)
    client.force_login(alice)
    assert invite(client, team, "a@example.com").status_code == 302
    assert invite(client, other, "b@example.com").status_code == 302


def test_one_address_receives_only_so_many_a_day_from_every_account(
    client, alice, team, settings, user_factory
):
    settings.INVITATIONS_PER_RECIPIENT_PER_DAY = 2
    other_owner = user_factory("olga@example.com")
    other = Account.objects.create_with_owner("Olga's team", other_owner)
    client.force_login(alice)
    assert invite(client, team, "dana@example.com").status_code == 302
    assert invite(client, team, "Dana@Example.com", role="billing").status_code == 302
    client.force_login(other_owner)
    refused = invite(client, other, "dana@example.com")
    assert refused.status_code == 400
    assert "dana@example.com has received as many invitations as an address may today" in (
        refused.content.decode()
    )
    assert not other.invitations.exists()
    assert invite(client, other, "erin@example.com").status_code == 302


def test_a_refused_invitation_costs_nothing(client, alice, team, settings):
    """Refused by the recipient's limit, it does not use up the account's allowance."""
    settings.INVITATIONS_PER_ACCOUNT_PER_HOUR = 2
    settings.INVITATIONS_PER_RECIPIENT_PER_DAY = 1
    client.force_login(alice)
    assert invite(client, team, "dana@example.com").status_code == 302
    assert invite(client, team, "dana@example.com").status_code == 400
    assert invite(client, team, "erin@example.com").status_code == 302


def test_the_counters_are_atomic_under_concurrency():
    """40 threads take one limit of 15 at once: exactly 15 are allowed."""
    limit = Limit("test:concurrency", 15, 60)
    results = []
    barrier = threading.Barrier(40)

    def take():
        barrier.wait()
        results.append(throttle.take(limit) is None)

    threads = [threading.Thread(target=take) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 15


QUOTED_SPELLINGS = ['"victim"@example.com', '"\\victim"@example.com', '"v\\ictim"@example.com',
                    '"vic\\tim"@example.com']  # fmt: skip


def test_another_spelling_of_an_address_meets_its_limit(
    client, alice, team, settings, django_capture_on_commit_callbacks
):
    """SMTP delivers every one of these to victim@example.com: none may start a count of its own."""
    settings.INVITATIONS_PER_RECIPIENT_PER_DAY = 3
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        statuses = [invite(client, team, "victim@example.com").status_code for _ in range(3)]
        assert statuses == [302, 302, 302]
        for spelling in QUOTED_SPELLINGS:
            refused = invite(client, team, spelling)
            assert refused.status_code == 400
            assert "without quotation marks or backslashes" in refused.content.decode()
        for spelling in ["VICTIM@example.com", "victim@EXAMPLE.com", "victim@\uff45xample.com"]:
            refused = invite(client, team, spelling)
            assert refused.status_code == 400
            assert "victim@example.com has received as many invitations" in (
                refused.content.decode()
            )
    assert [message.to for message in mail.outbox] == [["victim@example.com"]] * 3
    assert set(Invitation.objects.values_list("email", flat=True)) == {"victim@example.com"}
