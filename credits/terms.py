"""Which terms an account's live calls run on when it has no subscription: a running time
pass, else prepaid credits, else an expired pass (refused until renewed), else the default plan.

A subscription or a comp (Account.plan) always wins: passes and credits are for accounts that
pay without one. A pass bought while holding credits runs first; its end hands over to credits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from catalog.models import Plan
from credits.models import CreditWallet, TimePass


@dataclass(frozen=True, slots=True)
class Terms:
    plan: Plan
    period: tuple[datetime, datetime] | None  # a pass's own window (None: billing's)
    credits: bool = False  # each admitted live call spends its cost in credits
    pass_expired: bool = False  # live calls are refused: the pass ran out


def prepaid_terms(account_id: int, plan_id: int | None, now: datetime) -> Terms | None:
    """None when the account is on its subscription's (or the default) plan; ``plan_id`` is the
    account's own (Account.plan). Up to three joined reads: ask only for an account that holds a
    pass or a wallet (the gateway's account query says which, gateway.policy.open_accounts)."""
    if plan_id is not None:
        return None
    latest = TimePass.objects.filter(account_id=account_id, starts_at__lte=now).select_related(
        "plan"
    )
    running = latest.filter(ends_at__gt=now).first()
    if running is not None:
        return Terms(running.plan, (running.starts_at, running.ends_at))
    wallet = CreditWallet.objects.filter(account_id=account_id).select_related("plan").first()
    if wallet is not None:
        return Terms(wallet.plan, None, credits=True)
    expired = latest.first()
    if expired is not None:
        return Terms(
            expired.plan, (expired.ends_at, far_future(expired.ends_at)), pass_expired=True
        )
    return None


def far_future(moment: datetime) -> datetime:
    return moment.replace(year=moment.year + 100)
