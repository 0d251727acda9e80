"""The one function every app uses to write the audit log."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.models import Account, AuditEvent, User


def client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: behind nginx portal.proxies sets it from the entry nginx appended to
    # X-Forwarded-For, never from one the client controls.
    return request.META.get("REMOTE_ADDR") or None


def record(
    account: Account,
    action: str,
    *,
    actor: User | None = None,
    target: str = "",
    request: HttpRequest | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record `action` (dotted, e.g. "key.revoked") on `account`; call inside the change's
    transaction so the event and the change commit or roll back together."""
    if request is not None and actor is None and request.user.is_authenticated:
        actor = request.user
    return AuditEvent.objects.create(
        account=account,
        actor=actor,
        action=action,
        target=target[:200],
        ip=client_ip(request) if request is not None else None,
        data=data or {},
    )
