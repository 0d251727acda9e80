"""A member who leaves the team (removed, leaving, or deleting their profile) leaves with the keys
they created revoked, unless the removal chose to keep them: they saw each key in full, and it
would go on working for them on the team's quota and bill."""

from __future__ import annotations

import pytest

from accounts.models import AuditEvent, Membership
from apikeys import records
from apikeys.models import ApiKey
from tests.gateway.support import ask, forget_caches, make_plan, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_record_cache():
    records.cache.clear()
    yield
    records.cache.clear()


@pytest.fixture
def bobs_keys(team, bob):
    """Bob's live and test keys in Alice's team: [(key, raw), ...]."""
    return [
        ApiKey.objects.issue(team, name="Bob's server", created_by=bob),
        ApiKey.objects.issue(team, name="Bob's sandbox", environment="test", created_by=bob),
    ]


@pytest.fixture
def alices_key(team, alice):
    return ApiKey.objects.issue(team, name="Alice's server", created_by=alice)


def remove_url(team, user):
    return f"/a/{team.slug}/members/{Membership.objects.get(account=team, user=user).pk}/remove/"


def status_of(key):
    key.refresh_from_db()
    return key.status()


def test_removing_a_member_revokes_their_keys_everywhere_at_once(
    client, alice, bob, team, bobs_keys, alices_key, django_capture_on_commit_callbacks
):
    for _, raw in bobs_keys:
        assert records.lookup(raw).status == "active"  # cached in this process
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(remove_url(team, bob))
    assert response.status_code == 302
    assert "Their 2 keys were revoked." in client.get(response.url).content.decode()
    for key, raw in bobs_keys:
        assert status_of(key) == "revoked"
        # The published invalidation dropped the cached record: no cache flush needed.
        assert records.lookup(raw).status == "revoked"
        event = AuditEvent.objects.get(action="key.revoked", target=key.public_id)
        assert (event.actor, event.data) == (alice, {"reason": "member_removed"})
    assert status_of(alices_key[0]) == "active"
    removed = team.audit_events.get(action="member.removed")
    assert removed.data == {"role": "developer", "keys": "revoked"}


def test_the_gateway_refuses_a_removed_members_key(
    client, alice, bob, team, redis_db, django_capture_on_commit_callbacks
):
    """The probe's case: Bob makes a live key on the page, Alice removes him."""
    make_plan("free", [make_product()], is_default=True)
    bobs = type(client)()
    bobs.force_login(bob)
    raw = bobs.post(f"/a/{team.slug}/keys/new/", {"name": "bob's", "environment": "live"}).context[
        "raw_key"
    ]
    forget_caches()
    assert ask(raw)[0] == 204
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(remove_url(team, bob))
    assert ask(raw)[0] == 401


def test_the_confirmation_lists_their_keys_and_offers_to_keep_them(
    client, alice, bob, team, bobs_keys, alices_key
):
    live, _ = bobs_keys[0]
    ApiKey.objects.filter(pk=live.pk).update(last_used_at="2020-01-01T00:00Z")
    client.force_login(alice)
    page = client.get(remove_url(team, bob)).content.decode()
    assert "bob@example.com created 2 working keys in Alice&#x27;s team" in page
    for key, _ in bobs_keys:
        assert key.name.replace("'", "&#x27;") in page and key.masked in page
    assert "Live" in page and "Test" in page and " ago" in page and "never" in page
    assert "Alice&#x27;s server" not in page
    assert 'value="revoke" id="id_keys_0" checked' in page
    assert 'value="keep"' in page


def test_the_removal_can_keep_their_keys(client, alice, bob, team, bobs_keys):
    client.force_login(alice)
    response = client.post(remove_url(team, bob), {"keys": "keep"})
    assert "Their 2 keys keep working." in client.get(response.url).content.decode()
    assert not Membership.objects.filter(account=team, user=bob).exists()
    for key, _ in bobs_keys:
        assert status_of(key) == "active"
        event = AuditEvent.objects.get(action="key.kept", target=key.public_id)
        assert (event.actor, event.data) == (alice, {"reason": "member_removed"})
    assert team.audit_events.get(action="member.removed").data["keys"] == "kept"
    assert not AuditEvent.objects.filter(action="key.revoked").exists()


