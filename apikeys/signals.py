from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from accounts.models import Account
from accounts.signals import account_closed
from apikeys.models import ApiKey


@receiver(account_closed, dispatch_uid="apikeys.revoke_keys_of_closed_account")
def revoke_keys_of_closed_account(sender: Any, account: Account, **kwargs: Any) -> None:
    """A closed account's keys stop working everywhere (sent inside the closing transaction)."""
    ApiKey.objects.revoke_all_of(account, actor=kwargs.get("actor"))
