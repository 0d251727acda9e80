from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from urllib.parse import urlencode

import pytest
import requests
from django.test import TestCase

from billing import gateway
from billing.catalog_sync import sync_catalog
from catalog.models import Coupon, Plan
from stripe_simulator.app import SimulatorApp
from stripe_simulator.server import serve_in_thread
from stripe_simulator.webhooks import signature_header
from tests.billing.in_process import InProcessTransport, wsgi_call
from tests.gateway.stack import GatewayStack
from tests.helpers import ROOT, celery_worker, free_port, wait_for

WEBHOOK_SECRET = "whsec_test_secret"


@contextmanager
def billed_stack(tmp_path, sim, **env: str) -> Iterator[GatewayStack]:
    """The gateway stack billing through the simulator: its signed webhooks reach the stack's
    portal through nginx, and a real Celery worker applies them."""
    stripe = {"STRIPE_API_BASE": sim.url, "STRIPE_SECRET_KEY": "sk_test_simulator",
              "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}  # fmt: skip
    running = GatewayStack(tmp_path, None, 1, **stripe, **env).start()
    sim.control("webhooks", url=f"{running.url}/billing/webhook", secret=WEBHOOK_SECRET)
    try:
        with celery_worker(env=running.env):
            yield running
    finally:
        sim.control("webhooks", url="")
        running.stop()


class Sim:
    """The simulator, and shortcuts to its test controls. `url` is where it answers HTTP."""

    def __init__(self, url: str, app: SimulatorApp | None = None) -> None:
        self.url = url
        self.app = app  # in this process: the controls call it directly, as the SDK does
        self.transport = InProcessTransport(app, url) if app else None

    def _send(self, method: str, path: str, data: dict) -> tuple[int, dict]:
        if self.app is None:
            response = requests.request(method, f"{self.url}{path}", data=data, timeout=10)
            return response.status_code, response.json()
        content, status, _ = wsgi_call(
            self.app, method, f"{self.url}{path}",
            {"Content-Type": "application/x-www-form-urlencoded"}, urlencode(data).encode(),
        )  # fmt: skip
        return status, json.loads(content)

    def control(self, path: str, **data) -> dict:
        status, body = self._send("POST", f"/_sim/{path}", data)
        assert status == 200, body
        return body

    def control_status(self, path: str, **data) -> int:
        """A test control expected to be refused: its status code."""
        return self._send("POST", f"/_sim/{path}", data)[0]

    def pay_checkout(
        self, checkout_url: str, card: str = "4242424242424242", promotion_code: str = ""
    ) -> dict:
        session_id = checkout_url.rsplit("/", 1)[1]
        return self.control(f"checkout/{session_id}/pay", card=card, promotion_code=promotion_code)

    def meter_events(self) -> list[dict]:
        return self._send("GET", "/_sim/meter_events", {})[1]["data"]

    def events(self) -> list[dict]:
        return self._send("GET", "/_sim/events", {})[1]["data"]

    def exchanges(self) -> list[dict]:
        """The /v1 and /v2 requests the simulator answered since the test began."""
        return self._send("GET", "/_sim/requests", {})[1]["data"]


@pytest.fixture(scope="session")
def _simulator_in_process():
    """The simulator app in this process, one for the session (each test resets it). The SDK
    calls it without a socket; a thread serves the same app on a port for hosted pages."""
    server, app = serve_in_thread("127.0.0.1", free_port(), "", WEBHOOK_SECRET)
    try:
        yield Sim(app.store.base_url, app)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def _simulator_server():
    """`manage.py stripe_simulator` in its own process, for the end-to-end tests."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "stripe_simulator", "--port", str(port),
         "--webhook-url", "", "--webhook-secret", WEBHOOK_SECRET],
        cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    sim = Sim(f"http://127.0.0.1:{port}")
    try:
        wait_for(lambda: _answers(sim.url), timeout=30, what="the Stripe simulator")
        yield sim
    finally:
        process.terminate()
        process.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/_sim/events", timeout=1).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture
def sim(request, settings, monkeypatch):
    """A fresh simulator with no webhook target; events are only recorded.

    In this process by default; a test marked `simulator_process` gets the simulator's own
    process (`manage.py stripe_simulator`) and the SDK's ordinary HTTP client.
    """
    if request.node.get_closest_marker("simulator_process"):
        chosen = request.getfixturevalue("_simulator_server")
    else:
        chosen = request.getfixturevalue("_simulator_in_process")
        monkeypatch.setattr(gateway, "HTTP_CLIENT", chosen.transport)
    settings.STRIPE_API_BASE = chosen.url
    settings.STRIPE_SECRET_KEY = "sk_test_simulator"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    chosen.control("reset")
    chosen.control("webhooks", url="")
    return chosen


@pytest.fixture
def launch(plans):
    """20% off for three months, code LAUNCH20."""
    coupon = Coupon.objects.create(
        slug="launch", name="Launch: 20% off", percent_off=Decimal("20"),
        duration="repeating", duration_in_months=3, promotion_codes=["LAUNCH20"],
    )  # fmt: skip
    sync_catalog()
    coupon.refresh_from_db()
    return coupon


@pytest.fixture
def plans(db, sim):
    free = Plan.objects.create(slug="free", name="Free", is_default=True, requests_per_period=100)
    starter = Plan.objects.create(
        slug="starter", name="Starter", monthly_price=Decimal("10.00"), requests_per_period=1000,
        overage_price_per_1000=Decimal("0.50"), sort_order=1,
    )  # fmt: skip
    pro = Plan.objects.create(
        slug="pro", name="Pro", monthly_price=Decimal("50.00"), requests_per_period=100_000,
        requests_per_second=50, sort_order=2,
    )  # fmt: skip
    sync_catalog()
    for plan in (free, starter, pro):
        plan.refresh_from_db()
    return {"free": free, "starter": starter, "pro": pro}


def signed_post(client, event: dict, secret: str = WEBHOOK_SECRET, timestamp: int | None = None):
    payload = json.dumps(event).encode()
    # In tests wrapped in a transaction, run the on-commit work (the apply task, emails) too.
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(
            "/billing/webhook",
            data=payload,
            content_type="application/json",
            headers={"Stripe-Signature": signature_header(payload, secret, timestamp)},
        )


def deliver(client, events: list[dict]) -> list[int]:
    """Post each event to the webhook view, signed, in the given order."""
    return [signed_post(client, event).status_code for event in events]


def subscribe(
    sim,
    client,
    account,
    plan,
    user,
    card: str = "4242424242424242",
    interval: str = "month",
    promotion_code: str = "",
) -> str:
    """Checkout through the flows and the simulator, then deliver its webhooks; the sub id."""
    from billing import flows

    start = len(sim.events())
    url = flows.start_checkout(
        account, plan, user, "http://t/s?session_id={CHECKOUT_SESSION_ID}", "http://t/c", interval
    )
    session = sim.pay_checkout(url, card, promotion_code)
    deliver(client, sim.events()[start:])
    return session["subscription"]


def run_and_deliver(sim, client, action) -> None:
    """Do something in the simulator, then deliver the events it emitted."""
    start = len(sim.events())
    action()
    deliver(client, sim.events()[start:])
