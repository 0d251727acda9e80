from __future__ import annotations

from typing import Any

from django.db.models.signals import pre_delete
from django.dispatch import receiver
from django.utils import timezone

from accounts import audit
from accounts.models import Account, User
from accounts.signals import account_closed, membership_ended
from apikeys.models import ApiKey
from core.audit import AuditContext


@receiver(account_closed, dispatch_uid="apikeys.revoke_keys_of_closed_account")
def revoke_keys_of_closed_account(sender: Any, account: Account, **kwargs: Any) -> None:
    """A closed account's keys stop working everywhere (sent inside the closing transaction)."""
    ApiKey.objects.revoke_all_of(account, actor=kwargs.get("actor"))


@receiver(membership_ended, dispatch_uid="apikeys.settle_keys_of_former_member")
def settle_keys_of_former_member(
    sender: Any,
    account: Account,
    user: User,
    keep_keys: bool,
    reason: str,
    actor: User | None,
    audit_context: AuditContext | None,
    **_: Any,
) -> None:
    """The keys a departing member created were shown to them in full: each is revoked through
    its own revoke (so every gateway process forgets it at once), or, if the team chose to keep
    them, the choice is recorded against each key. Sent inside the removal's transaction."""
    for key in ApiKey.objects.working_created_by(user, account):
        if keep_keys:
            audit.record(
                account,
                "key.kept",
                actor=actor,
                target=key.public_id,
                audit_context=audit_context,
                data={"reason": reason},
            )
        else:
            key.revoke(actor=actor, audit_context=audit_context, reason=reason)


@receiver(pre_delete, sender=User, dispatch_uid="apikeys.note_creator_deleted")
def note_creator_deleted(sender: type[User], instance: User, **_: Any) -> None:
    """Before the person goes (and created_by with them), mark the keys they created, so a key
    a team kept still shows that its creator is gone rather than passing for one the provider
    issued."""
    ApiKey.objects.filter(created_by=instance, creator_deleted_at__isnull=True).update(
        creator_deleted_at=timezone.now()
    )
