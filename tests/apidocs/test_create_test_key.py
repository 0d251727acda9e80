from __future__ import annotations

import pytest

from accounts.models import AuditEvent, Membership
from accounts.roles import Role
from apikeys import keys
from apikeys.models import ApiKey

pytestmark = pytest.mark.django_db
URL = "/docs/test-key/"


def test_it_creates_a_test_key_shown_once(client, alice, team):
    client.force_login(alice)
    session = client.session
    session["current_account"] = team.slug
    session.save()
    response = client.post(URL)
    assert response.status_code == 201
    body = response.json()
    assert keys.is_well_formed(body["key"]) and keys.environment_of(body["key"]) == "test"
    key = ApiKey.objects.get(public_id=body["key_id"])
    assert key.account == team and key.environment == "test"
    assert key.key_hash == keys.hash_key(body["key"])
    assert AuditEvent.objects.filter(account=team, action="key.created", actor=alice).exists()


def test_a_developer_can(client, bob, team):
    client.force_login(bob)
    session = client.session
    session["current_account"] = team.slug
    session.save()
    assert client.post(URL).json()["account"] == team.slug


def test_a_billing_member_cannot(client, user_factory, team):
    person = user_factory()
    Membership.objects.filter(user=person).delete()  # only in the team, as billing
    Membership.objects.create(account=team, user=person, role=Role.BILLING)
    client.force_login(person)
    response = client.post(URL)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert not ApiKey.objects.exists()


def test_visitors_are_sent_to_log_in(client):
    response = client.post(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_it_refuses_get(client, alice):
    client.force_login(alice)
    assert client.get(URL).status_code == 405
