"""Every address a person types is kept in one spelling (accounts.addresses): the spellings mail
servers read as the same mailbox (quoted local parts, backslashes, case, full-width letters in
the domain) must not count as other addresses for uniqueness checks, limits or hashes."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.exceptions import ValidationError

from accounts.addresses import canonical_email
from accounts.models import Invitation, User

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-Passphrase-9"
NOT_PLAIN = "without quotation marks or backslashes"


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("dana@example.com", "dana@example.com"),
        ("  Dana.Lee+api@Example.COM ", "dana.lee+api@example.com"),
        ("dana@\uff45xample.com", "dana@example.com"),  # a full-width e: IDNA maps it to "e"
        ("dana@bücher.de", "dana@xn--bcher-kva.de"),  # the domain mail is sent to
    ],
)
def test_an_address_is_kept_in_the_spelling_mail_is_sent_to(typed, kept):
    assert canonical_email(typed) == kept


@pytest.mark.parametrize(
    "typed",
    [
        '"dana"@example.com',
        '"\\dana"@example.com',
        '"d\\ana"@example.com',
        '"dana lee"@example.com',
        "dana@[192.0.2.1]",
        "Dana <dana@example.com>",
        "dana(comment)@example.com",
        "dana@example.com.",
    ],
)
def test_an_address_with_another_spelling_is_refused(typed):
    with pytest.raises(ValidationError):
        canonical_email(typed)


def sign_up(client, email):
    return client.post(
        "/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD}
    )


def test_sign_up_refuses_a_quoted_address(client):
    response = sign_up(client, '"dana"@example.com')
    assert response.status_code == 200 and NOT_PLAIN in response.content.decode()
    assert not User.objects.exists() and not mail.outbox


def test_sign_up_keeps_the_one_spelling(client):
    assert sign_up(client, "Dana@\uff45xample.com").status_code == 302
    assert User.objects.get().email == "dana@example.com"
    assert EmailAddress.objects.get().email == "dana@example.com"
    assert sign_up(client, "dana@example.com").status_code == 302  # "account exists", no account
    assert User.objects.count() == 1


def test_an_added_address_is_refused_quoted(client, alice):
    client.force_login(alice)
    response = client.post("/accounts/email/", {"email": '"dana"@example.com', "action_add": ""})
    assert response.status_code == 200 and NOT_PLAIN in response.content.decode()
    assert not EmailAddress.objects.filter(email__contains="dana").exists() and not mail.outbox


def test_a_password_reset_for_a_quoted_address_is_refused(client, alice):
    response = client.post("/accounts/password/reset/", {"email": '"alice"@example.com'})
    assert response.status_code == 200 and NOT_PLAIN in response.content.decode()
    assert not mail.outbox


def test_the_admins_forms_store_only_the_one_spelling(alice, team):
    alice.email = '"alice"@example.com'
    with pytest.raises(ValidationError):
        alice.full_clean()
    invitation = Invitation(account=team, email="Bob@Example.com", role="developer")
    with pytest.raises(ValidationError, match=r"bob@example\.com"):
        invitation.full_clean()


def test_accounts_made_on_the_command_line_keep_the_one_spelling():
    assert User.objects.create_user("Erin@\uff25XAMPLE.com").email == "erin@example.com"
    with pytest.raises(ValidationError):
        User.objects.create_superuser('"erin"@example.com', "password")
