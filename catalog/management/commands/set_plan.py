from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.models import Account
from accounts.signals import account_policy_changed
from billing import revenue
from catalog.models import Comp, Plan


class Command(BaseCommand):
    help = (
        "Comp an account: put it on a plan without payment, saying who, why and until when. "
        "The comp wins over Stripe until it ends (--until) or is withdrawn (--end)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="account slug or owner's email")
        parser.add_argument("--plan", help="plan slug (not with --end)")
        parser.add_argument("--reason", help="why the account gets the plan (required)")
        parser.add_argument("--by", default="", help="who gives it (default: your login)")
        parser.add_argument("--until", help="last day of the comp, YYYY-MM-DD (default: open)")
        parser.add_argument("--end", action="store_true", help="withdraw the running comp")

    def handle(self, *args: Any, account: str, **options: Any) -> None:
        try:
            target = Account.objects.by_slug_or_owner_email(account)
        except (Account.DoesNotExist, Account.MultipleObjectsReturned):
            target = None
        if target is None or target.closed_at is not None:
            raise CommandError(f"no open account with slug or owner email {account!r}") from None
        by = options["by"] or getpass.getuser()
        if options["end"]:
            self.withdraw(target, by)
            return
        if not options["plan"] or not (options["reason"] or "").strip():
            raise CommandError("a comp needs --plan and --reason (or --end to withdraw one)")
        chosen = Plan.objects.filter(slug=options["plan"], is_retired=False).first()
        if chosen is None:
            raise CommandError(f"no current (unretired) plan with slug {options['plan']!r}")
        until = parse_until(options["until"])
        with transaction.atomic():
            target = Account.objects.select_for_update().get(pk=target.pk)
            previous = target.plan.slug if target.plan else ""
            Comp.objects.filter(account=target, ended_at__isnull=True).update(
                ended_at=timezone.now()
            )
            Comp.objects.create(
                account=target, plan=chosen, granted_by=by, reason=options["reason"].strip(),
                until=until,
            )  # fmt: skip
            target.plan = chosen
            target.save(update_fields=["plan"])
            revenue.record(target, "comp", options["reason"].strip())
            audit.record(target, "plan.set", target=chosen.slug,
                         data={"previous": previous, "by": by, "reason": options["reason"],
                               "until": until.isoformat() if until else None})  # fmt: skip
            account_policy_changed.send(sender=Account, account_id=target.pk)
        ending = f" until {until:%Y-%m-%d}" if until else ""
        self.stdout.write(f"{target.slug} is now on {chosen.slug}{ending} (comped by {by})")

    def withdraw(self, target: Account, by: str) -> None:
        from billing.flows import end_comp

        if not end_comp(target, by):
            raise CommandError(f"{target.slug} has no running comp")
        self.stdout.write(f"{target.slug}'s comp is withdrawn")


def parse_until(value: str | None) -> datetime | None:
    """The comp runs through the given day (UTC)."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise CommandError(f"--until must be a date as YYYY-MM-DD, not {value!r}") from None
    end = day.replace(hour=23, minute=59, second=59)
    if end <= timezone.now():
        raise CommandError("--until must not be in the past")
    return end