def test_a_choice_it_does_not_offer_is_refused_in_the_page(client, alice, bob, team, bobs_keys):
    client.force_login(alice)
    response = client.post(remove_url(team, bob), {"keys": "give-them-away"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert Membership.objects.filter(account=team, user=bob).exists()
    assert all(status_of(key) == "active" for key, _ in bobs_keys)


def test_a_member_without_keys_is_removed_without_a_question_about_them(client, alice, bob, team):
    client.force_login(alice)
    page = client.get(remove_url(team, bob)).content.decode()
    assert "bob@example.com has no working keys" in page and 'name="keys"' not in page


def test_leaving_revokes_your_keys_unless_you_keep_them(
    client, bob, team, bobs_keys, django_capture_on_commit_callbacks
):
    client.force_login(bob)
    page = client.get(f"/a/{team.slug}/leave/").content.decode()
    assert "You created 2 working keys in Alice&#x27;s team" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/a/{team.slug}/leave/")
    assert "Your 2 keys were revoked." in client.get(response.url).content.decode()
    for key, raw in bobs_keys:
        assert records.lookup(raw).status == "revoked"
        event = AuditEvent.objects.get(action="key.revoked", target=key.public_id)
        assert (event.actor, event.data) == (bob, {"reason": "member_left"})
    assert team.audit_events.get(action="member.left").data["keys"] == "revoked"


def test_leaving_can_keep_your_keys(client, bob, team, bobs_keys):
    client.force_login(bob)
    client.post(f"/a/{team.slug}/leave/", {"keys": "keep"})
    assert not Membership.objects.filter(account=team, user=bob).exists()
    assert all(status_of(key) == "active" for key, _ in bobs_keys)
    assert AuditEvent.objects.filter(action="key.kept", data__reason="member_left").count() == 2


def test_only_the_members_own_keys_of_this_account_are_touched(
    client, alice, bob, team, bobs_keys, alices_key
):
    bobs_personal = bob.memberships.get(account__is_personal=True).account
    elsewhere, _ = ApiKey.objects.issue(bobs_personal, name="Bob's own", created_by=bob)
    client.force_login(alice)
    client.post(remove_url(team, bob))
    assert status_of(elsewhere) == "active"
    assert status_of(alices_key[0]) == "active"


def delete_profile(client, user, **fields):
    return client.post("/profile/delete/", {"confirm": user.email, **fields})


def test_deleting_a_profile_lists_and_revokes_the_keys_left_in_teams(
    client, sign_in, alice, bob, team, bobs_keys, django_capture_on_commit_callbacks
):
    sign_in(bob)
    page = client.get("/profile/delete/").content.decode()
    assert "Alice&#x27;s team" in page and bobs_keys[0][0].masked in page
    assert 'value="keep"' in page
    with django_capture_on_commit_callbacks(execute=True):
        assert delete_profile(client, bob).status_code == 302
    for key, raw in bobs_keys:
        assert status_of(key) == "revoked"
        assert records.lookup(raw).status == "revoked"
        assert AuditEvent.objects.get(action="key.revoked", target=key.public_id).data == {
            "reason": "profile_deleted"
        }
    assert team.audit_events.get(action="member.deleted_profile").data == {"keys": "revoked"}


def test_deleting_a_profile_can_keep_them_and_the_keys_page_says_whose_they_were(
    client, sign_in, alice, bob, team, bobs_keys
):
    sign_in(bob)
    delete_profile(client, bob, keys="keep")
    for key, _ in bobs_keys:
        assert status_of(key) == "active"
        assert key.created_by is None and key.creator_deleted_at is not None
    client.force_login(alice)
    page = client.get(f"/a/{team.slug}/keys/").content.decode()
    assert page.count("by a person who has deleted their profile") == 2
    assert page.count("creator no longer a member") == 2
