from __future__ import annotations

import pytest

from accounts.models import AuditEvent, Membership
from accounts.roles import Role
from apikeys import keys, records
from apikeys.models import ApiKey, PersonalAccessToken

pytestmark = pytest.mark.django_db


def as_user(api, user):
    api.force_authenticate(user=None)
    api.force_login(user)
    return api


# --- list -----------------------------------------------------------------------------------


def test_it_lists_keys_of_an_account(api, alice, team, issue_key):
    key, raw = issue_key()
    response = as_user(api, alice).get(f"/api/v1/keys/?account={team.slug}")
    assert response.status_code == 200
    [item] = response.json()["results"]
    assert item["id"] == key.public_id and item["status"] == "active"
    assert item["account"] == team.slug
    assert "secret" not in item and raw not in response.content.decode()


def test_it_lists_only_keys_the_person_may_manage(api, bob, charlie, team, issue_key):
    issue_key()
    charlies = charlie.memberships.get().account
    issue_key(account=charlies, created_by=charlie)
    assert len(as_user(api, bob).get("/api/v1/keys/").json()["results"]) == 1


def test_a_malformed_account_filter_is_a_400(api, alice):
    response = as_user(api, alice).get("/api/v1/keys/?account=%00")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["account"]


def test_list_for_an_outsider_404s(api, charlie, team):
    response = as_user(api, charlie).get(f"/api/v1/keys/?account={team.slug}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_billing_member_gets_403_with_a_code(api, user_factory, team):
    clerk = user_factory()
    Membership.objects.create(account=team, user=clerk, role=Role.BILLING)
    response = as_user(api, clerk).get(f"/api/v1/keys/?account={team.slug}")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_without_credentials_it_answers_401(api):
    response = api.get("/api/v1/keys/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


# --- create ---------------------------------------------------------------------------------


def test_create_works_and_returns_the_secret_once(api, alice, team):
    response = as_user(api, alice).post(
        "/api/v1/keys/",
        {"account": team.slug, "name": "API made", "environment": "test",
         "allowed_methods": ["get"], "allowed_ips": ["10.1.2.3"]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201
    body = response.json()
    assert keys.is_well_formed(body["secret"]) and body["secret"].startswith("tg_test_")
    key = ApiKey.objects.get(public_id=body["id"])
    assert key.key_hash == keys.hash_key(body["secret"])
    assert key.allowed_methods == ["GET"] and key.allowed_ips == ["10.1.2.3/32"]
    assert "secret" not in as_user(api, alice).get(f"/api/v1/keys/{key.public_id}/").json()
    assert AuditEvent.objects.filter(action="key.created", target=key.public_id).exists()


def test_create_without_an_account_uses_the_personal_one(api, alice):
    response = as_user(api, alice).post("/api/v1/keys/", {"name": "Mine"}, format="json")
    assert response.status_code == 201
    assert ApiKey.objects.get().account.is_personal


def test_create_by_a_developer_in_the_team(api, bob, team):
    response = as_user(api, bob).post(
        "/api/v1/keys/", {"account": team.slug, "name": "Bob's"}, format="json"
    )
    assert response.status_code == 201


def test_create_in_a_bad_account_404s(api, alice):
    response = as_user(api, alice).post(
        "/api/v1/keys/", {"account": "nope", "name": "x"}, format="json"
    )
    assert response.status_code == 404


def test_create_by_an_outsider_404s(api, charlie, team):
    response = as_user(api, charlie).post(
        "/api/v1/keys/", {"account": team.slug, "name": "x"}, format="json"
    )
    assert response.status_code == 404
    assert not ApiKey.objects.filter(account=team).exists()


def test_create_rejects_bad_input_with_field_errors(api, alice, team):
    response = as_user(api, alice).post(
        "/api/v1/keys/",
        {"account": team.slug, "name": "", "allowed_ips": ["nonsense"], "environment": "prod"},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert set(body["errors"]) == {"name", "allowed_ips", "environment"}
    assert not ApiKey.objects.exists()


def test_create_refuses_a_key_born_expired(api, alice, team):
    response = as_user(api, alice).post(
        "/api/v1/keys/",
        {"account": team.slug, "name": "late", "expires_at": "2020-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"expires_at": ["Pick a time in the future."]}
    assert not ApiKey.objects.exists()


def test_create_beyond_the_cap_is_a_409_with_a_code(api, alice, team, issue_key):
    issue_key()
    issue_key()
    response = as_user(api, alice).post(
        "/api/v1/keys/", {"account": team.slug, "name": "third"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "key_limit_reached"


def test_malformed_json_gets_a_clear_error(api, alice):
    response = as_user(api, alice).post(
        "/api/v1/keys/", data="{nope", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


# --- retrieve and update --------------------------------------------------------------------


def test_retrieve_works(api, bob, issue_key):
    key, _ = issue_key()
    response = as_user(api, bob).get(f"/api/v1/keys/{key.public_id}/")
    assert response.status_code == 200
    assert response.json()["id"] == key.public_id


def test_retrieve_a_bad_id_404s(api, alice):
    response = as_user(api, alice).get("/api/v1/keys/key_0000000000000000/")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "No such key"}
    malformed = as_user(api, alice).get("/api/v1/keys/key_%00/")
    assert malformed.status_code == 404 and malformed.json()["code"] == "not_found"


def test_update_works(api, alice, issue_key, django_capture_on_commit_callbacks):
    key, raw = issue_key()
    records.lookup(raw)
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(api, alice).patch(
            f"/api/v1/keys/{key.public_id}/",
            {"name": "Renamed", "allowed_path_prefixes": ["/v2/"]},
            format="json",
        )
    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    assert records.lookup(raw).allowed_path_prefixes == ("/v2/",)
    assert AuditEvent.objects.filter(action="key.updated").exists()


def test_update_by_a_developer_in_the_team(api, bob, issue_key):
    key, _ = issue_key()
    response = as_user(api, bob).patch(
        f"/api/v1/keys/{key.public_id}/", {"allowed_methods": ["POST"]}, format="json"
    )
    assert response.status_code == 200
    key.refresh_from_db()
    assert key.allowed_methods == ["POST"]


def test_update_a_bad_id_404s(api, alice):
    response = as_user(api, alice).patch("/api/v1/keys/key_nope/", {"name": "x"}, format="json")
    assert response.status_code == 404


def test_update_by_an_outsider_404s(api, charlie, issue_key):
    key, _ = issue_key()
    response = as_user(api, charlie).patch(
        f"/api/v1/keys/{key.public_id}/", {"name": "mine now"}, format="json"
    )
    assert response.status_code == 404
    key.refresh_from_db()
    assert key.name == "Server"


def test_update_refuses_unknown_methods(api, alice, issue_key):
    key, _ = issue_key()
    response = as_user(api, alice).patch(
        f"/api/v1/keys/{key.public_id}/", {"allowed_methods": ["FETCH"]}, format="json"
    )
    assert response.status_code == 400
    assert "allowed_methods" in response.json()["errors"]


# --- rotate ---------------------------------------------------------------------------------


def test_rotate_works(api, alice, issue_key):
    key, old_raw = issue_key()
    response = as_user(api, alice).post(
        f"/api/v1/keys/{key.public_id}/rotate/", {"grace": "1h"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert keys.is_well_formed(body["secret"]) and body["secret"] != old_raw
    assert body["replaces"]["id"] == key.public_id
    assert body["replaces"]["status"] == "retiring"
    assert body["replaces"]["replaced_by"] == body["id"]


def test_rotate_by_a_developer_in_the_team(api, bob, issue_key):
    key, _ = issue_key()
    assert as_user(api, bob).post(f"/api/v1/keys/{key.public_id}/rotate/").status_code == 201
    key.refresh_from_db()
    assert key.revoked_at is not None  # the default grace is none


def test_rotate_a_bad_id_404s(api, alice):
    assert as_user(api, alice).post("/api/v1/keys/key_nope/rotate/").status_code == 404


def test_rotate_by_an_outsider_404s(api, charlie, issue_key):
    key, _ = issue_key()
    assert as_user(api, charlie).post(f"/api/v1/keys/{key.public_id}/rotate/").status_code == 404
    assert ApiKey.objects.count() == 1


def test_rotate_refuses_get(api, alice, issue_key):
    key, _ = issue_key()
    response = as_user(api, alice).get(f"/api/v1/keys/{key.public_id}/rotate/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_rotate_twice_is_a_409(api, alice, issue_key):
    key, _ = issue_key()
    as_user(api, alice).post(f"/api/v1/keys/{key.public_id}/rotate/", {"grace": "7d"})
    response = api.post(f"/api/v1/keys/{key.public_id}/rotate/", {"grace": "7d"})
    assert response.status_code == 409
    assert response.json()["code"] == "key_not_active"


def test_rotate_with_a_bad_grace_is_a_400(api, alice, issue_key):
    key, _ = issue_key()
    response = as_user(api, alice).post(
        f"/api/v1/keys/{key.public_id}/rotate/", {"grace": "2y"}, format="json"
    )
    assert response.status_code == 400
    assert "grace" in response.json()["errors"]


# --- revoke ---------------------------------------------------------------------------------


def test_revoke_works(api, alice, issue_key, django_capture_on_commit_callbacks):
    key, raw = issue_key()
    records.lookup(raw)
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(api, alice).post(f"/api/v1/keys/{key.public_id}/revoke/")
    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    assert records.lookup(raw).status == "revoked"


def test_revoke_by_a_developer_in_the_team(api, bob, issue_key):
    key, _ = issue_key()
    assert as_user(api, bob).post(f"/api/v1/keys/{key.public_id}/revoke/").status_code == 200


def test_revoke_a_bad_id_404s(api, alice):
    assert as_user(api, alice).post("/api/v1/keys/key_nope/revoke/").status_code == 404


def test_revoke_by_an_outsider_404s(api, charlie, issue_key):
    key, _ = issue_key()
    assert as_user(api, charlie).post(f"/api/v1/keys/{key.public_id}/revoke/").status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_revoke_refuses_get(api, alice, issue_key):
    key, _ = issue_key()
    assert as_user(api, alice).get(f"/api/v1/keys/{key.public_id}/revoke/").status_code == 405


# --- personal access tokens -----------------------------------------------------------------


def test_a_personal_access_token_authenticates(api, alice, team, issue_key):
    issue_key()
    token, raw = PersonalAccessToken.objects.issue(alice, name="script")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = api.get(f"/api/v1/keys/?account={team.slug}")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1
    token.refresh_from_db()
    assert token.last_used_at is not None
    # Token requests carry no session, so no CSRF token is needed to mutate.
    response = api.post("/api/v1/keys/", {"account": team.slug, "name": "by token"})
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Bearer tg_pat_" + "a" * 32 + "_AAAAAA", "invalid_token"),
        ("Bearer", "invalid_token"),
        ("Bearer a b", "invalid_token"),
    ],
)
def test_a_bad_token_is_refused_with_401(api, header, code):
    api.credentials(HTTP_AUTHORIZATION=header)
    response = api.get("/api/v1/keys/")
    assert response.status_code == 401
    assert response.json()["code"] == code


def test_a_revoked_or_expired_token_is_refused(api, alice):
    from datetime import timedelta

    from django.utils import timezone

    revoked, raw_revoked = PersonalAccessToken.objects.issue(alice, name="old")
    revoked.revoke()
    _, raw_expired = PersonalAccessToken.objects.issue(
        alice, name="expired", expires_at=timezone.now() - timedelta(seconds=1)
    )
    for raw in (raw_revoked, raw_expired):
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        assert api.get("/api/v1/keys/").status_code == 401


def test_an_api_key_is_not_a_portal_token(api, issue_key):
    _, raw = issue_key()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = api.get("/api/v1/keys/")
    assert response.status_code == 401
    assert response.json()["code"] == "api_key_not_accepted"


@pytest.mark.parametrize(
    "prefix",
    ["/v1/../admin", "/v1//orders", "/v1/%2e%2e", "/v1/orders;x", "/v1\\orders", "v1/orders",
     "/v1/orders?x=1", "/v1/%6Frders", "/v1/caf\u00e9", "/v1/orders#x", "/v1/."],
)  # fmt: skip
def test_update_refuses_path_prefixes_the_gateway_would_never_match(api, alice, issue_key, prefix):
    key, _ = issue_key()
    response = as_user(api, alice).patch(
        f"/api/v1/keys/{key.public_id}/", {"allowed_path_prefixes": [prefix]}, format="json"
    )
    assert response.status_code == 400
    assert "allowed_path_prefixes" in response.json()["errors"]
    key.refresh_from_db()
    assert key.allowed_path_prefixes == []
