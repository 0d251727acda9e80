"""In headless Chromium: sign up, verify from the mail folder, log in, enable TOTP, log in with a
code; no page along the way may trip the Content-Security-Policy."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

pytestmark = pytest.mark.e2e


PASSWORD = "Correct-Horse-Battery-9"


@pytest.fixture
def mail_folder(settings, tmp_path) -> Path:
    """Mail goes to files, as on a development machine (`var/mail/`)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = tmp_path
    return tmp_path


@pytest.fixture
def browser_page(page):
    """pytest-playwright's page (Debian's Chromium, see tests/conftest.py), watched for CSP
    violations and script errors."""
    page.set_default_timeout(8000)
    problems: list[str] = []
    page.on("console", lambda msg: msg.type in ("error", "warning") and problems.append(msg.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.problems = problems
    return page


def link_from_mail(folder: Path, pattern: str) -> str:
    for message in sorted(folder.glob("*.log")):
        found = re.search(pattern, message.read_text())
        if found:
            return found.group(0)
    raise AssertionError(f"no mail in {folder} with {pattern}")


def current_code(secret: str) -> str:
    """The authenticator app's code now; near the end of a 30 s step, wait for the next one so the
    server (which accepts only the current step) sees the same step."""
    if time.time() % 30 > 27:
        time.sleep(30 - time.time() % 30 + 0.1)
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def log_in(page, base: str, email: str) -> None:
    page.goto(base + "/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.auth-form button[type=submit]")


def log_out(page) -> None:
    page.click("header button:has-text('Log out')")
    page.wait_for_url("**/")


def test_it_signs_up_verifies_and_logs_in_with_totp(
    live_server, mail_folder, browser_page, settings
):
    settings.SITE_URL = live_server.url  # emailed links are built from SITE_URL
    # A fresh address each run: allauth throttles verification mails per address in Redis.
    page, base, email = browser_page, live_server.url, f"frank-{uuid.uuid4().hex[:8]}@example.com"
    page.goto(base + "/accounts/signup/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("form.auth-form button[type=submit]")
    page.wait_for_url("**/accounts/confirm-email/")

    page.goto(link_from_mail(mail_folder, r"http://\S+/accounts/confirm-email/[^\s/]+/"))
    page.click("form.auth-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/a/[^/]+/$"))  # the account's dashboard
    assert email in page.text_content("header")

    log_out(page)
    log_in(page, base, email)
    page.wait_for_url(re.compile(r".*/a/[^/]+/$"))  # the account's dashboard
    assert email in page.text_content("header")

    page.goto(base + "/accounts/2fa/totp/activate/")
    if "/accounts/reauthenticate/" in page.url:  # allauth asks for the password again first
        page.fill("input[name=password]", PASSWORD)
        page.click("form.auth-form button[type=submit]")
        page.wait_for_url("**/accounts/2fa/totp/activate/")
    secret = page.input_value("#authenticator_secret")
    page.fill("input[name=code]", current_code(secret))
    page.click("form.auth-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/accounts/2fa/.*"))
    assert "Authenticator App" in page.content() or "Recovery" in page.content()

    log_out(page)
    log_in(page, base, email)
    page.wait_for_url("**/accounts/2fa/authenticate/")
    page.fill("input[name=code]", "000000")
    page.click("form.auth-form button[type=submit]")
    assert "Incorrect code." in page.text_content("main")
    page.fill("input[name=code]", current_code(secret))
    page.click("form.auth-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/a/[^/]+/$"))  # the account's dashboard
    assert email in page.text_content("header")

    page.goto(base + "/profile/")
    assert "Two-factor authentication" in page.text_content("main")
    assert page.problems == []
