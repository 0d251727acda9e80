from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import Signal, receiver

from accounts.models import Account, User


@receiver(post_save, sender=User, dispatch_uid="accounts.personal_account")
def create_personal_account(sender: type[User], instance: User, created: bool, **_: Any) -> None:
    """Every new person gets a personal account they own, so they can start at once."""
    if created:
        name = instance.get_full_name() or instance.email.split("@")[0]
        Account.objects.create_with_owner(name, instance, is_personal=True)


# Sent (with account_id=...) whenever what the gateway enforces for an account changes: its plan,
# billing period, payment standing or spend cap. The gateway drops its cached policy for that
# account in every process when it hears it.
account_policy_changed = Signal()

# Sent (with account=...) inside the transaction that closes an account: apikeys revokes its keys,
# billing cancels its subscription through the billing seam.
account_closed = Signal()
