from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from apikeys import keys
from apikeys.models import PersonalAccessToken

pytestmark = pytest.mark.django_db


def signed_in(api, user):
    api.force_login(user)
    return api


def with_token(api, raw):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


def issue(user, name="script", **fields):
    return PersonalAccessToken.objects.issue(user, name=name, **fields)


def revoke(api, token_id):
    return api.post(f"/api/v1/tokens/{token_id}/revoke/")


# --- list -----------------------------------------------------------------------------------
def test_it_lists_the_callers_working_tokens(api, alice, charlie):
    mine, _ = issue(alice, "deploy")
    issue(charlie, "charlie's")
    gone, _ = issue(alice, "revoked")
    gone.revoke()
    issue(alice, "expired", expires_at=timezone.now() - timedelta(minutes=1))
    body = signed_in(api, alice).get("/api/v1/tokens/").json()
    assert [row["id"] for row in body["results"]] == [mine.public_id]
    row = body["results"][0]
    assert row["prefix"] == mine.prefix and row["last4"] == mine.last4
    assert row["current"] is False and "secret" not in row


def test_a_token_can_list_and_knows_which_one_it_is(api, alice):
    other, _ = issue(alice, "other")
    this, raw = issue(alice, "this")
    rows = with_token(api, raw).get("/api/v1/tokens/").json()["results"]
    assert {row["id"]: row["current"] for row in rows} == {
        this.public_id: True,
        other.public_id: False,
    }


def test_any_limit_and_offset_get_a_page_not_an_error(api, alice):
    # Found by fuzzing: a limit or offset past 64 bits overflowed PostgreSQL's LIMIT (a 500).
    mine, _ = issue(alice, "deploy")
    huge = str(10**22)
    body = signed_in(api, alice).get("/api/v1/tokens/", {"limit": huge}).json()
    assert [row["id"] for row in body["results"]] == [mine.public_id]
    beyond = api.get("/api/v1/tokens/", {"limit": huge, "offset": huge})
    assert (beyond.status_code, beyond.json()["results"]) == (200, [])


def test_without_credentials_it_answers_401(api):
    for response in [api.get("/api/v1/tokens/"), api.post("/api/v1/tokens/", {"name": "x"})]:
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
    assert not PersonalAccessToken.objects.exists()


# --- create ---------------------------------------------------------------------------------
def test_create_works_and_shows_the_secret_once(api, alice):
    response = signed_in(api, alice).post(
        "/api/v1/tokens/", {"name": "CI", "expires_in_days": 30}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert keys.is_well_formed_token(body["secret"])
    token = PersonalAccessToken.objects.get(public_id=body["id"])
    assert token.token_hash == keys.hash_key(body["secret"])
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert body["secret"] not in api.get("/api/v1/tokens/").content.decode()
    event = AuditEvent.objects.get(action="token.created")
    assert (event.actor, event.target, event.data) == (alice, token.public_id, {"name": "CI"})
    # and the new token works at once
    assert with_token(APIClient(), body["secret"]).get("/api/v1/tokens/").status_code == 200


def test_it_lives_90_days_unless_told_and_0_means_never(api, alice):
    signed_in(api, alice)
    default = api.post("/api/v1/tokens/", {"name": "a"}, format="json").json()
    forever = api.post("/api/v1/tokens/", {"name": "b", "expires_in_days": 0}, format="json")
    assert (
        PersonalAccessToken.objects.get(public_id=default["id"]).expires_at.date()
        == (timezone.now() + timedelta(days=90)).date()
    )
    assert forever.json()["expires_at"] is None


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "a", "expires_in_days": 7}, "expires_in_days"),
    ],
)
def test_bad_input_gets_400_and_makes_nothing(api, alice, data, field):
    response = signed_in(api, alice).post("/api/v1/tokens/", data, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and list(body["errors"]) == [field]
    assert not PersonalAccessToken.objects.exists()
    assert not AuditEvent.objects.filter(action="token.created").exists()


def test_a_token_cannot_mint_tokens(api, alice):
    _, raw = issue(alice)
    response = with_token(api, raw).post("/api/v1/tokens/", {"name": "successor"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "session_required"
    assert PersonalAccessToken.objects.count() == 1


def test_a_session_needs_its_csrf_token(alice):
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(alice)
    response = api.post("/api/v1/tokens/", {"name": "CI"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not PersonalAccessToken.objects.exists()
    api.get("/profile/tokens/")  # the page sets the CSRF cookie
    csrf = api.cookies[settings.CSRF_COOKIE_NAME].value
    response = api.post("/api/v1/tokens/", {"name": "CI"}, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 201


# --- revoke ---------------------------------------------------------------------------------
def test_revoke_works_and_the_token_stops_at_once(api, alice):
    token, raw = issue(alice)
    assert with_token(APIClient(), raw).get("/api/v1/tokens/").status_code == 200
    response = revoke(signed_in(api, alice), token.public_id)
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    refused = with_token(APIClient(), raw).get("/api/v1/tokens/")
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_token"
    event = AuditEvent.objects.get(action="token.revoked")
    assert (event.actor, event.target) == (alice, token.public_id)


def test_revoking_twice_changes_nothing_more(api, alice):
    token, _ = issue(alice)
    signed_in(api, alice)
    first = revoke(api, token.public_id).json()
    second = revoke(api, token.public_id)
    assert second.status_code == 200 and second.json()["revoked_at"] == first["revoked_at"]
    assert AuditEvent.objects.filter(action="token.revoked").count() == 1


def test_someone_elses_token_or_a_bad_id_is_404(api, alice, charlie):
    token, raw = issue(alice)
    signed_in(api, charlie)
    for token_id in [token.public_id, "pat_" + "0" * 16]:
        response = revoke(api, token_id)
        assert response.status_code == 404
        assert response.json() == {"code": "not_found", "detail": "No such token"}
    assert with_token(APIClient(), raw).get("/api/v1/tokens/").status_code == 200


def test_a_token_cannot_revoke_tokens_not_even_itself(api, alice):
    other, _ = issue(alice, "other")
    this, raw = issue(alice, "this")
    with_token(api, raw)
    for token in [other, this]:
        response = revoke(api, token.public_id)
        assert response.status_code == 403
        assert response.json()["code"] == "session_required"
    assert PersonalAccessToken.objects.active().count() == 2


def test_revoke_refuses_get(api, alice):
    token, _ = issue(alice)
    response = signed_in(api, alice).get(f"/api/v1/tokens/{token.public_id}/revoke/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
