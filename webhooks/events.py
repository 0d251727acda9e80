"""The one function other apps call when something a customer may subscribe to happens."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction

from accounts.models import Account
from webhooks.models import Delivery, Endpoint, Event


def emit(account: Account, event_type: str, occurrence: str, data: dict[str, Any]) -> Event | None:
    """Record that `event_type` happened to `account` and queue its deliveries.

    Call inside the change's transaction: the event commits or rolls back with it, and the
    deliveries start after commit. `occurrence` names the thing that happened uniquely (e.g.
    "key.revoked:<key id>"); a second call with it adds nothing, so replays never send twice.
    Returns None when no endpoint wants the event (nothing is stored).
    """
    endpoints = [
        endpoint
        for endpoint in Endpoint.objects.filter(account=account, disabled_at__isnull=True)
        if endpoint.wants(event_type)
    ]
    if not endpoints:
        return None
    with transaction.atomic():
        event, created = Event.objects.get_or_create(
            occurrence=occurrence[:255],
            defaults={"account": account, "type": event_type, "data": data},
        )
        if not created:
            return None
        deliveries = Delivery.objects.bulk_create(
            Delivery(endpoint=endpoint, event=event, next_attempt_at=event.created_at)
            for endpoint in endpoints
        )
        queue_on_commit([d.pk for d in deliveries])
    return event


def queue_on_commit(delivery_ids: list[int]) -> None:
    from webhooks.tasks import deliver

    def queue() -> None:
        for delivery_id in delivery_ids:
            deliver.delay(delivery_id)

    transaction.on_commit(queue)


def body(event: Event) -> bytes:
    """The JSON a receiver gets; the same bytes on every attempt."""
    return json.dumps(
        {
            "id": event.public_id,
            "type": event.type,
            "created": int(event.created_at.timestamp()),
            "account": event.account.slug,
            "data": event.data,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
