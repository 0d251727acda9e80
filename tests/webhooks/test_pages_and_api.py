"""Owners and admins manage endpoints on the pages and through the API; the secret shows once."""

from __future__ import annotations

import pytest

from accounts.models import AuditEvent, Membership
from accounts.roles import Role
from tests.webhooks.helpers import signed_events, types_of
from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def developer(user_factory, team):
    person = user_factory("dev@example.com")
    Membership.objects.create(account=team, user=person, role=Role.DEVELOPER)
    return person


def test_the_page_shows_the_secret_once(client, alice, team, receiver):
    client.force_login(alice)
    response = client.post(
        f"/a/{team.slug}/webhooks/", {"url": receiver.url(), "event_types": ["key.created"]}
    )
    endpoint = Endpoint.objects.get()
    assert response.status_code == 200
    assert endpoint.secret.encode() in response.content
    page = client.get(f"/a/{team.slug}/webhooks/{endpoint.public_id}/")
    assert endpoint.url.encode() in page.content and endpoint.secret.encode() not in page.content
    assert endpoint.secret.encode() not in client.get(f"/a/{team.slug}/webhooks/").content
    assert AuditEvent.objects.filter(action="webhook.created").count() == 1


def test_send_a_test_event_and_see_it_in_the_log(client, alice, team, receiver):
    client.force_login(alice)
    form = {"url": receiver.url(), "event_types": ["key.created"]}
    client.post(f"/a/{team.slug}/webhooks/", form)
    endpoint = Endpoint.objects.get()
    response = client.post(f"/a/{team.slug}/webhooks/{endpoint.public_id}/test/")
    assert response.status_code == 302
    assert types_of(signed_events(receiver, endpoint.secret)) == ["webhook.test"]
    log = client.get(f"/a/{team.slug}/webhooks/{endpoint.public_id}/").content.decode()
    assert "webhook.test" in log and "HTTP 200" in log


def test_roll_resend_and_the_log_through_the_api(api, alice, team, receiver):
    api.force_login(alice)
    base = f"/api/v1/accounts/{team.slug}/webhooks/"
    created = api.post(base, {"url": receiver.url(), "event_types": ["key.created"]}, format="json")
    endpoint_id = created.json()["id"]
    assert api.post(f"{base}{endpoint_id}/test/").status_code == 202
    log = api.get(f"{base}{endpoint_id}/deliveries/").json()["results"]
    assert [(d["event_type"], d["status"], d["attempts"]) for d in log] == [
        ("webhook.test", "succeeded", 1)
    ]
    rolled = api.post(f"{base}{endpoint_id}/roll-secret/").json()["secret"]
    assert rolled != created.json()["secret"]
    resent = api.post(f"{base}{endpoint_id}/deliveries/{log[0]['id']}/resend/")
    assert resent.status_code == 202
    del receiver.requests[0]  # the test event, signed before the roll
    [again] = signed_events(receiver, rolled)  # the resend carries the new secret
    assert again["id"] == log[0]["event_id"]
    assert "secret" not in api.get(f"{base}{endpoint_id}/").json()


def test_patch_checks_the_new_url_too(api, alice, team, receiver, settings):
    api.force_login(alice)
    base = f"/api/v1/accounts/{team.slug}/webhooks/"
    created = api.post(base, {"url": receiver.url(), "event_types": ["key.created"]}, format="json")
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    response = api.patch(
        f"{base}{created.json()['id']}/", {"url": "https://10.0.0.1/x"}, format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert Endpoint.objects.get().url == receiver.url()


def test_developers_may_not_and_strangers_do_not_see(api, client, developer, charlie, team):
    for person, status in ((developer, 403), (charlie, 404)):
        api.force_login(person)
        assert api.get(f"/api/v1/accounts/{team.slug}/webhooks/").status_code == status
        client.force_login(person)
        assert client.get(f"/a/{team.slug}/webhooks/").status_code == status


def test_another_accounts_endpoint_is_not_found(api, alice, team, charlie, receiver):
    api.force_login(alice)
    base = f"/api/v1/accounts/{team.slug}/webhooks/"
    created = api.post(base, {"url": receiver.url(), "event_types": ["key.created"]}, format="json")
    other = charlie.memberships.get().account
    api.force_login(charlie)
    response = api.post(f"/api/v1/accounts/{other.slug}/webhooks/{created.json()['id']}/test/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
