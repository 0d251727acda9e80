"""Screenshots of the main pages for the docs (docs/screenshots/), not a test of the suite (the
file name keeps it out of collection): `pytest tests/e2e/screenshots.py` with the services a
test needs; SCREENSHOTS_DIR chooses where the PNGs go. Each page is captured whole at 1280 px
wide (the dashboard at 390 px too), cut at MAX_HEIGHT and reduced to 256 colours so each PNG
stays under MAX_BYTES."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from django.conf import settings
from PIL import Image

from accounts.models import Account
from billing import revenue
from billing.models import Subscription
from catalog.models import Plan
from tests.e2e.test_pages_in_chromium import world  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
MAX_HEIGHT = 2400
MAX_BYTES = 200_000


def shots(slug: str) -> list[tuple[str, str, int]]:
    """(file name, path, width) for each page."""
    return [
        ("home", "/", 1280),
        ("pricing", "/pricing/", 1280),
        ("dashboard", f"/a/{slug}/", 1280),
        ("dashboard-390", f"/a/{slug}/", 390),
        ("keys", f"/a/{slug}/keys/", 1280),
        ("usage", f"/a/{slug}/usage/", 1280),
        ("docs-reference", "/docs/demo/", 1280),
        ("billing", f"/a/{slug}/billing/", 1280),
        ("console", "/staff/console/", 1280),
    ]


def small_png(raw: bytes) -> bytes:
    image = Image.open(io.BytesIO(raw)).convert("RGB")
    image = image.crop((0, 0, image.width, min(image.height, MAX_HEIGHT)))
    out = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
    return out.getvalue()


def test_take_screenshots(signed_in_page, live_server, alice, world, redis_db):  # noqa: F811
    pro = Plan.objects.get(slug="pro")
    team = world["team"]
    customer = Account.objects.create(name="Acme", slug="acme")  # a payer for the console
    Subscription.objects.create(
        account=customer,
        plan=pro,
        status="active",
        stripe_id="sub_acme",
        started_at=customer.created_at,
    )
    revenue.record(customer, "stripe", "sub_acme")
    folder = Path(os.environ.get("SCREENSHOTS_DIR", settings.BASE_DIR / "docs/screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    page = signed_in_page(alice)
    page.set_default_timeout(10_000)
    for name, path, width in shots(team.slug):
        page.set_viewport_size({"width": width, "height": 900})
        assert page.goto(live_server.url + path).status == 200, path
        page.wait_for_load_state("networkidle")
        png = small_png(page.screenshot(full_page=True, animations="disabled"))
        assert len(png) <= MAX_BYTES, (name, len(png))
        (folder / f"{name}.png").write_bytes(png)
