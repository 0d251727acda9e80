"""The verbs on endpoints that pages and the API share, each with its audit event."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.models import Account, User, lock_account
from core.audit import AuditContext
from webhooks.models import Endpoint


class EndpointRefused(Exception):
    """A registration or change the limits refuse; the message is shown to the person."""

    def __init__(self, message: str, code: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field  # the input it is about, if one


def check_room(account: Account, url: str, *, changing: Endpoint | None = None) -> None:
    """Each endpoint gets its own POST of every event: many endpoints, or one URL registered
    many times, would let an account fan one event out into a flood at someone's server.
    Call with the account locked, so two registrations at once cannot both pass."""
    others = account.webhook_endpoints.all()
    if changing is not None:
        others = others.exclude(pk=changing.pk)
    if others.filter(url=url).exists():
        raise EndpointRefused(
            "This account already has an endpoint with this URL.", "duplicate_url", "url"
        )
    limit = settings.WEBHOOKS_ENDPOINTS_PER_ACCOUNT
    if changing is None and others.count() >= limit:
        raise EndpointRefused(
            f"An account may have {limit} webhook endpoints; delete one before adding another.",
            "too_many_endpoints",
        )


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
        check_room(lock_account(account), url)
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
    with transaction.atomic():
        if url is not None:
            check_room(lock_account(endpoint.account), url, changing=endpoint)
            endpoint.url = url
        if event_types is not None:
            endpoint.event_types = sorted(set(event_types))
        if description is not None:
            endpoint.description = description
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
