from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)
from django.core import mail

from portal.keyfiles import create_if_missing
from tests.helpers import ROOT

pytestmark = pytest.mark.django_db
TOO_MANY = "Too many failed login attempts. Try again later."


@pytest.fixture
def verified_alice(alice):
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    return alice


def login(client, email, password, **headers):
    return client.post("/accounts/login/", {"login": email, "password": password}, headers=headers)


def test_failed_logins_for_one_address_are_rate_limited(client, verified_alice):
    for _ in range(5):
        assert login(client, "alice@example.com", "wrong").status_code == 200
    # Even the right password is refused now: the answer is a form error, not a login.
    response = login(client, "alice@example.com", "password")
    assert TOO_MANY in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_spoofed_forwarded_for_header_cannot_reset_the_ip_limit(client, db):
    for attempt in range(10):
        spoof = f"203.0.113.{attempt}"
        response = login(client, f"nobody{attempt}@example.com", "wrong", x_forwarded_for=spoof)
        assert TOO_MANY not in response.content.decode()
    response = login(client, "nobody99@example.com", "wrong", x_forwarded_for="198.51.100.7")
    assert TOO_MANY in response.content.decode()


def test_behind_one_proxy_only_the_proxys_entry_counts(client, db, settings):
    assert settings.TRUSTED_PROXY_COUNT == 1  # the bundled nginx
    proof = {"x_gateway_secret": settings.GATEWAY_SECRET}
    for attempt in range(10):
        # The client prepends whatever it likes; nginx appends the address it saw.
        header = f"203.0.113.{attempt}, 192.0.2.44"
        response = login(client, f"nobody{attempt}@example.com", "wrong", x_forwarded_for=header,
                         **proof)  # fmt: skip
        assert TOO_MANY not in response.content.decode()
    spoofed = login(client, "x@example.com", "wrong", x_forwarded_for="1.2.3.4, 192.0.2.44",
                    **proof)  # fmt: skip
    assert TOO_MANY in spoofed.content.decode()
    elsewhere = login(client, "y@example.com", "wrong", x_forwarded_for="192.0.2.45", **proof)
    assert TOO_MANY not in elsewhere.content.decode()


def test_without_nginxs_proof_forwarded_for_is_ignored(client, db, settings):
    for attempt in range(10):
        # A client on the portal's own port, naming a new address with every attempt.
        spoof = {"x_forwarded_for": f"203.0.113.{attempt}", "x_gateway_secret": "guess"}
        response = login(client, f"nobody{attempt}@example.com", "wrong", **spoof)
        assert TOO_MANY not in response.content.decode()
    response = login(client, "z@example.com", "wrong", x_forwarded_for="198.51.100.9")
    assert TOO_MANY in response.content.decode()


def test_login_shows_one_answer_for_unknown_and_wrong_passwords(client, verified_alice):
    wrong_password = login(client, "alice@example.com", "nope").content.decode()
    unknown = login(client, "nobody@example.com", "nope").content.decode()
    assert "not correct" in wrong_password and "not correct" in unknown


def test_password_reset_does_not_reveal_who_has_an_account(client, verified_alice):
    known = client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    unknown = client.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 302
    assert known.url == unknown.url


def test_signup_requires_verifying_the_email_before_logging_in(client, db):
    password = "a-long-Passphrase-9"
    response = client.post("/accounts/signup/", {"email": "erin@example.com",
                           "password1": password, "password2": password})  # fmt: skip
    assert response.status_code == 302 and response.url == "/accounts/confirm-email/"
    assert "_auth_user_id" not in client.session
    assert any("erin@example.com" in m.to for m in mail.outbox)
    response = login(client, "erin@example.com", password)
    assert response.url == "/accounts/confirm-email/" and "_auth_user_id" not in client.session


def test_signup_shows_field_errors_in_place(client, db):
    response = client.post("/accounts/signup/", {"email": "not-an-email", "password1": "a",
                           "password2": "b"})  # fmt: skip
    page = response.content.decode()
    assert response.status_code == 200
    assert 'class="field field-invalid"' in page
    assert "Enter a valid email address." in page


def test_a_bad_mfa_code_gets_a_clear_answer(client, verified_alice):
    secret = generate_totp_secret()
    TOTP.activate(verified_alice, secret)
    response = login(client, "alice@example.com", "password")
    assert response.status_code == 302 and response.url == "/accounts/2fa/authenticate/"
    bad = client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert bad.status_code == 200 and "Incorrect code." in bad.content.decode()
    assert "_auth_user_id" not in client.session
    if time.time() % 30 > 28:  # the server accepts only the current 30 s step
        time.sleep(30 - time.time() % 30 + 0.1)
    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    good = client.post("/accounts/2fa/authenticate/", {"code": code})
    assert good.status_code == 302
    assert client.session["_auth_user_id"] == str(verified_alice.pk)


