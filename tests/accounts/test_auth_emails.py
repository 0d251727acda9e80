from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.core import mail

pytestmark = pytest.mark.django_db


def only_mail_to(address):
    [message] = [m for m in mail.outbox if m.to == [address]]
    return message, message.alternatives[0][0]


def test_the_verification_email_is_a_tollgate_triple(client):
    password = "a-long-Passphrase-9"
    client.post("/accounts/signup/", {"email": "erin@example.com", "password1": password,
                "password2": password})  # fmt: skip
    message, html = only_mail_to("erin@example.com")
    assert message.subject == "Confirm your email address for Tollgate"
    assert "/accounts/confirm-email/" in message.body and "/accounts/confirm-email/" in html


def test_the_password_reset_email_is_a_tollgate_triple(client, alice):
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    message, html = only_mail_to("alice@example.com")
    assert message.subject == "Reset your Tollgate password"
    assert "/accounts/password/reset/key/" in message.body and "Choose a new password" in html


def test_an_unknown_address_gets_a_sign_up_hint_not_an_error(client, db):
    client.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    message, html = only_mail_to("nobody@example.com")
    assert "no account has this address" in message.body and "/accounts/signup/" in html


def test_signing_up_twice_mails_the_owner_of_the_address(client, alice):
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    password = "a-long-Passphrase-9"
    response = client.post("/accounts/signup/", {"email": "alice@example.com",
                           "password1": password, "password2": password})  # fmt: skip
    assert response.status_code == 302  # the same answer as a new address: no enumeration
    message, _ = only_mail_to("alice@example.com")
    assert message.subject == "You already have a Tollgate account"
