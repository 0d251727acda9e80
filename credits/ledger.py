"""Writing the credit ledger: each movement once (its `reference` is unique), each grant then
added to the Redis balance (credits.balance)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Account
from catalog.models import CreditPack
from credits import balance
from credits.models import CreditEntry, CreditWallet, EntryKind


def grant_pack(
    account: Account,
    pack: CreditPack,
    kind: EntryKind,
    reference: str,
    amount: Decimal | None,
    payment_method: str = "",
) -> CreditEntry | None:
    """A paid pack's units, once per `reference` (a Checkout Session or PaymentIntent id);
    None when that reference was granted before."""
    now = timezone.now()
    expires = now + timedelta(days=pack.expires_after_days) if pack.expires_after_days else None
    with transaction.atomic():
        wallet = wallet_for_update(account, pack)
        if CreditEntry.objects.filter(reference=reference).exists():
            return None
        entry = CreditEntry.objects.create(
            account=account,
            kind=kind,
            units=pack.credits,
            day=now.date(),
            reference=reference,
            pack=pack,
            amount=amount,
            currency=pack.currency,
            expires_at=expires,
        )
        wallet.plan = pack.plan
        wallet.low_notified = wallet.exhausted_notified = wallet.topup_pending = False
        if payment_method:
            wallet.stripe_payment_method_id = payment_method
        wallet.save()
        balance.apply_on_commit(entry)
    return entry


def wallet_for_update(account: Account, pack: CreditPack) -> CreditWallet:
    """The account's wallet, locked (one writer per account), made on its first purchase."""
    wallet = CreditWallet.objects.select_for_update().filter(account=account).first()
    if wallet is None:
        CreditWallet.objects.get_or_create(
            account=account,
            defaults={"plan": pack.plan, "low_balance_below": pack.credits // 10},
        )
        wallet = CreditWallet.objects.select_for_update().get(account=account)
    return wallet


class LedgerError(Exception):
    """A movement the ledger refuses; the message says why."""


def refund(reference: str) -> CreditEntry:
    """Take back the units a refunded purchase or top-up has left (what spending since has not
    used, oldest units first), once: the refund's reference is `refund:<reference>`."""
    paid = CreditEntry.objects.filter(
        reference=reference, kind__in=[EntryKind.PURCHASE, EntryKind.TOPUP]
    ).first()
    if paid is None:
        raise LedgerError(f"no credit purchase or top-up {reference!r}")
    with transaction.atomic():
        CreditWallet.objects.locked(paid.account_id)
        if CreditEntry.objects.filter(reference=f"refund:{reference}").exists():
            raise LedgerError(f"{reference} was refunded already")
        entries = list(CreditEntry.objects.filter(account_id=paid.account_id).order_by("id"))
        left = dict((entry.pk, units) for entry, units in units_left(entries))[paid.pk]
        entry = CreditEntry.objects.create(
            account_id=paid.account_id,
            kind=EntryKind.REFUND,
            units=-left,
            day=timezone.now().date(),
            reference=f"refund:{reference}",
            pack=paid.pack,
        )
        balance.apply_on_commit(entry)
    return entry


def record_usage(account_id: int, batch_id: str, units: int, day: datetime) -> bool:
    """A claimed batch of spent units into the ledger; False if it was recorded before."""
    try:
        with transaction.atomic():
            # The wallet's lock orders this against grants and expiries of the same account.
            CreditWallet.objects.locked(account_id)
            CreditEntry.objects.create(
                account_id=account_id,
                kind=EntryKind.USAGE,
                units=-units,
                day=day.date(),
                reference=batch_id,
                applied_to_redis=True,
            )
    except IntegrityError:
        return False
    return True


def expire_purchases(now: datetime) -> int:
    """Take away what is left of each purchase whose pack's units expired, spending the oldest
    units first: a purchase keeps what the spending since its grants has not used up."""
    expired = 0
    due = CreditEntry.objects.filter(expires_at__lte=now).values_list("account_id", flat=True)
    for account_id in sorted(set(due)):
        expired += expire_for_account(account_id, now)
    return expired


def expire_for_account(account_id: int, now: datetime) -> int:
    count = 0
    with transaction.atomic():
        CreditWallet.objects.locked(account_id)
        entries = list(
            CreditEntry.objects.filter(account_id=account_id).order_by("created_at", "id")
        )
        done = {e.reference.removeprefix("expiry:") for e in entries if e.kind == EntryKind.EXPIRY}
        for entry, left in units_left(entries):
            if entry.expires_at and entry.expires_at <= now and str(entry.pk) not in done:
                expiry = CreditEntry.objects.create(
                    account_id=account_id,
                    kind=EntryKind.EXPIRY,
                    units=-left,
                    day=now.date(),
                    reference=f"expiry:{entry.pk}",
                )
                balance.apply_on_commit(expiry)
                count += 1
    return count


def units_left(entries: list[CreditEntry]) -> list[tuple[CreditEntry, int]]:
    """Each positive grant with the units not yet spent or taken, oldest spent first."""
    taken = -sum(e.units for e in entries if e.units < 0)
    left = []
    for entry in (e for e in entries if e.units > 0):
        used = min(entry.units, taken)
        taken -= used
        left.append((entry, entry.units - used))
    return left
