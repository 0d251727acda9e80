"""FREE_ACCOUNTS_PER_OWNER holds however a person comes to own a free account: created, handed
over (transfer), given the role, or joined through an owner invitation. Otherwise one person
creates free teams, hands each to another mailbox and keeps running them all as an admin."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from unittest import mock

import pytest
from allauth.account.models import EmailAddress
from django.db import connection
from django.test import Client

from accounts import models as account_models
from accounts.models import Account, Invitation, Membership, MembershipError
from accounts.roles import Role
from catalog.models import Plan

pytestmark = pytest.mark.django_db

FULL = "already owns 2 accounts on the free plan, as many as one person may"


def verified(user):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def owning_two_free(person):
    """`person` with their personal account and one free team: as many as they may own."""
    Account.objects.create_team(f"{person.email}'s own team", person)
    assert Account.objects.free_owned_by(person).count() == 2
    return person


def paid_plan():
    return Plan.objects.create(slug="pro", name="Pro", monthly_price=Decimal("29.00"))


def membership(team, user):
    return Membership.objects.get(account=team, user=user)


def transfer(client, team, to):
    return client.post(f"/a/{team.slug}/transfer/", {"member": membership(team, to).pk})


def make_owner(client, team, user):
    return client.post(
        f"/a/{team.slug}/members/{membership(team, user).pk}/role/", {"role": "owner"}
    )


def test_a_transfer_to_someone_owning_as_many_free_accounts_is_refused(client, alice, bob, team):
    owning_two_free(bob)
    client.force_login(alice)
    response = transfer(client, team, bob)
    assert response.status_code == 302
    page = client.get(response.url).content.decode()
    assert f"bob@example.com {FULL}" in page
    assert "Choose a paid plan for Alice&#x27;s team first, or transfer it to someone else" in page
    assert list(team.owners()) == [alice]
    assert membership(team, alice).role == Role.OWNER
    assert not team.audit_events.filter(action="account.ownership_transferred").exists()
    assert Account.objects.free_owned_by(bob).count() == 2


def test_handing_free_teams_to_one_mailbox_stops_at_the_limit(client, alice, user_factory):
    """The probe's attack: create a free team, invite the other mailbox, transfer, repeat."""
    mailbox = verified(user_factory("mailbox@example.com"))
    other = Client()
    other.force_login(mailbox)
    client.force_login(alice)
    owners = []
    for n in range(2):
        assert client.post("/teams/new/", {"name": f"Free {n}"}).status_code == 302
        team = Account.objects.get(name=f"Free {n}")
        client.post(
            f"/a/{team.slug}/members/invite/", {"email": mailbox.email, "role": "developer"}
        )
        token = Invitation.objects.filter(account=team).latest("id").token()
        assert other.post(f"/invitations/{token}/accept/").status_code == 302
        transfer(client, team, mailbox)
        owners.append(team.owners().get().email)
    assert owners == ["mailbox@example.com", "alice@example.com"]
    assert Account.objects.free_owned_by(mailbox).count() == 2
    # Alice keeps her second team, so she is at the limit herself: no third one.
    assert client.post("/teams/new/", {"name": "Free 2"}).status_code == 400


def test_making_someone_at_the_limit_an_owner_is_refused(client, alice, bob, team):
    owning_two_free(bob)
    client.force_login(alice)
    response = make_owner(client, team, bob)
    page = client.get(response.url).content.decode()
    assert f"bob@example.com {FULL}, so they cannot become an owner of Alice&#x27;s team" in page
    assert membership(team, bob).role == Role.DEVELOPER
    assert not team.audit_events.filter(action="member.role_changed").exists()


@pytest.fixture
def owner_invitation(team, alice):
    return Invitation.objects.create(
        account=team, email="dana@example.com", role=Role.OWNER, invited_by=alice
    )


@pytest.fixture
def dana(user_factory):
    return verified(user_factory("dana@example.com"))


def accept(client, invitation):
    return client.post(f"/invitations/{invitation.token()}/accept/")


