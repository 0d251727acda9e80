"""The main pages in Chromium at 1280 and 390 px wide: no console error, no CSP violation, no
horizontal overflow of the page, the header on one row at 1280 px (with two accounts), and no
serious or critical axe-core violation (axe-core vendored for the tests, evaluated in each
page: a script tag would need the CSP to allow it)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import Account
from catalog.models import CreditPack, Plan, PlanProduct
from credits.models import CreditEntry, CreditWallet
from tests.gateway.support import make_key, make_product
from tests.usage.conftest import add_usage
from webhooks.models import Delivery, Endpoint, Event

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
AXE = (settings.BASE_DIR / "static/vendor/axe-core-4.11.0/axe.min.js").read_text()
WIDTHS = (1280, 390)
# The first elements reaching past the viewport's right edge: where an overflow comes from.
BEYOND_THE_EDGE = """() => [...document.querySelectorAll("body *")]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .slice(0, 6).map(e => `${e.tagName}.${e.className}`).join(" | ")"""


@pytest.fixture
def world(alice, bob, team, user_factory):
    alice.is_staff = True  # the seller's pages too, and the longest header
    alice.save()
    product = make_product()
    free = Plan.objects.create(
        slug="free", name="Free", is_default=True, requests_per_period=1000, sort_order=0
    )
    pro = Plan.objects.create(
        slug="pro", name="Pro", monthly_price=Decimal("29.00"), requests_per_period=100_000,
        requests_per_minute=600, overage_price_per_1000=Decimal("0.50"), trial_days=14,
        stripe_price_id="price_pro", sort_order=1,
    )  # fmt: skip
    for plan in (free, pro):
        PlanProduct.objects.create(plan=plan, product=product)
    _, key = make_key(team, name="Production server with a long descriptive name")
    make_key(team, environment="test", name="Local tests")
    make_key(team, name="Bob's deploy key", created_by=bob)  # listed when removing Bob
    make_key(team, name="Left behind", created_by=user_factory())  # marked: not a member
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    add_usage(team, key, hour, 1200)
    add_usage(team, key, hour - timedelta(hours=1), 30, outcome="forbidden")
    personal = Account.objects.get(memberships__user=alice, is_personal=True)
    endpoint = Endpoint.objects.create(
        account=team, url="https://hooks.example.com/tollgate", event_types=["key.created"],
        created_by=alice,
    )  # fmt: skip
    for n, status in enumerate(["succeeded", "failed", "pending"]):
        event = Event.objects.create(account=team, type="key.created", occurrence=f"page:{n}")
        Delivery.objects.create(endpoint=endpoint, event=event, status=status, attempts=n + 1,
                                response_status=500 if status == "failed" else None)  # fmt: skip
    prepaid_history(team, product)
    bobs_membership = team.memberships.get(user=bob)
    return {"team": team, "personal": personal, "product": product, "endpoint": endpoint,
            "bob": bobs_membership}  # fmt: skip


def prepaid_history(team, product) -> None:
    """Credits bought a week ago and spent since: the credits page's ledger and chart."""
    payg = Plan.objects.create(slug="payg", name="Pay as you go", is_public=False)
    pack = CreditPack.objects.create(
        slug="k", name="1,000 credits", credits=1000, price=Decimal(5), plan=payg,
        stripe_price_id="price_k",
    )  # fmt: skip
    CreditWallet.objects.create(account=team, plan=payg, low_balance_below=100)
    today = timezone.now().date()
    CreditEntry.objects.create(account=team, kind="purchase", units=1000, pack=pack,
                               day=today - timedelta(days=7), reference="cs_1",
                               amount=Decimal(5), applied_to_redis=True)  # fmt: skip
    for days in range(6, -1, -1):
        CreditEntry.objects.create(account=team, kind="usage", units=-90 - days,
                                   day=today - timedelta(days=days), reference=f"b{days}",
                                   applied_to_redis=True)  # fmt: skip


def pages(world) -> list[str]:
    slug = world["team"].slug
    return [
        "/", "/pricing/", "/docs/", "/docs/getting-started/", "/docs/demo/", f"/a/{slug}/",
        f"/a/{slug}/keys/", f"/a/{slug}/usage/", f"/a/{slug}/requests/", f"/a/{slug}/members/",
        f"/a/{slug}/activity/", f"/a/{slug}/billing/", f"/a/{slug}/credits/", "/profile/",
        "/profile/tokens/",
        "/staff/console/", "/staff/usage/", f"/staff/accounts/{slug}/requests/",
        f"/a/{slug}/webhooks/", f"/a/{slug}/webhooks/{world['endpoint'].public_id}/",
        f"/a/{slug}/usage/alerts/", "/teams/new/",
        f"/a/{slug}/members/{world['bob'].pk}/remove/",
    ]  # fmt: skip


