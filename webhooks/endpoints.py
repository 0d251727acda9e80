"""The verbs on endpoints that pages and the API share, each with its audit event."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.models import Account, User
from core.audit import AuditContext
from webhooks.models import Endpoint


def create(
    account: Account,
    user: User,
    audit_context: AuditContext | None,
    *,
    url: str,
    event_types: list[str],
    description: str = "",
) -> Endpoint:
    with transaction.atomic():
        endpoint = Endpoint.objects.create(
            account=account,
            url=url,
            description=description,
            event_types=sorted(set(event_types)),
            created_by=user,
        )
        audit.record(
            account,
            "webhook.created",
            actor=user,
            target=endpoint.public_id,
            audit_context=audit_context,
            data={"url": url, "event_types": endpoint.event_types},
        )
    return endpoint


def update(
    endpoint: Endpoint,
    user: User,
    audit_context: AuditContext | None,
    *,
    url: str | None = None,
    event_types: list[str] | None = None,
    description: str | None = None,
) -> Endpoint:
    """Change what is given; None leaves a field as it is."""
    if url is not None:
        endpoint.url = url
    if event_types is not None:
        endpoint.event_types = sorted(set(event_types))
    if description is not None:
        endpoint.description = description
    with transaction.atomic():
        endpoint.save(update_fields=["url", "event_types", "description"])
        audit.record(
            endpoint.account,
            "webhook.updated",
            actor=user,
            target=endpoint.public_id,
            audit_context=audit_context,
            data={"url": endpoint.url, "event_types": endpoint.event_types},
        )
    return endpoint


def roll_secret(endpoint: Endpoint, user: User, audit_context: AuditContext | None) -> str:
    with transaction.atomic():
        secret = endpoint.roll_secret()
        audit.record(
            endpoint.account,
            "webhook.secret_rolled",
            actor=user,
            target=endpoint.public_id,
            audit_context=audit_context,
        )
    return secret


def set_enabled(
    endpoint: Endpoint, enabled: bool, user: User, audit_context: AuditContext | None
) -> None:
    with transaction.atomic():
        if enabled:
            endpoint.enable()
        else:
            Endpoint.objects.filter(pk=endpoint.pk).update(
                disabled_at=timezone.now(), disabled_reason=f"Disabled by {user.email}."
            )
        action = "webhook.enabled" if enabled else "webhook.disabled"
        audit.record(
            endpoint.account,
            action,
            actor=user,
            target=endpoint.public_id,
            audit_context=audit_context,
        )
    endpoint.refresh_from_db()


def delete(endpoint: Endpoint, user: User, audit_context: AuditContext | None) -> None:
    with transaction.atomic():
        audit.record(
            endpoint.account,
            "webhook.deleted",
            actor=user,
            target=endpoint.public_id,
            audit_context=audit_context,
            data={"url": endpoint.url},
        )
        endpoint.delete()
