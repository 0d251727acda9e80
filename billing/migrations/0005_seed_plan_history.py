"""The plan history starts from what each account has today: one "opening" row per account
with a plan or recurring revenue, dated when the migration runs. Nothing earlier is invented:
months before the upgrade show no movement, and their MRR is unknown (the console says so).

Subscriptions of earlier releases did not store their billing interval; a current period longer
than 40 days can only be a yearly one (Stripe's months are 28 to 31 days). The next webhook or
reconcile run stores Stripe's own value.
"""

from datetime import timedelta
from decimal import Decimal

from django.db import migrations
from django.utils import timezone

LIVE_STATUSES = ("trialing", "active", "past_due", "unpaid")
MRR_STATUSES = ("active", "past_due")
CENT = Decimal("0.01")


def monthly_amount(plan, interval):
    if plan is None:
        return Decimal("0.00")
    if interval == "year" and plan.yearly_price is not None:
        return (plan.yearly_price / 12).quantize(CENT)
    return plan.monthly_price.quantize(CENT)


def infer_intervals(apps, schema_editor):
    Subscription = apps.get_model("billing", "Subscription")
    for sub in Subscription.objects.filter(
        current_period_start__isnull=False, current_period_end__isnull=False
    ):
        if sub.current_period_end - sub.current_period_start > timedelta(days=40):
            Subscription.objects.filter(pk=sub.pk).update(interval="year")


def seed_opening_balances(apps, schema_editor):
    Account = apps.get_model("accounts", "Account")
    Subscription = apps.get_model("billing", "Subscription")
    PlanChange = apps.get_model("billing", "PlanChange")
    Comp = apps.get_model("catalog", "Comp")
    now = timezone.now()
    rows = []
    for account in Account.objects.order_by("pk"):
        subs = Subscription.objects.filter(account=account).select_related("plan")
        mrr = sum(
            (monthly_amount(s.plan, s.interval) for s in subs if s.status in MRR_STATUSES),
            Decimal("0.00"),
        )
        comp = (
            Comp.objects.filter(account=account, ended_at__isnull=True)
            .exclude(until__lte=now)
            .order_by("-created_at", "-id")
            .first()
        )
        live = subs.filter(status__in=LIVE_STATUSES).order_by("-started_at", "-stripe_id").first()
        plan_id = comp.plan_id if comp else live.plan_id if live else None
        if plan_id is None and mrr == 0:
            continue  # the state an account without rows has
        rows.append(
            PlanChange(
                account=account,
                at=now,
                plan_id=plan_id,
                mrr=mrr,
                previous_mrr=Decimal("0.00"),
                kind="opening",
                source="migration",
                reference="state when the history began",
            )
        )
    PlanChange.objects.bulk_create(rows, batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0004_subscription_interval_and_plan_changes"),
        ("catalog", "0004_coupons"),
    ]

    operations = [
        migrations.RunPython(infer_intervals, migrations.RunPython.noop),
        migrations.RunPython(seed_opening_balances, migrations.RunPython.noop),
    ]
