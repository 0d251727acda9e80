"""This release's migrations on the previous release's data: keys (revoked or not, with their
creator) and users and invitations keep every value; a key gains no creator_deleted_at, so no
key is revoked or marked by the upgrade itself."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("apikeys", "0002_tokens_and_lookups"), ("accounts", "0002_invitations")]
AFTER = [("apikeys", "0003_key_creator_deleted_at"), ("accounts", "0003_canonical_email_addresses")]
REVOKED = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_keys_users_and_invitations_of_the_previous_release_are_kept(team, alice):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        old = executor.loader.project_state(BEFORE).apps
        key = old.get_model("apikeys", "ApiKey")
        for name, revoked in (("live one", None), ("old one", REVOKED)):
            key.objects.create(
                account_id=team.id, name=name, environment="live", prefix=f"tg_live_{name[:3]}",
                last4="abcd", key_hash=f"{name}-hash", created_by_id=alice.id, revoked_at=revoked,
                allowed_methods=["GET"],
            )  # fmt: skip
        old.get_model("accounts", "Invitation").objects.create(
            account_id=team.id, email="Carol@Example.com", role="developer", invited_by_id=alice.id
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    new = executor.loader.project_state(AFTER).apps
    kept = {
        k.name: (k.revoked_at, k.created_by_id, k.allowed_methods, k.creator_deleted_at)
        for k in new.get_model("apikeys", "ApiKey").objects.filter(account_id=team.id)
    }
    assert kept == {
        "live one": (None, alice.id, ["GET"], None),
        "old one": (REVOKED, alice.id, ["GET"], None),
    }
    invitation = new.get_model("accounts", "Invitation").objects.get(account_id=team.id)
    assert invitation.email == "Carol@Example.com"  # stored spellings stay as they were
    assert new.get_model("accounts", "User").objects.get(pk=alice.id).email == alice.email
