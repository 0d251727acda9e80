"""An account cannot aim a flood at someone's server: endpoints per account are capped, one URL
is registered once per account, and "send test" and "resend" are throttled per endpoint."""

from __future__ import annotations

import pytest

from accounts.models import Account
from webhooks import endpoints
from webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def base(team) -> str:
    return f"/api/v1/accounts/{team.slug}/webhooks/"


def register(team, alice, url: str) -> Endpoint:
    return endpoints.create(team, alice, None, url=url, event_types=["key.created"])


def test_the_api_refuses_an_endpoint_beyond_the_cap(api, alice, team, receiver, base, settings):
    settings.WEBHOOKS_ENDPOINTS_PER_ACCOUNT = 2
    register(team, alice, receiver.url(path="/one"))
    register(team, alice, receiver.url(path="/two"))
    form = {"url": receiver.url(path="/three"), "event_types": ["key.created"]}
    api.force_login(alice)

    response = api.post(base, form, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "too_many_endpoints"
    assert Endpoint.objects.count() == 2


def test_the_api_refuses_a_url_the_account_already_has(api, alice, team, receiver, base):
    register(team, alice, receiver.url())
    api.force_login(alice)

    response = api.post(base, {"url": receiver.url(), "event_types": ["key.revoked"]}, "json")

    assert (response.status_code, response.json()["code"]) == (400, "duplicate_url")
    assert Endpoint.objects.count() == 1


def test_patch_may_not_move_an_endpoint_onto_another_ones_url(api, alice, team, receiver, base):
    first = register(team, alice, receiver.url(path="/one"))
    second = register(team, alice, receiver.url(path="/two"))
    api.force_login(alice)

    moved = api.patch(f"{base}{second.public_id}/", {"url": first.url}, format="json")
    kept = api.patch(f"{base}{first.public_id}/", {"url": first.url}, format="json")

    assert (moved.status_code, moved.json()["code"]) == (400, "duplicate_url")
    assert kept.status_code == 200
    second.refresh_from_db()
    assert second.url == receiver.url(path="/two")


def test_another_account_may_register_the_same_url(alice, team, charlie, receiver):
    register(team, alice, receiver.url())
    other = Account.objects.create_with_owner("Charlie's", charlie)
    register(other, charlie, receiver.url())
    assert Endpoint.objects.count() == 2


def test_the_page_says_why_it_refuses_an_endpoint(client, alice, team, receiver, settings):
    settings.WEBHOOKS_ENDPOINTS_PER_ACCOUNT = 1
    register(team, alice, receiver.url())
    client.force_login(alice)
    page = f"/a/{team.slug}/webhooks/"

    same = client.post(page, {"url": receiver.url(), "event_types": ["key.created"]})
    more = client.post(page, {"url": receiver.url(path="/b"), "event_types": ["key.created"]})

    assert same.status_code == 400
    assert b"already has an endpoint with this URL" in same.content
    assert more.status_code == 400
    assert b"may have 1 webhook endpoints" in more.content
    assert Endpoint.objects.count() == 1


def test_send_test_through_the_api_is_throttled(api, alice, team, receiver, base, settings):
    settings.WEBHOOKS_MANUAL_SENDS_PER_MINUTE = 2
    endpoint = register(team, alice, receiver.url())
    api.force_login(alice)
    url = f"{base}{endpoint.public_id}/test/"

    answers = [api.post(url) for _ in range(3)]

    assert [a.status_code for a in answers] == [202, 202, 429]
    assert answers[2].json()["code"] == "too_many_sends"
    assert 1 <= int(answers[2]["Retry-After"]) <= 60
    assert Delivery.objects.count() == 2
    # Another endpoint has its own allowance.
    other = register(team, alice, receiver.url(path="/other"))
    assert api.post(f"{base}{other.public_id}/test/").status_code == 202


def test_resend_through_the_api_shares_the_allowance(api, alice, team, receiver, base, settings):
    settings.WEBHOOKS_MANUAL_SENDS_PER_MINUTE = 1
    endpoint = register(team, alice, receiver.url())
    api.force_login(alice)
    assert api.post(f"{base}{endpoint.public_id}/test/").status_code == 202
    sent = Delivery.objects.get()

    response = api.post(f"{base}{endpoint.public_id}/deliveries/{sent.pk}/resend/")

    assert (response.status_code, response.json()["code"]) == (429, "too_many_sends")
    assert len(receiver.requests) == 1


def test_the_pages_throttle_send_test_and_resend(client, alice, team, receiver, settings):
    settings.WEBHOOKS_MANUAL_SENDS_PER_MINUTE = 1
    endpoint = register(team, alice, receiver.url())
    client.force_login(alice)
    page = f"/a/{team.slug}/webhooks/{endpoint.public_id}/"
    assert client.post(page + "test/").status_code == 302
    sent = Delivery.objects.get()

    again = client.post(page + "test/")
    resent = client.post(page + f"deliveries/{sent.pk}/resend/")

    for refused in (again, resent):
        assert refused.status_code == 429
        assert b"as many test events and resends as it may" in refused.content
        assert refused.has_header("Retry-After")
    assert len(receiver.requests) == 1
