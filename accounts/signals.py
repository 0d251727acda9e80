from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import Account, User
from core.signals import account_closed, account_policy_changed, membership_ended


@receiver(post_save, sender=User, dispatch_uid="accounts.personal_account")
def create_personal_account(sender: type[User], instance: User, created: bool, **_: Any) -> None:
    """Every new person gets a personal account they own, so they can start at once."""
    if created:
        name = instance.get_full_name() or instance.email.split("@")[0]
        Account.objects.create_with_owner(name, instance, is_personal=True)


# Defined in core (so accounts.models can send them without importing this module); named here
# too, where the receivers of the other apps have always found them.
__all__ = [
    "account_closed",
    "account_policy_changed",
    "create_personal_account",
    "membership_ended",
]
