"""Someone types another person's address into their own profile and never verifies it (they
cannot). That claim must never block the owner's sign-up, and never let the claimant accept an
invitation sent to the address."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail

from accounts.models import Invitation, Membership, User
from accounts.roles import Role

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-Passphrase-9"
DANA = "dana@example.com"


@pytest.fixture
def mallory(user_factory):
    """Signed up and verified with her own address; then added Dana's, unverified."""
    user = user_factory("mallory@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


@pytest.fixture
def squatted(client, mallory):
    client.force_login(mallory)
    response = client.post("/accounts/email/", {"email": DANA, "action_add": ""})
    assert response.status_code == 302
    client.logout()
    mail.outbox.clear()
    return EmailAddress.objects.get(user=mallory, email=DANA, verified=False)


@pytest.fixture
def invitation(team, alice):
    return Invitation.objects.create(account=team, email=DANA, role=Role.ADMIN, invited_by=alice)


def sign_up(client, email=DANA):
    return client.post(
        "/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD}
    )


def test_an_unverified_claim_gives_way_to_the_owners_sign_up(client, mallory, squatted):
    assert sign_up(client).status_code == 302
    dana = User.objects.get(email=DANA)
    assert not EmailAddress.objects.filter(user=mallory, email=DANA).exists()
    assert EmailAddress.objects.get(email=DANA).user == dana
    [message] = mail.outbox
    assert message.to == [DANA]
    confirm = re.search(r"https?://\S+(/accounts/confirm-email/\S+/)", message.body).group(1)
    assert client.post(confirm).status_code == 302
    assert EmailAddress.objects.get(user=dana, email=DANA).verified


def test_a_verified_address_still_belongs_to_its_account(client, user_factory):
    owner = user_factory(DANA)
    EmailAddress.objects.create(user=owner, email=DANA, verified=True, primary=True)
    assert sign_up(client).status_code == 302  # the same answer: no enumeration
    assert list(User.objects.filter(email__iexact=DANA)) == [owner]
    [message] = mail.outbox
    assert "already exists" in message.body


def test_the_claimant_cannot_accept_an_invitation_to_that_address(
    client, mallory, squatted, invitation, team
):
    client.force_login(mallory)
    link = f"/invitations/{invitation.token()}/"
    page = client.get(link).content.decode()
    assert "Accept and join" not in page
    assert "you have not verified it yet" in page
    response = client.post(link + "accept/")
    assert response.status_code == 403
    assert "which you have not verified yet" in response.content.decode()
    assert not Membership.objects.filter(account=team, user=mallory).exists()
    assert Invitation.objects.get(pk=invitation.pk).accepted_at is None


def test_an_unverified_primary_address_does_not_accept_either(
    client, user_factory, invitation, team
):
    """A person whose login address is the invited one, never confirmed (an admin-made user, or
    one who made an unconfirmed address primary while none of theirs was verified)."""
    unconfirmed = user_factory(DANA)
    EmailAddress.objects.create(user=unconfirmed, email=DANA, verified=False, primary=True)
    client.force_login(unconfirmed)
    response = client.post(f"/invitations/{invitation.token()}/accept/")
    assert response.status_code == 403
    assert not Membership.objects.filter(account=team, user=unconfirmed).exists()


def test_a_verified_secondary_address_accepts(client, mallory, invitation, team):
    EmailAddress.objects.create(user=mallory, email=DANA, verified=True, primary=False)
    client.force_login(mallory)
    assert client.post(f"/invitations/{invitation.token()}/accept/").status_code == 302
    assert Membership.objects.get(account=team, user=mallory).role == Role.ADMIN


def test_the_mail_to_a_claimed_address_names_the_claiming_account(client, mallory):
    """So that the owner of the address never confirms Mallory's claim thinking it is theirs."""
    client.force_login(mallory)
    client.post("/accounts/email/", {"email": DANA, "action_add": ""})
    [message] = mail.outbox
    assert message.to == [DANA]
    text = " ".join(message.body.split())
    assert "The Tollgate account mallory@example.com asks to add dana@example.com" in text
    assert "mallory@example.com asks to add" in message.alternatives[0][0]


def test_the_sign_up_mail_does_not_name_an_account(client, db):
    sign_up(client)
    [message] = mail.outbox
    assert "asks to add" not in message.body
