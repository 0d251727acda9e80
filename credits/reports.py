"""What the credits page shows: the balance, the ledger with usage summed by day, and the
balance at the end of each day for the chart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from django.db.models import Sum

from accounts.models import Account
from credits import balance
from credits.models import CreditEntry, EntryKind


@dataclass(frozen=True)
class LedgerLine:
    day: date
    kind: str
    label: str
    units: int
    amount: Any = None
    expires_at: datetime | None = None


def current_balance(account: Account) -> int:
    """The gateway's balance (spending since the last flush included), else the ledger's."""
    units = balance.balance_of(account.pk)
    return units if units is not None else CreditEntry.objects.filter(account=account).balance()


def ledger_lines(account: Account, limit: int = 60) -> list[LedgerLine]:
    entries = CreditEntry.objects.filter(account=account)
    lines = [
        LedgerLine(e.day, e.kind, e.get_kind_display(), e.units, e.amount, e.expires_at)
        for e in entries.exclude(kind=EntryKind.USAGE).order_by("-created_at")[:limit]
    ]
    usage = (
        entries.filter(kind=EntryKind.USAGE)
        .values("day")
        .annotate(units=Sum("units"))
        .order_by("-day")[:limit]
    )
    lines += [LedgerLine(row["day"], "usage", "Calls", row["units"]) for row in usage]
    return sorted(lines, key=lambda line: (line.day, line.kind != "usage"), reverse=True)[:limit]


def balance_series(account: Account) -> dict[str, list[int]]:
    """The ledger's balance at the end of each day with movements (unix seconds, units)."""
    by_day = (
        CreditEntry.objects.filter(account=account)
        .values("day")
        .annotate(units=Sum("units"))
        .order_by("day")
    )
    t, left, running = [], [], 0
    for row in by_day:
        running += row["units"]
        t.append(int(datetime.combine(row["day"], time.max).timestamp()))
        left.append(running)
    return {"t": t, "balance": left}
