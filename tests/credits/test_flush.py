"""The credit flush: spent units into the ledger once, grants left out by a crash into Redis
once, and the ledger's balance equal to Redis's after every run."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import TestCase

from credits import balance, ledger
from credits.flush import flush_credits
from credits.models import CreditEntry, CreditWallet, EntryKind
from credits.tasks import flush as flush_task
from tests.credits.conftest import grant
from tests.gateway.support import ask, make_key

pytestmark = pytest.mark.django_db


def spend(raw, n):
    return [ask(raw)[0] for _ in range(n)]


def flush_and_tell():
    with TestCase.captureOnCommitCallbacks(execute=True):
        flush_task()


def ledger_balance(account):
    return CreditEntry.objects.filter(account=account).balance()


def test_the_flush_records_spent_units_as_usage_and_agrees_with_redis(
    free_plan, pack, team, redis_db
):
    grant(team, pack)
    raw, _ = make_key(team)
    spend(raw, 4)
    summary = flush_credits(redis_db)
    assert (summary.batches, summary.units) == (1, 4)
    usage = CreditEntry.objects.get(account=team, kind=EntryKind.USAGE)
    assert usage.units == -4
    assert ledger_balance(team) == balance.balance_of(team.pk) == 6
    assert flush_credits(redis_db).batches == 0  # nothing new: nothing written


def test_a_batch_applied_before_a_crash_is_not_applied_twice(free_plan, pack, team, redis_db):
    grant(team, pack)
    raw, _ = make_key(team)
    spend(raw, 3)
    batch = balance.claim(team.pk, redis_db)
    batch_id = batch.split("{", 1)[1].replace("}", "")
    assert ledger.record_usage(team.pk, batch_id, 3, __import__("datetime").datetime.now())
    # The run crashed before forgetting the batch: the next run finds it and only deletes it.
    flush_credits(redis_db)
    assert CreditEntry.objects.filter(kind=EntryKind.USAGE).count() == 1
    assert ledger_balance(team) == balance.balance_of(team.pk) == 7
    assert not balance.pending_batches(team.pk, redis_db)


def test_a_grant_whose_redis_step_never_ran_is_applied_by_the_flush(
    free_plan, pack, team, redis_db
):
    grant(team, pack)
    ledger.grant_pack(team, pack, EntryKind.PURCHASE, "cs_second", None)  # on-commit lost
    assert balance.balance_of(team.pk) == 10
    assert flush_credits(redis_db).grants == 1
    assert balance.balance_of(team.pk) == ledger_balance(team) == 20
    assert flush_credits(redis_db).grants == 0


def test_the_low_balance_email_and_exhaustion_go_once_per_dip(free_plan, pack, team, redis_db):
    grant(team, pack)
    CreditWallet.objects.filter(account=team).update(low_balance_below=3)
    raw, _ = make_key(team)
    spend(raw, 8)
    flush_and_tell()
    flush_and_tell()
    assert [m.subject for m in mail.outbox] == ["Alice's team has 2 API credits left"]
    spend(raw, 5)
    flush_and_tell()
    flush_and_tell()
    assert len(mail.outbox) == 2 and "refused" in mail.outbox[1].body
    grant(team, pack, reference="cs_again")
    spend(raw, 8)
    flush_and_tell()
    assert len(mail.outbox) == 3  # a new dip after a purchase is told again


def test_expiry_takes_what_is_left_of_an_expired_purchase(free_plan, pack, team, redis_db):
    from datetime import timedelta

    from django.utils import timezone

    pack.expires_after_days = 30
    pack.save()
    grant(team, pack)
    raw, _ = make_key(team)
    spend(raw, 4)
    flush_credits(redis_db)
    later = timezone.now() + timedelta(days=31)
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert ledger.expire_purchases(later) == 1
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert ledger.expire_purchases(later) == 0  # once
    expiry = CreditEntry.objects.get(kind=EntryKind.EXPIRY)
    assert expiry.units == -6
    assert ledger_balance(team) == balance.balance_of(team.pk) == 0


def test_a_refund_takes_back_what_is_left_of_the_purchase_once(free_plan, pack, team, redis_db):
    from django.core.management import CommandError, call_command

    grant(team, pack)
    raw, _ = make_key(team)
    spend(raw, 3)
    flush_credits(redis_db)
    with TestCase.captureOnCommitCallbacks(execute=True):
        call_command("refund_credits", "cs_test_1")
    assert CreditEntry.objects.get(kind=EntryKind.REFUND).units == -7
    assert ledger_balance(team) == balance.balance_of(team.pk) == 0
    with pytest.raises(CommandError, match="refunded already"):
        call_command("refund_credits", "cs_test_1")
    with pytest.raises(CommandError, match="no credit purchase"):
        call_command("refund_credits", "cs_nope")
