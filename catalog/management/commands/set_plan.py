from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts import audit
from accounts.models import Account
from accounts.signals import account_policy_changed
from catalog.models import Plan


class Command(BaseCommand):
    help = "Put an account on a plan without payment (comped customers)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="account slug or owner's email")
        parser.add_argument("--plan", required=True, help="plan slug")

    def handle(self, *args: Any, account: str, plan: str, **options: Any) -> None:
        try:
            target = Account.objects.by_slug_or_owner_email(account)
        except (Account.DoesNotExist, Account.MultipleObjectsReturned):
            target = None
        if target is None or target.closed_at is not None:
            raise CommandError(f"no open account with slug or owner email {account!r}") from None
        chosen = Plan.objects.filter(slug=plan, is_retired=False).first()
        if chosen is None:
            raise CommandError(f"no current (unretired) plan with slug {plan!r}")
        with transaction.atomic():
            previous = target.plan.slug if target.plan else ""
            target.plan = chosen
            target.save(update_fields=["plan"])
            audit.record(target, "plan.set", target=chosen.slug,
                         data={"previous": previous, "by": "set_plan"})  # fmt: skip
            account_policy_changed.send(sender=Account, account_id=target.pk)
        self.stdout.write(f"{target.slug} is now on {chosen.slug}")
