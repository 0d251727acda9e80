from __future__ import annotations

import pytest

from accounts.models import AuditEvent
from apikeys import keys
from apikeys.models import ApiKey
from catalog.models import ApiProduct, Plan

pytestmark = pytest.mark.django_db


def url(team):
    return f"/a/{team.slug}/keys/new/"


def test_it_creates_a_key_and_shows_it_once(client, alice, team):
    client.force_login(alice)
    response = client.post(url(team), {"name": "CI", "environment": "live"})
    assert response.status_code == 200
    key = ApiKey.objects.get(account=team)
    raw = keys.key_pattern("tg").search(response.content.decode()).group(0)
    assert keys.hash_key(raw) == key.key_hash
    assert key.created_by == alice and key.name == "CI"
    assert 'data-copy-target="#new-raw-key"' in response.content.decode()
    assert AuditEvent.objects.filter(account=team, action="key.created").count() == 1
    # Never again: the page after that shows the key masked only.
    assert raw not in client.get(f"/a/{team.slug}/keys/").content.decode()


def test_it_answers_htmx_with_the_panel_only(client, alice, team):
    client.force_login(alice)
    response = client.post(url(team), {"name": "CI", "environment": "test"}, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="key-panel"' in page and "<html" not in page
    assert keys.key_pattern("tg").search(page).group(0).startswith("tg_test_")


def test_a_developer_in_the_team_can(client, bob, team):
    client.force_login(bob)
    assert client.post(url(team), {"name": "Bob's", "environment": "live"}).status_code == 200
    assert ApiKey.objects.get(account=team).created_by == bob


def test_a_bad_account_404s(client, alice):
    client.force_login(alice)
    assert client.post("/a/nope/keys/new/", {"name": "x", "environment": "live"}).status_code == 404


def test_an_outsider_gets_404(client, charlie, team):
    client.force_login(charlie)
    assert client.post(url(team), {"name": "x", "environment": "live"}).status_code == 404
    assert not ApiKey.objects.exists()


def test_get_is_refused(client, alice, team):
    client.force_login(alice)
    assert client.get(url(team)).status_code == 405


def test_it_stops_at_the_plans_key_cap(client, alice, team, issue_key):
    team.plan = Plan.objects.create(slug="tiny", name="Tiny", max_live_keys=1)
    team.save()
    issue_key()
    client.force_login(alice)
    response = client.post(url(team), {"name": "second", "environment": "live"})
    assert response.status_code == 400
    assert "revoke one before creating another" in response.content.decode()
    assert ApiKey.objects.count() == 1
    # Sandbox keys are not capped by the plan.
    assert client.post(url(team), {"name": "sandbox", "environment": "test"}).status_code == 200


def test_without_any_plan_the_default_cap_is_two(alice, team, issue_key):
    from apikeys.models import KeyLimitReached

    issue_key()
    issue_key()
    with pytest.raises(KeyLimitReached):
        issue_key()


def test_it_keeps_restrictions_and_rejects_bad_ones_clearly(client, alice, team):
    ApiProduct.objects.create(
        slug="maps", name="Maps", path_prefix="/maps/", upstream_url="http://x"
    )
    client.force_login(alice)
    good = {
        "name": "Restricted", "environment": "live", "allowed_products": ["maps"],
        "allowed_methods": ["GET", "HEAD"], "allowed_path_prefixes": "/maps/v1/\n/maps/v2/",
        "allowed_ips": "203.0.113.7, 2001:db8::/32",
    }  # fmt: skip
    assert client.post(url(team), good).status_code == 200
    key = ApiKey.objects.get()
    assert key.allowed_products == ["maps"]
    assert key.allowed_methods == ["GET", "HEAD"]
    assert key.allowed_path_prefixes == ["/maps/v1/", "/maps/v2/"]
    assert key.allowed_ips == ["203.0.113.7/32", "2001:db8::/32"]

    bad = {**good, "name": "Bad", "allowed_ips": "not-an-ip", "allowed_path_prefixes": "v1"}
    response = client.post(url(team), bad)
    page = response.content.decode()
    assert response.status_code == 400
    assert "is not an IP address or CIDR range" in page
    assert "is not a path prefix" in page
    assert ApiKey.objects.count() == 1

    for prefix in ("/maps/v1/../admin", "/maps//v1", "/maps/%2e%2e/x", "/maps/v1;x"):
        response = client.post(url(team), {**good, "allowed_path_prefixes": prefix})
        assert response.status_code == 400
        assert "is not a path prefix" in response.content.decode()
    assert ApiKey.objects.count() == 1


def test_it_refuses_an_expiry_in_the_past(client, alice, team):
    client.force_login(alice)
    response = client.post(
        url(team), {"name": "x", "environment": "live", "expires_at": "2001-01-01T00:00"}
    )
    assert response.status_code == 400
    assert "Pick a time in the future" in response.content.decode()
    assert not ApiKey.objects.exists()
