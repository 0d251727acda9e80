"""In headless Chromium: an owner invites a colleague, who signs up from the emailed link, joins
with the role given, and both show on the Activity page; no page trips the CSP."""

from __future__ import annotations

import re
import uuid

import pytest
from allauth.account.models import EmailAddress
from playwright.sync_api import expect

from accounts.models import Account, Membership, User
from accounts.roles import Role

pytestmark = pytest.mark.e2e


PASSWORD = "Correct-Horse-Battery-9"


@pytest.fixture
def mail_folder(settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = tmp_path
    return tmp_path


def link_in_mail(folder, to: str, pattern: str) -> str:
    for message in sorted(folder.glob("*.log")):
        text = message.read_text()
        found = re.search(pattern, text)
        if f"To: {to}" in text and found:
            return found.group(0)
    raise AssertionError(f"no mail to {to} with {pattern}")


def submit(page, selector="main form button[type=submit]"):
    page.click(selector)
    page.wait_for_load_state()


def test_an_invited_colleague_joins_and_shows_on_the_activity_page(
    live_server, transactional_db, mail_folder, settings, browser
):
    settings.SITE_URL = live_server.url  # the invitation email links to the portal's address
    owner = User.objects.create_user(f"olga-{uuid.uuid4().hex[:6]}@example.com", PASSWORD)
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    team = Account.objects.create_with_owner("Olga's team", owner)
    colleague = f"gina-{uuid.uuid4().hex[:6]}@example.com"
    base = live_server.url
    problems: list[str] = []
    owner_page = browser.new_context().new_page()
    owner_page.set_default_timeout(8000)
    owner_page.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))
    owner_page.goto(base + "/accounts/login/")
    owner_page.fill("input[name=login]", owner.email)
    owner_page.fill("input[name=password]", PASSWORD)
    submit(owner_page)
    owner_page.goto(f"{base}/a/{team.slug}/members/")
    owner_page.fill("input[name=email]", colleague)
    owner_page.select_option("select[name=role]", "admin")
    submit(owner_page, "form[action$='/members/invite/'] button[type=submit]")
    assert f"Invitation sent to {colleague}" in owner_page.text_content("main")

    page = browser.new_context().new_page()
    page.set_default_timeout(8000)
    page.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))
    page.goto(link_in_mail(mail_folder, colleague, r"http://\S+/invitations/[^\s/]+/"))
    assert "Join Olga" in page.text_content("main")
    page.click("main a:has-text('Sign up')")
    page.fill("input[name=email]", colleague)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    submit(page)
    page.goto(link_in_mail(mail_folder, colleague, r"http://\S+/accounts/confirm-email/[^\s/]+/"))
    submit(page)
    page.wait_for_url(re.compile(r".*/invitations/.*"))
    submit(page)
    page.wait_for_url(f"**/a/{team.slug}/")
    assert "Admin" in page.text_content("main")

    page.goto(f"{base}/a/{team.slug}/activity/")
    log = page.text_content("main")
    assert "member.invited" in log and "member.joined" in log
    assert owner.email in log and colleague in log
    page.select_option("select[name=action]", "member.joined")
    expect(page.locator("#events")).not_to_contain_text("member.invited")
    assert "?action=member.joined" in page.url
    owner_page.context.close()
    page.context.close()
    assert Membership.objects.get(account=team, user__email=colleague).role == Role.ADMIN
    assert problems == []
