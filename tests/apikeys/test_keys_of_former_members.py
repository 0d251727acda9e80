"""Keys a team kept after their creator left: marked on the keys page, no longer a channel to the
former member, and no new key for someone already removed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from accounts.models import AuditEvent, Membership
from accounts.roles import Role
from apikeys.models import ApiKey, KeyActionError, emails_to_remind

pytestmark = pytest.mark.django_db


def remove(member, by):
    member.remove(by=by, keep_keys=True)


def memberships(team, *users):
    return [Membership.objects.get(account=team, user=user) for user in users]


def test_the_keys_page_marks_keys_whose_creator_left(client, alice, bob, team, issue_key):
    bobs, _ = issue_key(name="Bob's server", created_by=bob)
    alices, _ = issue_key(name="Alice's server")
    bob_in_team, alice_in_team = memberships(team, bob, alice)
    client.force_login(alice)
    assert "creator no longer a member" not in client.get(f"/a/{team.slug}/keys/").content.decode()
    remove(bob_in_team, alice_in_team)
    page = client.get(f"/a/{team.slug}/keys/").content.decode()
    assert "1 working key below was created by people who are no longer members" in page
    row_of = {key: page[page.index(f'id="row-{key.public_id}"') :][:1500] for key in (bobs, alices)}
    assert "creator no longer a member" in row_of[bobs]
    assert "creator no longer a member" not in row_of[alices]


def test_a_key_rotated_by_a_member_is_theirs_and_no_longer_marked(
    client, alice, bob, team, issue_key
):
    bobs, _ = issue_key(name="Bob's server", created_by=bob)
    remove(*memberships(team, bob, alice))
    bobs.rotate(timedelta(0), actor=alice)
    client.force_login(alice)
    page = client.get(f"/a/{team.slug}/keys/").content.decode()
    assert "creator no longer a member" not in page


def test_a_member_who_returns_is_a_member_again(client, alice, bob, team, issue_key):
    issue_key(created_by=bob)
    remove(*memberships(team, bob, alice))
    Membership.objects.create(account=team, user=bob, role=Role.DEVELOPER)
    client.force_login(alice)
    assert "creator no longer a member" not in client.get(f"/a/{team.slug}/keys/").content.decode()


def test_expiry_reminders_no_longer_go_to_a_former_member(alice, bob, team, issue_key):
    key, _ = issue_key(created_by=bob)
    assert emails_to_remind(key) == ["alice@example.com", "bob@example.com"]
    remove(*memberships(team, bob, alice))
    assert emails_to_remind(key) == ["alice@example.com"]


def test_no_key_is_made_for_someone_no_longer_a_member(alice, bob, team):
    """Checked under the account's lock, which the removal holds: a create racing the removal
    waits for it, then finds no membership."""
    remove(*memberships(team, bob, alice))
    with pytest.raises(KeyActionError) as refused:
        ApiKey.objects.issue(team, name="late", created_by=bob)
    assert refused.value.code == "not_a_member"
    assert not ApiKey.objects.filter(name="late").exists()


def test_nor_for_a_member_whose_role_cannot_manage_keys(member_with_billing_role, team):
    with pytest.raises(KeyActionError):
        ApiKey.objects.issue(team, name="billing's", created_by=member_with_billing_role)


@pytest.fixture
def member_with_billing_role(user_factory, team):
    user = user_factory()
    Membership.objects.create(account=team, user=user, role=Role.BILLING)
    return user


def test_closing_an_account_names_who_closed_it_on_each_revoked_key(alice, team, issue_key):
    key, _ = issue_key()
    team.close(by=Membership.objects.get(account=team, user=alice))
    event = AuditEvent.objects.get(action="key.revoked", target=key.public_id)
    assert (event.actor, event.data) == (alice, {"reason": "account_closed"})