def audit(page) -> list[str]:
    page.evaluate(AXE)
    return page.evaluate(
        """async () => {
          // Swagger UI's own markup (buttons in buttons, its method badges) is not ours to
          // fix here: every page of ours is checked, the embedded widget is left out.
          const context = {exclude: [["#swagger-ui"]]};
          const result = await axe.run(context, {resultTypes: ["violations"]});
          return result.violations
            .filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => `${v.id}: ${v.nodes.map(n => n.target.join(" ")).join(", ")}`);
        }"""
    )


def test_the_main_pages_at_desktop_and_phone_widths(
    signed_in_page, live_server, alice, world, redis_db
):
    page = signed_in_page(alice)
    page.set_default_timeout(10_000)
    problems: list[str] = []
    page.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    found: dict[str, list[str]] = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for path in pages(world):
            response = page.goto(live_server.url + path)
            page.wait_for_load_state("networkidle")
            where = f"{path} @{width}"
            issues = [f"status {response.status}"] if response.status != 200 else []
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            if overflow > 0:
                issues.append(f"overflows by {overflow}px")
                issues.append("beyond the edge: " + page.evaluate(BEYOND_THE_EDGE))
            if width == 1280:
                nav = page.locator(".site-header .nav").bounding_box()
                if nav["height"] > 64:
                    issues.append(f"header wraps ({nav['height']}px)")
            issues += audit(page)
            issues += [f"console: {p}" for p in problems]
            problems.clear()
            if issues:
                found[where] = issues
    assert found == {}, json.dumps(found, indent=1)


def test_the_reference_has_one_title_and_a_snippet_per_language_tab(
    signed_in_page, live_server, alice, world
):
    page = signed_in_page(alice)
    page.goto(f"{live_server.url}/docs/demo/")
    page.wait_for_selector("#swagger-ui .opblock")
    visible_titles = page.locator("h1:visible, #swagger-ui h2.title:visible")
    assert visible_titles.all_inner_texts() == ["Demo"]
    card = page.locator(".snippet-card").first
    assert card.locator(".snippet:visible").count() == 1
    card.locator("role=tab[name='Python (requests)']").click()
    assert card.locator(".snippet:visible .snippet-head span").inner_text() == "Python (requests)"


def test_error_pages_and_forms_with_errors(signed_in_page, live_server, alice, world, redis_db):
    """Pages a person reaches when something is wrong: readable, their errors announced
    (role=alert) and tied to the field, and no serious axe-core violation either."""
    from django.template.loader import render_to_string

    page = signed_in_page(alice)
    page.set_default_timeout(10_000)
    slug = world["team"].slug
    found: dict[str, list[str]] = {}

    def check(where: str, alert: bool) -> None:
        issues = audit(page)
        if alert and not page.locator("[role=alert]").first.is_visible():
            issues.append("no error announced")
        if page.locator("h1").count() != 1:
            issues.append(f"{page.locator('h1').count()} h1 headings")
        if issues:
            found[where] = issues

    assert page.goto(f"{live_server.url}/no/such/page/").status == 404
    check("404", alert=False)
    export = page.goto(f"{live_server.url}/a/{slug}/usage/export.csv?start=2026-13-01&end=x")
    assert export.status == 400
    check("export error", alert=True)
    assert page.locator("[aria-invalid=true]").count() >= 1
    page.goto(f"{live_server.url}/a/{slug}/webhooks/")
    page.fill("input[name=url]", "http://not-https.example.com/")
    page.locator("section[aria-labelledby=add-endpoint-title] button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    check("webhook form with errors", alert=True)
    page.goto(f"{live_server.url}/teams/new/")
    page.get_by_role("button", name="Create team").click()
    page.wait_for_load_state("networkidle")
    check("new team form with errors", alert=True)
    # Django renders 500.html without a request; shown here at the portal's address so its
    # stylesheet loads as it would.
    page.goto(f"{live_server.url}/no/such/page/")
    page.set_content(render_to_string("500.html"))
    page.wait_for_load_state("networkidle")
    assert page.evaluate("getComputedStyle(document.body).fontFamily") != "Times New Roman"
    check("500", alert=False)
    assert found == {}, json.dumps(found, indent=1)
