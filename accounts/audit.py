"""The one function every app uses to write the audit log."""

from __future__ import annotations

from typing import Any

from accounts.models import Account, AuditEvent, User
from core.audit import AuditContext


def record(
    account: Account,
    action: str,
    *,
    actor: User | None = None,
    target: str = "",
    audit_context: AuditContext | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record `action` (dotted, e.g. "key.revoked") on `account`; call inside the change's
    transaction so the event and the change commit or roll back together."""
    return AuditEvent.objects.record(
        account, action, actor=actor, target=target, audit_context=audit_context, data=data
    )
