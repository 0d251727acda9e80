from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from accounts.models import Invitation, Membership, User
from accounts.roles import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def invitation(team, alice):
    return Invitation.objects.create(
        account=team, email="dana@example.com", role=Role.BILLING, invited_by=alice
    )


@pytest.fixture
def dana(user_factory):
    """The invited person, who has verified the invited address."""
    from allauth.account.models import EmailAddress

    user = user_factory("dana@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def path(invitation):
    return f"/invitations/{invitation.token()}/"


def test_it_works_signed_in(client, dana, invitation, team):
    client.force_login(dana)
    page = client.get(path(invitation)).content.decode()
    assert "Accept and join" in page and "Alice&#x27;s team" in page
    response = client.post(path(invitation) + "accept/")
    assert response.status_code == 302 and response.url == f"/a/{team.slug}/"
    assert Membership.objects.get(account=team, user=dana).role == Role.BILLING
    event = team.audit_events.get(action="member.joined")
    assert (event.actor, event.target, event.data["role"]) == (dana, "dana@example.com", "billing")


def test_it_is_used_once(client, dana, invitation, team):
    client.force_login(dana)
    client.post(path(invitation) + "accept/")
    again = client.post(path(invitation) + "accept/")
    assert again.status_code == 410
    assert "already been used" in again.content.decode()
    assert client.get(path(invitation)).status_code == 410
    assert team.audit_events.filter(action="member.joined").count() == 1


def test_it_expires_after_seven_days(client, dana, invitation, team):
    client.force_login(dana)
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        response = client.post(path(invitation) + "accept/")
        assert response.status_code == 410
        assert "expired" in response.content.decode()
        assert not team.invitations.pending().exists()
    assert not Membership.objects.filter(account=team, user=dana).exists()


def test_it_still_works_on_the_sixth_day(client, dana, invitation, team):
    client.force_login(dana)
    with time_machine.travel(timezone.now() + timedelta(days=6)):
        assert client.post(path(invitation) + "accept/").status_code == 302
    assert Membership.objects.filter(account=team, user=dana).exists()


def test_a_revoked_invitation_is_refused(client, dana, invitation, alice):
    invitation.revoke(alice)
    client.force_login(dana)
    response = client.post(path(invitation) + "accept/")
    assert response.status_code == 410
    assert "withdrawn" in response.content.decode()


def test_a_forged_link_404s(client, dana, invitation):
    client.force_login(dana)
    response = client.get(f"/invitations/{invitation.pk}:forged/")
    assert response.status_code == 404
    assert "not valid" in response.content.decode()
    assert client.post(f"/invitations/{invitation.pk}:forged/accept/").status_code == 404


def test_someone_else_cannot_use_it(client, charlie, invitation, team):
    client.force_login(charlie)
    assert "signed in as charlie@example.com" in client.get(path(invitation)).content.decode()
    response = client.post(path(invitation) + "accept/")
    assert response.status_code == 403
    assert "sent to dana@example.com" in response.content.decode()
    assert not Membership.objects.filter(account=team, user=charlie).exists()
    assert Invitation.objects.get(pk=invitation.pk).accepted_at is None


def test_it_refuses_get_on_accept(client, dana, invitation):
    client.force_login(dana)
    assert client.get(path(invitation) + "accept/").status_code == 405


def test_it_works_after_signing_up_and_verifying(client, invitation, team):
    link = path(invitation)
    page = client.get(link).content.decode()
    assert "Sign up" in page
    password = "a-long-Passphrase-9"
    response = client.post(
        "/accounts/signup/",
        {"email": "dana@example.com", "password1": password, "password2": password},
    )
    assert response.status_code == 302
    dana = User.objects.get(email="dana@example.com")
    assert not Membership.objects.filter(account=team, user=dana).exists()
    [message] = [m for m in mail.outbox if "dana@example.com" in m.to]
    confirm_url = re.search(r"https?://\S+/accounts/confirm-email/\S+/", message.body).group(0)
    confirm_path = "/" + confirm_url.split("/", 3)[3]
    response = client.post(confirm_path)
    assert response.status_code == 302
    assert response.url == link
    response = client.post(link + "accept/")
    assert response.status_code == 302
    assert Membership.objects.get(account=team, user=dana).role == Role.BILLING


def test_it_works_after_logging_in(client, dana, invitation, team):
    link = path(invitation)  # each call signs anew, with the current second in the token
    client.get(link)
    response = client.post(
        "/accounts/login/", {"login": "dana@example.com", "password": "password"}
    )
    assert response.status_code == 302 and response.url == link
    assert client.post(link + "accept/").status_code == 302
    assert Membership.objects.filter(account=team, user=dana).exists()
