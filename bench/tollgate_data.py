"""Create the benchmark's catalog, accounts and keys in Tollgate's database (bench/run.py)."""

from __future__ import annotations

import os
import random
import sys
from decimal import Decimal
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup()

from django.conf import settings  # noqa: E402

from accounts.models import Account, Membership, User  # noqa: E402
from accounts.roles import Role  # noqa: E402
from apikeys import keys  # noqa: E402
from apikeys.models import ApiKey  # noqa: E402
from catalog.models import ApiProduct, Plan, PlanProduct  # noqa: E402


def make_keys(account: Account, count: int) -> list[str]:
    raws = [keys.generate("live") for _ in range(count)]
    ApiKey.objects.bulk_create(
        ApiKey(account=account, name=f"bench {i}", environment="live",
               prefix=keys.display_prefix(raw), last4=raw[-4:], key_hash=keys.hash_key(raw))
        for i, raw in enumerate(raws)
    )  # fmt: skip
    return raws


def make_scale(workdir: Path, owner: User, keys_total: int, accounts_total: int) -> None:
    """The scale variant's data: keys_total keys over accounts_total accounts, in bulk.

    Writes every key (keys_scale.txt, for first sightings) and a hot set the size of the
    process's key cache (keys_scale_hot.txt, for the steady state).
    """
    accounts = Account.objects.bulk_create(
        Account(name=f"scale {n}", slug=f"scale-{n}") for n in range(accounts_total)
    )
    Membership.objects.bulk_create(
        Membership(account=a, user=owner, role=Role.OWNER) for a in accounts
    )
    per_account = max(1, keys_total // accounts_total)
    with (workdir / "keys_scale.txt").open("w") as out:
        for start in range(0, len(accounts), 1000):
            batch = [(a, keys.generate("live")) for a in accounts[start : start + 1000]
                     for _ in range(per_account)]  # fmt: skip
            ApiKey.objects.bulk_create(
                (ApiKey(account=a, name="scale", environment="live",
                        prefix=keys.display_prefix(raw), last4=raw[-4:],
                        key_hash=keys.hash_key(raw)) for a, raw in batch),
                batch_size=5000,
            )  # fmt: skip
            out.write("".join(f"{raw}\n" for _, raw in batch))
    raws = (workdir / "keys_scale.txt").read_text().split()
    hot = random.Random(7).sample(raws, min(len(raws), settings.GATEWAY_KEY_CACHE_ENTRIES))
    (workdir / "keys_scale_hot.txt").write_text("\n".join(hot) + "\n")


def main(workdir: Path, count: int, scale_keys: int, scale_accounts: int) -> None:
    product = ApiProduct.objects.create(slug="bench", name="Bench", path_prefix="/c",
                                        upstream_url="http://127.0.0.1:9")  # fmt: skip
    roomy = Plan.objects.create(slug="roomy", name="Roomy", is_default=True)  # no limits
    capped = Plan.objects.create(slug="capped", name="Capped", requests_per_period=0)
    for plan in (roomy, capped):
        PlanProduct.objects.create(plan=plan, product=product)
    owner = User.objects.create_user("bench@example.com", None)
    # Valid keys spread over 100 accounts, as many customers would be.
    accounts = [Account.objects.create_with_owner(f"bench {n}", owner) for n in range(100)]
    valid = [raw for n, a in enumerate(accounts) for raw in make_keys(a, count // 100)]
    over_account = Account.objects.create_with_owner("over", owner)
    over_account.plan = capped
    over_account.save()
    over = make_keys(over_account, 100)
    bad = [f"tg_live_{'x' * 32}_{n:06d}" for n in range(1000)]  # right shape, wrong checksum
    # (i): the same shape as (c) on a plan with a quota billed beyond its end. Nothing is
    # refused either, but the quota is a limit (X-Quota-* describe it), so its calls are
    # counted by script or on leases, where (c)'s plan without limits is tallied.
    metered = Plan.objects.create(slug="metered", name="Metered", requests_per_period=10**12,
                                  overage_price_per_1000=Decimal("0.10"))  # fmt: skip
    PlanProduct.objects.create(plan=metered, product=product)
    metered_keys = []
    for n in range(100):
        account = Account.objects.create_with_owner(f"metered {n}", owner)
        account.plan = metered
        account.save()
        metered_keys += make_keys(account, count // 100)
    for name, raws in (("valid", valid), ("over", over), ("bad", bad), ("metered", metered_keys)):
        (workdir / f"keys_{name}.txt").write_text("\n".join(raws) + "\n")
    if scale_keys and scale_accounts:  # 0 when bench/run.py measures neither g nor h
        make_scale(workdir, owner, scale_keys, scale_accounts)


if __name__ == "__main__":
    main(Path(sys.argv[1]), *(int(arg) for arg in sys.argv[2:5]))
