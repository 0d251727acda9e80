"""What an account's home page shows at a glance: plan and quota, the last day's calls, the
keys, and the first-call checklist until the first call has arrived."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from accounts.models import Membership
from accounts.roles import Perm
from apidocs.catalogue import KEY_PLACEHOLDER
from apikeys.models import ApiKey
from onboarding.first_call import checklist_for
from usage import reports
from usage.summaries import ACCOUNT


def dashboard_context(membership: Membership) -> dict[str, Any]:
    account = membership.account
    context: dict[str, Any] = {}
    if membership.can(Perm.VIEW_USAGE):
        now = timezone.now()
        context["glance"] = reports.glance(account, now)
        day = reports.window_for("24h", account, now)
        outcomes = reports.summary_in(account, day, ACCOUNT).values_list("outcome", "count")
        admitted = refused = 0
        for outcome, count in outcomes:
            if outcome == reports.OK:
                admitted += count
            else:
                refused += count
        context["last_day"] = {"admitted": admitted, "refused": refused}
    if membership.can(Perm.MANAGE_KEYS):
        context["keys"] = ApiKey.objects.active().filter(account=account).order_by("-created_at")
        checklist = checklist_for(account, membership.user)
        if not checklist.done:
            context["checklist"] = checklist
            context["key_account"] = account
            context["key_placeholder"] = KEY_PLACEHOLDER
    return context
