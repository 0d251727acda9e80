from __future__ import annotations

import pytest

from accounts.models import Account, AuditEvent
from accounts.roles import Perm, Role
from apikeys.models import PersonalAccessToken
from catalog.models import Plan

pytestmark = pytest.mark.django_db


def signed_in(api, user):
    api.force_login(user)
    return api


def with_token(api, user):
    _, raw = PersonalAccessToken.objects.issue(user, name="script")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


def rename(api, account, name="Renamed"):
    return api.patch(f"/api/v1/accounts/{account.slug}/", {"name": name}, format="json")


# --- list -----------------------------------------------------------------------------------
def test_it_lists_the_callers_accounts_with_role_and_plan(api, alice, team):
    Plan.objects.create(slug="free", name="Free", is_default=True)
    body = signed_in(api, alice).get("/api/v1/accounts/").json()
    personal, team_row = body["results"]
    assert body["count"] == 2
    assert personal["is_personal"] is True and personal["role"] == "owner"
    assert team_row["slug"] == team.slug and team_row["name"] == "Alice's team"
    assert team_row["plan"] == {"slug": "free", "name": "Free"}
    assert set(team_row["permissions"]) == {perm.value for perm in Perm}


def test_a_developer_sees_their_role_and_what_it_allows(api, bob, team):
    [team_row] = [
        row for row in signed_in(api, bob).get("/api/v1/accounts/").json()["results"]
        if row["slug"] == team.slug
    ]  # fmt: skip
    assert team_row["role"] == "developer"
    assert "manage_keys" in team_row["permissions"]
    assert "manage_account" not in team_row["permissions"]
    assert team_row["plan"] is None  # no catalog, no default plan


def test_it_leaves_out_other_peoples_and_closed_accounts(api, alice, team, charlie):
    closed = Account.objects.create_with_owner("Old team", alice)
    closed.mark_closed(actor=alice)
    slugs = [
        row["slug"] for row in signed_in(api, charlie).get("/api/v1/accounts/").json()["results"]
    ]
    assert len(slugs) == 1 and team.slug not in slugs
    alices = [
        row["slug"] for row in signed_in(api, alice).get("/api/v1/accounts/").json()["results"]
    ]
    assert closed.slug not in alices and team.slug in alices


def test_without_credentials_it_answers_401(api, team):
    for url in ["/api/v1/accounts/", f"/api/v1/accounts/{team.slug}/"]:
        response = api.get(url)
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"


# --- retrieve -------------------------------------------------------------------------------
def test_any_member_can_read_the_account(api, bob, team):
    response = with_token(api, bob).get(f"/api/v1/accounts/{team.slug}/")
    assert response.status_code == 200
    assert response.json()["slug"] == team.slug and response.json()["role"] == "developer"


@pytest.mark.parametrize("suffix", ["", "members/"])
def test_an_outsider_and_a_bad_slug_get_404(api, charlie, team, suffix):
    signed_in(api, charlie)
    for slug in [team.slug, "no-such-team"]:
        response = api.get(f"/api/v1/accounts/{slug}/{suffix}")
        assert response.status_code == 404
        assert response.json() == {"code": "not_found", "detail": "No such account"}


def test_a_closed_account_is_gone(api, alice, team):
    team.mark_closed(actor=alice)
    assert signed_in(api, alice).get(f"/api/v1/accounts/{team.slug}/").status_code == 404


# --- rename ---------------------------------------------------------------------------------
def test_rename_works_and_is_audited_like_the_page(api, alice, team):
    response = rename(signed_in(api, alice), team)
    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    assert Account.objects.get(pk=team.pk).name == "Renamed"
    event = team.audit_events.get(action="account.renamed")
    assert (event.actor, event.target, event.data) == (alice, "Renamed", {"from": "Alice's team"})
    assert event.ip == "127.0.0.1"


def test_rename_works_with_a_token(api, alice, team):
    assert rename(with_token(api, alice), team, "By script").status_code == 200
    assert Account.objects.get(pk=team.pk).name == "By script"


def test_a_second_owner_can_rename(api, user_factory, team):
    owner = user_factory()
    team.memberships.create(user=owner, role=Role.OWNER)
    assert rename(signed_in(api, owner), team).status_code == 200


@pytest.mark.parametrize("role", [Role.ADMIN, Role.DEVELOPER, Role.BILLING])
def test_other_roles_get_403_and_nothing_changes(api, user_factory, team, role):
    member = user_factory()
    team.memberships.create(user=member, role=role)
    response = rename(signed_in(api, member), team)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert Account.objects.get(pk=team.pk).name == "Alice's team"
    assert not AuditEvent.objects.filter(action="account.renamed").exists()


def test_rename_404s_for_an_outsider(api, charlie, team):
    response = rename(signed_in(api, charlie), team)
    assert response.status_code == 404
    assert Account.objects.get(pk=team.pk).name == "Alice's team"


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "This field may not be blank."), ("x" * 101, "no more than 100 characters")],
)
def test_a_bad_name_gets_400_invalid(api, alice, team, name, message):
    response = rename(signed_in(api, alice), team, name)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and message in body["errors"]["name"][0]
    assert Account.objects.get(pk=team.pk).name == "Alice's team"
    assert not AuditEvent.objects.filter(action="account.renamed").exists()


def test_an_empty_patch_changes_nothing(api, alice, team):
    response = signed_in(api, alice).patch(f"/api/v1/accounts/{team.slug}/", {}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "Alice's team"
    assert not AuditEvent.objects.filter(action="account.renamed").exists()


def test_other_methods_get_405_with_a_code(api, alice, team):
    response = signed_in(api, alice).delete(f"/api/v1/accounts/{team.slug}/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert Account.objects.get(pk=team.pk).closed_at is None


# --- members --------------------------------------------------------------------------------
def test_it_lists_the_members_with_their_roles(api, alice, bob, team):
    response = with_token(api, bob).get(f"/api/v1/accounts/{team.slug}/members/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(r["email"], r["role"], r["name"]) for r in rows] == [
        ("alice@example.com", "owner", "Alice"),
        ("bob@example.com", "developer", "Bob"),
    ]
    assert rows[0]["id"] == team.memberships.get(user=alice).pk


def test_a_billing_member_sees_the_members_too(api, user_factory, team):
    clerk = user_factory()
    team.memberships.create(user=clerk, role=Role.BILLING)
    response = signed_in(api, clerk).get(f"/api/v1/accounts/{team.slug}/members/")
    assert response.status_code == 200 and response.json()["count"] == 2
