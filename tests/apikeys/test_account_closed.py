from __future__ import annotations

import pytest
from django.db import transaction

from accounts.models import AuditEvent
from accounts.signals import account_closed
from apikeys import records

pytestmark = pytest.mark.django_db


def test_closing_an_account_revokes_all_its_keys(
    team, issue_key, charlie, django_capture_on_commit_callbacks
):
    first, first_raw = issue_key()
    second, _ = issue_key(environment="test")
    others, _ = issue_key(account=charlie.memberships.get().account, created_by=charlie)
    assert records.lookup(first_raw).status == "active"
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        account_closed.send(sender=type(team), account=team)
    for key in (first, second):
        key.refresh_from_db()
        assert key.revoked_at is not None
    others.refresh_from_db()
    assert others.revoked_at is None
    assert records.lookup(first_raw).status == "revoked"
    assert AuditEvent.objects.filter(account=team, action="key.revoked").count() == 2
