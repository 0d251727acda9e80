from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apikeys import keys
from apikeys.models import ApiKey

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_issue_key_prints_the_raw_key_alone(team):
    out, err = run("issue_key", "--account", team.slug, "--name", "Partner", "--env", "test")
    raw = out.strip()
    assert out == raw + "\n"
    assert keys.is_well_formed(raw) and raw.startswith("tg_test_")
    key = ApiKey.objects.get(key_hash=keys.hash_key(raw))
    assert key.account == team and key.name == "Partner"
    assert key.public_id in err


def test_issue_key_finds_a_personal_account_by_owner_email(alice):
    out, _ = run("issue_key", "--account", "alice@example.com")
    key = ApiKey.objects.get()
    assert key.account.is_personal and key.key_hash == keys.hash_key(out.strip())


def test_issue_key_explains_an_unknown_account(db):
    with pytest.raises(CommandError, match="No single account"):
        run("issue_key", "--account", "nobody")


def test_issue_key_respects_the_cap_unless_told(team, issue_key):
    issue_key()
    issue_key()
    with pytest.raises(CommandError, match="ignore-limit"):
        run("issue_key", "--account", team.slug)
    out, _ = run("issue_key", "--account", team.slug, "--ignore-limit")
    assert keys.is_well_formed(out.strip())


def test_revoke_key_by_id(issue_key):
    key, _ = issue_key()
    out, _ = run("revoke_key", key.public_id)
    assert "Revoked" in out
    key.refresh_from_db()
    assert key.revoked_at is not None
    out, _ = run("revoke_key", key.public_id)
    assert "already revoked" in out


def test_revoke_key_by_display_prefix(issue_key):
    key, _ = issue_key()
    run("revoke_key", key.prefix)
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_revoke_key_refuses_an_ambiguous_or_unknown_prefix(issue_key):
    first, _ = issue_key()
    second, _ = issue_key()
    ApiKey.objects.filter(pk=second.pk).update(prefix=first.prefix)
    with pytest.raises(CommandError, match="several keys"):
        run("revoke_key", first.prefix)
    with pytest.raises(CommandError, match="No key"):
        run("revoke_key", "tg_live_zzzz")
    assert not ApiKey.objects.filter(revoked_at__isnull=False).exists()
