"""A stack moved with PORTAL_PORT (`PORTAL_PORT=18410 make run`) links, redirects and sends the
simulator's webhooks to itself, not to a stack on the default ports."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.helpers import ROOT

# The settings, the services runstack would start (nothing is started) and the simulator's
# default webhook target, as one process sees them.
SEE = """
import json, django
django.setup()
from django.conf import settings as s
from billing.management.commands.stripe_simulator import Command
from portal.stack import all_services
services = {service.name: service.argv for service in all_services()}
webhook = Command().create_parser("manage.py", "stripe_simulator").parse_args([]).webhook_url
print(json.dumps({"SITE_URL": s.SITE_URL, "GATEWAY_PUBLIC_URL": s.GATEWAY_PUBLIC_URL,
                  "AUTH_SERVER_ADDRESS": s.AUTH_SERVER_ADDRESS, "webhook": webhook,
                  "portal": services["portal"], "nginx": services["nginx"],
                  "demo": services["demo-api"]}))
"""
MOVED = ("SITE_URL", "GATEWAY_PUBLIC_URL", "GATEWAY_PORT", "DEMO_API_PORT", "PORTAL_PORT",
         "AUTH_SERVER_ADDRESS", "MOCK_SERVER_ADDRESS", "DEBUG", "STRIPE_SECRET_KEY")  # fmt: skip


def seen(tmp_path, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in MOVED}
    clean.update(TOLLGATE_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="portal.settings", **env)
    result = subprocess.run([sys.executable, "-c", SEE], cwd=ROOT, env=clean, text=True,
                            capture_output=True, check=True)  # fmt: skip
    return json.loads(result.stdout)


def after(argv: list[str], option: str) -> str:
    return argv[argv.index(option) + 1]


def test_a_moved_portal_moves_its_addresses_and_the_simulators_webhooks(tmp_path):
    stack = seen(tmp_path, PORTAL_PORT="18410")
    assert stack["SITE_URL"] == "http://127.0.0.1:18410"
    assert stack["webhook"] == "http://127.0.0.1:18410/billing/webhook"
    assert after(stack["portal"], "--port") == "18410"
    assert stack["AUTH_SERVER_ADDRESS"] == "127.0.0.1:18412"
    # nginx beside it (+80), and the public URL the portal shows API clients is that nginx.
    assert stack["GATEWAY_PUBLIC_URL"] == "http://127.0.0.1:18490"
    assert after(stack["nginx"], "--listen") == "127.0.0.1:18490"
    assert after(stack["nginx"], "--portal") == "127.0.0.1:18410"
    assert after(stack["demo"], "--port") == "18491"


def test_a_moved_gateway_moves_its_public_url(tmp_path):
    stack = seen(tmp_path, PORTAL_PORT="18410", GATEWAY_PORT="18450")
    assert stack["GATEWAY_PUBLIC_URL"] == "http://127.0.0.1:18450"
    assert after(stack["nginx"], "--listen") == "127.0.0.1:18450"


def test_addresses_set_explicitly_are_kept(tmp_path):
    stack = seen(tmp_path, PORTAL_PORT="18410", SITE_URL="https://portal.example.com/",
                 GATEWAY_PUBLIC_URL="https://api.example.com")  # fmt: skip
    assert stack["SITE_URL"] == "https://portal.example.com"
    assert stack["webhook"] == "https://portal.example.com/billing/webhook"
    assert stack["GATEWAY_PUBLIC_URL"] == "https://api.example.com"


def test_the_defaults_are_the_documented_ports(tmp_path):
    stack = seen(tmp_path)
    assert (stack["SITE_URL"], stack["GATEWAY_PUBLIC_URL"]) == (
        "http://127.0.0.1:8000", "http://127.0.0.1:8080")  # fmt: skip


def test_a_port_out_of_range_names_the_variable(tmp_path):
    env = {**os.environ, "TOLLGATE_VAR_DIR": str(tmp_path), "PORTAL_PORT": "80000"}
    result = subprocess.run([sys.executable, "-c", "import portal.settings"], cwd=ROOT, env=env,
                            text=True, capture_output=True, check=False)  # fmt: skip
    assert result.returncode != 0
    assert "PORTAL_PORT must be at most 65535, not 80000" in result.stderr
