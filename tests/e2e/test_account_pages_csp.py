"""Every account, profile and allauth page a signed-in person reaches renders in Chromium without a
Content-Security-Policy violation or a script error."""

from __future__ import annotations

import re
import uuid

import pytest
from allauth.account.models import EmailAddress

from accounts.models import Account, Membership, User
from accounts.roles import Role

pytestmark = pytest.mark.e2e

PASSWORD = "Correct-Horse-Battery-9"


def test_the_pages_satisfy_the_csp(live_server, transactional_db, page):
    owner = User.objects.create_user("csp-owner@example.com", PASSWORD)
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    team = Account.objects.create_with_owner("CSP team", owner)
    other = User.objects.create_user("csp-dev@example.com", PASSWORD)
    Membership.objects.create(account=team, user=other, role=Role.DEVELOPER)
    # A new address each run: invitations to one address are limited per day, across runs.
    newcomer = f"csp-new-{uuid.uuid4().hex[:8]}@example.com"
    invitation = team.invite(newcomer, Role.ADMIN, by=team.memberships.get(user=owner))
    paths = [
        "/", f"/a/{team.slug}/", f"/a/{team.slug}/members/", f"/a/{team.slug}/activity/",
        f"/a/{team.slug}/requests/",
        "/teams/new/", "/profile/", invitation.accept_url().split("/", 3)[3],
        "/accounts/email/", "/accounts/password/change/", "/accounts/2fa/",
        "/accounts/2fa/totp/activate/", "/accounts/2fa/webauthn/add/",
    ]  # fmt: skip
    page.set_default_timeout(8000)
    problems: list[str] = []
    page.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(live_server.url + "/accounts/login/")
    page.fill("input[name=login]", owner.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.auth-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/a/[^/]+/$"))  # the account's dashboard
    statuses = {}
    for path in paths:
        response = page.goto(live_server.url + "/" + path.lstrip("/"))
        statuses[path] = response.status
    assert all(status == 200 for status in statuses.values()), statuses
    assert problems == []