def test_social_login_is_absent_without_credentials(client, db):
    page = client.get("/accounts/login/").content.decode()
    assert "GitHub" not in page and "Google" not in page


def test_social_login_switches_on_with_credentials(tmp_path):
    env = {**os.environ, "TOLLGATE_VAR_DIR": str(tmp_path), "GITHUB_CLIENT_ID": "id",
           "GITHUB_CLIENT_SECRET": "secret"}  # fmt: skip
    code = "import django; django.setup(); from django.conf import settings as s"
    code += "; print(s.INSTALLED_APPS)"
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                            text=True, check=True)  # fmt: skip
    assert "allauth.socialaccount.providers.github" in result.stdout
    assert "allauth.socialaccount.providers.google" not in result.stdout


def test_production_cookies_are_secure_and_host_prefixed(tmp_path):
    create_if_missing(tmp_path / "signing.pem")
    env = {**os.environ, "TOLLGATE_VAR_DIR": str(tmp_path), "DEBUG": "false",
           "SECRET_KEY": "k" * 60, "APIKEY_PEPPER": "p" * 50, "TRUSTED_PROXY_COUNT": "1",
           "ALLOW_DEMO_BACKENDS": "true", "STRIPE_WEBHOOK_SECRET": "whsec_test",
           "SITE_URL": "https://portal.example.com", "ALLOWED_HOSTS": "portal.example.com",
           "ENTITLEMENT_SIGNING_KEY_FILE": str(tmp_path / "signing.pem"),
           "DJANGO_SETTINGS_MODULE": "portal.settings"}  # fmt: skip
    names = ["SESSION_COOKIE_NAME", "SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY",
             "SESSION_COOKIE_SAMESITE", "CSRF_COOKIE_SECURE", "CSRF_COOKIE_SAMESITE",
             "TRUSTED_PROXY_COUNT", "ALLAUTH_TRUSTED_PROXY_COUNT"]  # fmt: skip
    code = f"from django.conf import settings as s; print([getattr(s, n) for n in {names!r}])"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                            text=True, check=True)  # fmt: skip
    assert result.stdout.strip() == str(["__Host-sessionid", True, True, "Lax", True, "Lax", 1, 0])


@pytest.fixture
def staff_with_totp(user_factory):
    staff = user_factory("staff@example.com", is_staff=True, is_superuser=True)
    EmailAddress.objects.create(user=staff, email=staff.email, verified=True, primary=True)
    secret = generate_totp_secret()
    TOTP.activate(staff, secret)
    return staff, secret


def admin_login(client, email, password):
    return client.post("/admin/login/?next=/admin/", {"username": email, "password": password})


def test_a_staff_password_alone_gives_no_admin_session_when_totp_is_on(client, staff_with_totp):
    staff, secret = staff_with_totp
    response = admin_login(client, staff.email, "password")
    # The admin's own form checks no password: staff sign in through allauth's login.
    assert response.status_code == 302
    assert response.url == "/accounts/login/?next=%2Fadmin%2F"
    assert "_auth_user_id" not in client.session
    response = client.post(response.url, {"login": staff.email, "password": "password"})
    assert response.url.startswith("/accounts/2fa/authenticate/")
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302
    if time.time() % 30 > 28:  # the server accepts only the current 30 s step
        time.sleep(30 - time.time() % 30 + 0.1)
    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    response = client.post("/accounts/2fa/authenticate/", {"code": code})
    assert response.status_code == 302 and response.url == "/admin/"
    assert "Site administration" in client.get("/admin/").content.decode()


def test_wrong_admin_passwords_meet_allauths_rate_limit(client, staff_with_totp):
    staff, _ = staff_with_totp
    for attempt in range(30):  # the admin's own form checks none of them
        assert admin_login(client, staff.email, f"wrong{attempt}").status_code == 302
    for attempt in range(5):  # the login the admin sends staff to counts every one
        login(client, staff.email, f"wrong{attempt}")
    assert TOO_MANY in login(client, staff.email, "password").content.decode()
    assert "_auth_user_id" not in client.session


def test_a_signed_in_customer_is_refused_the_admin_login(client, alice):
    client.force_login(alice)
    assert client.get("/admin/login/?next=/admin/").status_code == 403
