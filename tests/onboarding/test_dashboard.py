"""The account's dashboard: plan and quota at a glance, and a first-call checklist that
completes itself from what exists (keys, the gateway's counters)."""

from __future__ import annotations

import time

import pytest
from allauth.account.models import EmailAddress

from accounts.models import Account
from apikeys.models import ApiKey, Environment
from core.redis_keys import usage_key
from onboarding.first_call import counters_this_hour

pytestmark = pytest.mark.django_db


@pytest.fixture
def personal(alice) -> Account:
    return Account.objects.get(memberships__user=alice, is_personal=True)


def test_login_lands_on_the_dashboard(client, alice, personal):
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    response = client.post("/accounts/login/", {"login": alice.email, "password": "password"})
    assert response.status_code == 302
    assert response["Location"] == f"/a/{personal.slug}/"


def test_the_checklist_completes_itself(client, alice, personal, redis_db):
    client.force_login(alice)
    page = client.get(f"/a/{personal.slug}/").content.decode()
    assert 'id="first-call"' in page and 'id="plan-glance"' in page
    progress = f"/a/{personal.slug}/first-call/"
    assert 'hx-trigger="every 3s"' in client.get(progress).content.decode()

    ApiKey.objects.issue(personal, name="first", environment=Environment.TEST, created_by=alice)
    step = client.get(progress).content.decode()
    assert step.count("Done") == 1 and 'hx-trigger="every 3s"' in step

    # The gateway counts a call in this hour's hash: the last step is done, polling stops.
    live_now = usage_key(personal.id, "live", time.time())
    assert live_now in counters_this_hour(personal, time.time())
    redis_db.hincrby(live_now, "k|demo|/hello|ok", 1)
    step = client.get(progress).content.decode()
    assert "Your first call arrived" in step and "hx-trigger" not in step
    assert 'id="first-call"' not in client.get(f"/a/{personal.slug}/").content.decode()


def test_someone_elses_checklist_is_a_404(client, charlie, personal):
    client.force_login(charlie)
    assert client.get(f"/a/{personal.slug}/first-call/").status_code == 404