def test_accepting_an_owner_invitation_at_the_limit_is_refused_and_it_stays_good(
    client, dana, owner_invitation, team
):
    owning_two_free(dana)
    client.force_login(dana)
    response = accept(client, owner_invitation)
    assert response.status_code == 409
    page = response.content.decode()
    assert "You already own 2 accounts on the free plan" in page
    assert "cannot join Alice&#x27;s team as an owner" in page
    assert not Membership.objects.filter(account=team, user=dana).exists()
    owner_invitation.refresh_from_db()
    assert owner_invitation.accepted_at is None
    # Dana makes room by paying for her own team; the same link now works.
    Account.objects.filter(name="dana@example.com's own team").update(plan=paid_plan())
    assert accept(client, owner_invitation).status_code == 302
    assert membership(team, dana).role == Role.OWNER


def test_an_invitation_with_another_role_is_not_counted(client, dana, team, alice):
    owning_two_free(dana)
    invitation = Invitation.objects.create(
        account=team, email=dana.email, role=Role.ADMIN, invited_by=alice
    )
    client.force_login(dana)
    assert accept(client, invitation).status_code == 302
    assert membership(team, dana).role == Role.ADMIN


def test_paid_accounts_change_hands_as_before(client, alice, bob, dana, team, owner_invitation):
    """A paid account adds nothing to anyone's free count: every way to own it stays open."""
    Account.objects.filter(pk=team.pk).update(plan=paid_plan())
    for person in (bob, dana):
        owning_two_free(person)
    client.force_login(dana)
    assert accept(client, owner_invitation).status_code == 302
    client.force_login(alice)
    make_owner(client, team, dana)
    assert transfer(client, team, bob).status_code == 302
    assert set(team.owners()) == {bob, dana}


def test_a_transfer_to_someone_already_owning_it_adds_nothing(client, alice, bob, team):
    owning_two_free(bob)
    Account.objects.filter(name="bob@example.com's own team").update(plan=paid_plan())
    client.force_login(alice)
    make_owner(client, team, bob)  # bob: personal + team = 2, as many as he may
    assert Account.objects.free_owned_by(bob).count() == 2
    assert transfer(client, team, bob).status_code == 302
    assert team.audit_events.filter(action="account.ownership_transferred").exists()


def test_the_limit_is_the_setting(client, alice, bob, team, settings):
    owning_two_free(bob)
    settings.FREE_ACCOUNTS_PER_OWNER = 3
    client.force_login(alice)
    transfer(client, team, bob)
    assert list(team.owners()) == [bob]


def test_staff_still_set_owners_in_the_admin(client, user_factory, alice, bob, team):
    """The limit binds what members do; the provider's staff may still make anyone an owner."""
    owning_two_free(bob)
    client.force_login(user_factory(is_staff=True, is_superuser=True))
    members = list(team.memberships.order_by("pk"))
    form = {
        "name": team.name,
        "slug": team.slug,
        "memberships-TOTAL_FORMS": str(len(members)),
        "memberships-INITIAL_FORMS": str(len(members)),
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for n, member in enumerate(members):
        form |= {
            f"memberships-{n}-id": str(member.pk),
            f"memberships-{n}-account": str(team.pk),
            f"memberships-{n}-user": str(member.user_id),
            f"memberships-{n}-role": "owner",
        }
    response = client.post(f"/admin/accounts/account/{team.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert set(team.owners()) == {alice, bob}


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="needs a database whose writers wait for locks"
)
def test_two_transfers_to_one_person_at_once_cannot_both_pass(alice, charlie, user_factory):
    """Each transfer counts, pauses, then writes: without the person's row locked, both would
    count 1 free account and pass."""
    taker = user_factory("taker@example.com")  # owns their personal account: room for one more
    teams = [Account.objects.create_team(f"{giver.email}'s", giver) for giver in (alice, charlie)]
    for team in teams:
        team.memberships.create(user=taker, role=Role.DEVELOPER)
    original = account_models.has_room_to_own
    outcomes = []
    barrier = threading.Barrier(2)

    def slow_count(*args, **kwargs):
        answer = original(*args, **kwargs)
        time.sleep(0.3)
        return answer

    def run(team):
        barrier.wait()
        try:
            team.transfer_ownership(by=team.memberships.owners().get(), to=membership(team, taker))
            outcomes.append("ok")
        except MembershipError:
            outcomes.append("refused")
        finally:
            connection.close()

    with mock.patch.object(account_models, "has_room_to_own", slow_count):
        threads = [threading.Thread(target=run, args=(team,)) for team in teams]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert sorted(outcomes) == ["ok", "refused"]
    assert Account.objects.free_owned_by(taker).count() == 2
