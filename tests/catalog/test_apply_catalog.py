from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from catalog.models import ApiProduct, CreditPack, Plan, PlanProduct
from catalog.signals import catalog_applied
from tests.helpers import ROOT

DEMO = ROOT / "deploy" / "demo"


@pytest.fixture
def catalog_dir(tmp_path, db) -> Path:
    shutil.copy(DEMO / "catalog.toml", tmp_path / "catalog.toml")
    shutil.copy(DEMO / "openapi.json", tmp_path / "openapi.json")
    return tmp_path


def snapshot():
    return (
        list(ApiProduct.objects.values()),
        list(Plan.objects.values()),
        list(PlanProduct.objects.values()),
    )


def apply(path: Path) -> str:
    from io import StringIO

    out = StringIO()
    call_command("apply_catalog", str(path), stdout=out)
    return out.getvalue()


def test_it_creates_the_demo_catalog(db):
    apply(DEMO / "catalog.toml")
    product = ApiProduct.objects.get(slug="demo")
    assert product.path_prefix == "/demo/"
    assert product.openapi_spec["info"]["title"] == "Demo API"
    assert list(Plan.objects.values_list("slug", flat=True)) == [
        "free", "pro", "business", "day-pass", "payg",
    ]  # fmt: skip
    day_pass = Plan.objects.get(slug="day-pass")
    assert (day_pass.pass_days, day_pass.pass_price) == (1, Decimal("5"))
    pack = CreditPack.objects.get()
    assert (pack.credits, pack.plan.slug, pack.expires_after_days) == (10000, "payg", 365)
    free = Plan.objects.get(slug="free")
    assert free.is_default and not free.has_overage
    assert free.requests_per_period == 1000
    assert Plan.objects.get(slug="pro").has_overage
    business = Plan.objects.get(slug="business").entitlements.get()
    assert (business.methods, business.path_prefixes) == ([], [])
    assert free.entitlements.get().path_prefixes == ["/demo/hello", "/demo/items", "/demo/echo"]


def test_it_is_idempotent(db):
    apply(DEMO / "catalog.toml")
    before = snapshot()
    output = apply(DEMO / "catalog.toml")
    assert snapshot() == before  # not even updated_at moved
    # 1 product, 5 plans, 1 coupon, 1 credit pack
    assert "0 created, 0 updated, 8 unchanged, 0 retired" in output


def test_it_updates_changed_fields_and_retires_plans_no_longer_listed(catalog_dir, team):
    apply(catalog_dir / "catalog.toml")
    team.plan = Plan.objects.get(slug="business")
    team.save()
    text = (catalog_dir / "catalog.toml").read_text()
    text = text.replace("requests_per_minute = 2000", "requests_per_minute = 3000")
    business_at = text.index('[[plans]]\nslug = "business"')
    text = text[:business_at] + text[text.index("# A time pass", business_at) :]
    (catalog_dir / "catalog.toml").write_text(text)
    output = apply(catalog_dir / "catalog.toml")
    assert "1 updated" in output and "1 retired" in output
    assert Plan.objects.get(slug="pro").requests_per_minute == 3000
    business = Plan.objects.get(slug="business")
    assert business.is_retired
    team.refresh_from_db()
    assert team.plan == business  # still on it: retired, never deleted


def test_it_moves_the_default_from_one_plan_to_another(catalog_dir):
    apply(catalog_dir / "catalog.toml")
    text = (catalog_dir / "catalog.toml").read_text()
    text = text.replace("is_default = true\n", "").replace(
        'slug = "pro"\n', 'slug = "pro"\nis_default = true\n'
    )
    (catalog_dir / "catalog.toml").write_text(text)
    apply(catalog_dir / "catalog.toml")
    assert list(Plan.objects.filter(is_default=True).values_list("slug", flat=True)) == ["pro"]


