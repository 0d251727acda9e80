"""One person owns at most FREE_ACCOUNTS_PER_OWNER accounts on the free plan (their personal
account included): each new account starts free with its own quota."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection

from accounts.models import Account, AccountManager, MembershipError
from catalog.models import Plan

LIMIT_MESSAGE = "You already own 2 accounts on the free plan"


def create(client, name):
    return client.post("/teams/new/", {"name": name})


@pytest.mark.django_db
def test_the_third_free_account_is_refused_with_a_clear_message(client, charlie):
    client.force_login(charlie)
    assert create(client, "First team").status_code == 302  # with the personal one: 2
    response = create(client, "Second team")
    assert response.status_code == 400
    assert LIMIT_MESSAGE in response.content.decode()
    assert Account.objects.free_owned_by(charlie).count() == 2


@pytest.mark.django_db
def test_the_limit_is_a_setting(client, charlie, settings):
    settings.FREE_ACCOUNTS_PER_OWNER = 3
    client.force_login(charlie)
    assert [create(client, f"Team {n}").status_code for n in range(3)] == [302, 302, 400]


@pytest.mark.django_db
def test_paid_closed_and_others_accounts_do_not_count(client, charlie, alice, team):
    paid = Plan.objects.create(slug="pro", name="Pro", monthly_price=Decimal("29.00"))
    client.force_login(charlie)
    assert create(client, "Paying team").status_code == 302
    Account.objects.filter(name="Paying team").update(plan=paid)
    assert create(client, "Short-lived team").status_code == 302
    Account.objects.filter(name="Short-lived team").update(closed_at="2026-01-01T00:00Z")
    team.memberships.create(user=charlie, role="admin")  # Alice's, not owned by Charlie
    assert create(client, "Free team").status_code == 302
    assert create(client, "One too many").status_code == 400


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="needs a database whose writers wait for locks"
)
def test_two_creates_at_once_cannot_both_pass(charlie):
    """Each create counts, pauses, then writes: without a lock both would count 1 and pass."""
    original = AccountManager.create_with_owner
    outcomes = []
    barrier = threading.Barrier(2)

    def slow_create(self, *args, **kwargs):
        time.sleep(0.3)
        return original(self, *args, **kwargs)

    def run(name):
        barrier.wait()
        try:
            Account.objects.create_team(name, charlie)
            outcomes.append("ok")
        except MembershipError:
            outcomes.append("refused")
        finally:
            connection.close()

    with mock.patch.object(AccountManager, "create_with_owner", slow_create):
        threads = [threading.Thread(target=run, args=(f"Team {n}",)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert sorted(outcomes) == ["ok", "refused"]
    assert Account.objects.free_owned_by(charlie).count() == 2
