"""Every link Tollgate emails is built from SITE_URL, never from the request's Host header: a
client picks that header, and any name in ALLOWED_HOSTS reaches the portal."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail

from accounts.roles import Role

pytestmark = pytest.mark.django_db
SITE = "https://portal.example"
HOSTILE = "evil.example"
PASSWORD = "a-long-Passphrase-9"


@pytest.fixture(autouse=True)
def hostile_host_allowed(settings):
    settings.SITE_URL = SITE
    settings.ALLOWED_HOSTS = ["portal.example", HOSTILE, "testserver"]


@pytest.fixture
def hostile(client):
    client.defaults["HTTP_HOST"] = HOSTILE
    return client


def links(message):
    bodies = [message.body, *(content for content, _ in message.alternatives)]
    return {url for body in bodies for url in re.findall(r"https?://[^\s\"'<>]+", body)}


def only_mail_to(address):
    [message] = [m for m in mail.outbox if m.to == [address]]
    return message


def assert_links_on_site(message, path_fragment):
    found = links(message)
    assert any(path_fragment in url for url in found), found
    assert all(url.startswith(SITE + "/") for url in found), found
    assert HOSTILE not in message.body


@pytest.fixture
def verified_alice(alice):
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    return alice


def test_the_password_reset_link(hostile, verified_alice):
    hostile.post("/accounts/password/reset/", {"email": verified_alice.email})
    assert_links_on_site(only_mail_to(verified_alice.email), "/accounts/password/reset/key/")


def test_the_sign_up_verification_link(hostile):
    hostile.post(
        "/accounts/signup/",
        {"email": "erin@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert_links_on_site(only_mail_to("erin@example.com"), "/accounts/confirm-email/")


def test_the_account_exists_links(hostile, verified_alice):
    hostile.post(
        "/accounts/signup/",
        {"email": verified_alice.email, "password1": PASSWORD, "password2": PASSWORD},
    )
    assert_links_on_site(only_mail_to(verified_alice.email), "/accounts/password/reset/")


def test_the_unknown_account_link(hostile, db):
    hostile.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert_links_on_site(only_mail_to("nobody@example.com"), "/accounts/signup/")


def test_the_added_address_verification_link(hostile, verified_alice):
    hostile.force_login(verified_alice)
    hostile.post("/accounts/email/", {"email": "alice@work.example", "action_add": ""})
    assert_links_on_site(only_mail_to("alice@work.example"), "/accounts/confirm-email/")


def test_the_invitation_link(hostile, verified_alice, team, django_capture_on_commit_callbacks):
    hostile.force_login(verified_alice)
    with django_capture_on_commit_callbacks(execute=True):
        hostile.post(
            f"/a/{team.slug}/members/invite/", {"email": "dana@example.com", "role": Role.ADMIN}
        )
    assert_links_on_site(only_mail_to("dana@example.com"), "/invitations/")
