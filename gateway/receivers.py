from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import receiver

from accounts.signals import account_policy_changed
from catalog.signals import catalog_applied
from gateway import invalidation


@receiver(account_policy_changed, dispatch_uid="gateway.forget_account_policy")
def forget_account_policy(sender: Any, account_id: int, **_: Any) -> None:
    # After commit: a process that reloads on the message must read the new plan, not the old.
    transaction.on_commit(lambda: invalidation.publish(str(account_id)))


@receiver(catalog_applied, dispatch_uid="gateway.forget_catalog")
def forget_catalog(sender: Any, **_: Any) -> None:
    transaction.on_commit(lambda: invalidation.publish(invalidation.EVERYTHING))