def test_it_refuses_an_invalid_openapi_spec_with_the_validators_message_and_writes_nothing(
    catalog_dir,
):
    (catalog_dir / "openapi.json").write_text('{"openapi": "3.1.0", "paths": {}}')
    with pytest.raises(CommandError) as refused:
        apply(catalog_dir / "catalog.toml")
    assert "OpenAPI spec openapi.json is invalid" in str(refused.value)
    assert str(refused.value).endswith('"info" is a required property')
    assert snapshot() == ([], [], [])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('slug = "pro"', 'slug = "pro"\ncolour = "red"'), "unknown fields ['colour']"),
        (('product = "demo"', 'product = "nope"'), "unknown product 'nope'"),
        (("requests_per_second = 50", "requests_per_second = -1"), "requests_per_second"),
        (('monthly_price = "29"', 'monthly_price = "lots"'), "monthly_price is not a number"),
        (("[[plans]]", "[[plans]"), "catalog.toml"),
        # Prefixes are canonical paths: a product's ends in "/" so nginx's location ends on a
        # segment boundary; a plan's must be one the gateway can ever match.
        (('path_prefix = "/demo/"', 'path_prefix = "/demo"'), "path_prefix"),
        (('path_prefix = "/demo/"', 'path_prefix = "/"'), "path_prefix"),
        (('path_prefix = "/demo/"', 'path_prefix = "/de%6Do/"'), "path_prefix"),
        (('"/demo/hello"', '"/demo/hello/../x"'), "not a path prefix: '/demo/hello/../x'"),
        (('"/demo/hello"', '"/demo//hello"'), "not a path prefix"),
        (('"/demo/hello"', '"demo/hello"'), "not a path prefix"),
        (('"/demo/hello"', '"/demo/hello;x"'), "not a path prefix"),
        (('"/demo/hello"', '"/demo/%68ello"'), "not a path prefix"),
        (('"/demo/hello"', "7"), "not a path prefix: 7"),
        (('["/demo/hello", "/demo/items", "/demo/echo"]', '"/demo/hello"'), "not a path prefix"),
        (('slug = "pro"', 'name_only = "pro"'), "has no slug"),
    ],
)
def test_it_refuses_a_bad_file_with_a_clear_message_and_writes_nothing(
    catalog_dir, change, message
):
    path = catalog_dir / "catalog.toml"
    path.write_text(path.read_text().replace(*change, 1))
    with pytest.raises(CommandError) as refused:
        apply(path)
    assert message in str(refused.value)
    assert "nothing changed" in str(refused.value)
    assert snapshot() == ([], [], [])


def test_it_announces_the_applied_catalog_after_commit(db, django_capture_on_commit_callbacks):
    heard = []

    def listener(sender, plans, products, packs, **_):
        heard.append(([p.slug for p in plans], [p.slug for p in products], [p.slug for p in packs]))

    catalog_applied.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            apply(DEMO / "catalog.toml")
    finally:
        catalog_applied.disconnect(listener)
    plans = ["free", "pro", "business", "day-pass", "payg"]
    assert heard == [(plans, ["demo"], ["starter-credits"])]


def write(catalog_dir: Path, extra: str) -> Path:
    path = catalog_dir / "catalog.toml"
    path.write_text(path.read_text() + extra)
    return path


def test_a_credit_pack_dropped_from_the_file_is_retired_not_deleted(catalog_dir):
    apply(catalog_dir / "catalog.toml")
    text = (catalog_dir / "catalog.toml").read_text()
    start = text.index("[[credit_packs]]")
    end = text.index("# A launch discount")
    (catalog_dir / "catalog.toml").write_text(text[:start] + text[end:])
    output = apply(catalog_dir / "catalog.toml")
    assert "credit_pack starter-credits" in output
    assert CreditPack.objects.get().is_retired


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '[[credit_packs]]\nslug = "x"\nname = "X"\ncredits = 5\nprice = "1"\nplan = "nope"\n',
            "unknown plan",
        ),
        (
            '[[credit_packs]]\nslug = "x"\nname = "X"\ncredits = 0\nprice = "1"\nplan = "payg"\n',
            "credits",
        ),
        (
            '[[credit_packs]]\nslug = "x"\nname = "X"\ncredits = 5\nprice = "-1"\nplan = "payg"\n',
            "price",
        ),
        (
            '[[credit_packs]]\nslug = "x"\nname = "X"\ncredits = 5\nprice = "1"\nplan = "payg"\n'
            "bonus = 3\n",
            "unknown fields",
        ),
        ('[[plans]]\nslug = "half"\nname = "Half"\npass_days = 2\n', "pass_days"),
        ('[[plans]]\nslug = "zero"\nname = "Zero"\npass_days = 0\npass_price = "1"\n', "pass_days"),
    ],
)
def test_a_bad_pack_or_pass_changes_nothing(catalog_dir, extra, message):
    apply(catalog_dir / "catalog.toml")
    before = snapshot(), list(CreditPack.objects.values())
    with pytest.raises(CommandError, match=message):
        apply(write(catalog_dir, "\n" + extra))
    assert (snapshot(), list(CreditPack.objects.values())) == before
