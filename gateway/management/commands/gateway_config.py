from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.template import Context, Engine

from catalog.models import TEST_ROUTE_MOCK, ApiProduct, sandbox_url_problem
from portal.env import NGINX_UNSAFE_CHARACTERS

TEMPLATE = settings.BASE_DIR / "deploy" / "nginx" / "gateway.conf.template"
# What nginx refuses itself, as JSON: the same in every server of TEMPLATE.
REFUSALS = settings.BASE_DIR / "deploy" / "nginx" / "refusals.conf.template"


DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters that could end an nginx directive or start a new one.
UNSAFE_IN_CONFIG = re.compile(f"[{NGINX_UNSAFE_CHARACTERS}]")


def upstream_of(url: str) -> dict[str, str]:
    """Scheme, host and host:port of a product's upstream: http://, or https:// (verified)."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise CommandError(f"upstream {url!r} must be an http:// or https:// URL with a host")
    if UNSAFE_IN_CONFIG.search(parts.netloc):
        raise CommandError(f"upstream {url!r} has characters nginx would misread")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    return {"scheme": parts.scheme, "host": parts.hostname, "address": f"{host}:{port}"}


def product_context(product: ApiProduct, upstream_url: str) -> dict[str, Any]:
    """What the template needs of one product: its live upstream and, unless test keys go
    there too, where they go instead (a sandbox upstream or the mock server)."""
    ident = re.sub(r"\W", "_", product.slug)
    live = upstream_of(upstream_url)
    context: dict[str, Any] = {
        "slug": product.slug, "slug_ident": ident, "path_prefix": product.path_prefix,
        "test_kind": product.test_route_kind, "sandbox": None, **live,
        # Host as the live upstream gets it today: its own name over TLS, the caller's in HTTP.
        "host_header": live["host"] if live["scheme"] == "https" else "$host",
    }  # fmt: skip
    if context["test_kind"] == "sandbox":
        problem = sandbox_url_problem(product.test_route)
        if problem:
            raise CommandError(
                f"product {product.slug}: test_route {product.test_route!r}: {problem}"
            )
        sandbox = upstream_of(product.test_route)
        context["sandbox"] = sandbox
        context["test_pass"] = f"{sandbox['scheme']}://product_{ident}_sandbox"
        https = sandbox["scheme"] == "https"
        context["test_host_header"] = sandbox["host"] if https else "$host"
        context["test_ssl_name"] = sandbox["host"] if https else live["host"]
    elif context["test_kind"] == TEST_ROUTE_MOCK:
        context["test_pass"] = "http://tollgate_mock"
        context["test_host_header"] = "$host"
        context["test_ssl_name"] = live["host"]
    sandbox_https = bool(context["sandbox"]) and context["sandbox"]["scheme"] == "https"
    context["any_https"] = live["scheme"] == "https" or sandbox_https
    return context


def addresses(value: str, option: str) -> list[str]:
    """A pool of servers: host:port[,host:port...] (or unix:/path, nginx's spelling)."""
    pool = [item.strip() for item in value.split(",") if item.strip()]
    if not pool or any(UNSAFE_IN_CONFIG.search(item) for item in pool):
        raise CommandError(f"{option} takes host:port[,host:port...], not {value!r}")
    return pool


def https_port_suffix(listen: str) -> str:
    """What the plain-HTTP redirect appends to the host: nothing for 443, else :PORT."""
    port = listen.rsplit(":", 1)[-1]
    return "" if port in ("443", listen) else f":{port}"


def tls_files() -> dict[str, str] | None:
    certificate, key = settings.GATEWAY_TLS_CERTIFICATE, settings.GATEWAY_TLS_CERTIFICATE_KEY
    if bool(certificate) != bool(key):
        raise CommandError("set both GATEWAY_TLS_CERTIFICATE and GATEWAY_TLS_CERTIFICATE_KEY")
    return {"certificate": certificate, "key": key} if certificate else None


def render(options: dict[str, Any]) -> str:
    """The nginx config for every product in the catalog (see deploy/nginx/)."""
    run_dir = Path(options["run_dir"]).resolve()
    tls = tls_files()
    # Optional for callers that render directly (tests/two_hosts.py), as are the TLS settings.
    http_listen = options.get("http_listen", "")
    if http_listen and tls is None:
        # Its every answer but the probes is a redirect to an HTTPS listener that would not exist.
        raise CommandError("--http-listen redirects to HTTPS: set GATEWAY_TLS_CERTIFICATE too")
    if any("=" not in item for item in options["upstream"]):
        raise CommandError("--upstream takes SLUG=URL")
    overrides = dict(item.split("=", 1) for item in options["upstream"])
    mock_address = options.get("mock") or settings.MOCK_SERVER_ADDRESS
    products = [
        product_context(p, overrides.get(p.slug, p.upstream_url))
        for p in ApiProduct.objects.order_by("-path_prefix")
    ]
    any_mock = any(p["test_kind"] == TEST_ROUTE_MOCK for p in products)
    engine = Engine(autoescape=False)
    refusals = engine.from_string(REFUSALS.read_text()).render(Context())
    return engine.from_string(TEMPLATE.read_text()).render(
        Context({
            "rendered_by": "manage.py gateway_config",
            "run_dir": run_dir,
            "conf_path": run_dir / "nginx.conf",
            "workers": options["workers"],
            "listen": options["listen"],
            "http_listen": http_listen,
            "https_port_suffix": https_port_suffix(options["listen"]),
            "tls": tls,
            "hsts": f"max-age={settings.GATEWAY_HSTS_SECONDS}; includeSubDomains",
            "trusted_proxies": settings.GATEWAY_TRUSTED_PROXIES,
            "ca_bundle": settings.GATEWAY_UPSTREAM_CA_BUNDLE,
            "auth_addresses": addresses(options["auth"], "--auth"),
            "portal_addresses": addresses(options["portal"], "--portal"),
            "products": products,
            "mock_address": addresses(mock_address, "--mock")[0] if any_mock else "",
            "secret": settings.GATEWAY_SECRET,
            "strip_key": settings.GATEWAY_STRIP_KEY,
            # Browsers on the portal's docs pages call the API ("try it"): let that origin in.
            "portal_origin": settings.SITE_URL,
            "access_log": not options["no_access_log"],
            "refusals": refusals,
        })
    )  # fmt: skip


class Command(BaseCommand):
    help = "Render the nginx gateway config for the catalog into RUN_DIR/nginx.conf."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--run-dir", default=str(settings.VAR_DIR / "nginx"))
        parser.add_argument("--listen", default="127.0.0.1:8080")
        parser.add_argument(
            "--http-listen", default="",
            help="also listen here in plain HTTP: probes answered, the rest redirected to HTTPS",
        )  # fmt: skip
        parser.add_argument(
            "--auth",
            default=settings.AUTH_SERVER_ADDRESS,
            help="the auth servers: host:port[,host:port...], or unix:/path for a unix socket",
        )
        parser.add_argument(
            "--portal", default="127.0.0.1:8000", help="the portal servers: host:port[,...]"
        )
        parser.add_argument(
            "--mock", default=settings.MOCK_SERVER_ADDRESS,
            help="the mock server (sandbox/server.py) for products whose test_route is mock",
        )  # fmt: skip
        parser.add_argument("--workers", default="2")
        parser.add_argument("--no-access-log", action="store_true")
        parser.add_argument(
            "--upstream", action="append", default=[], metavar="SLUG=URL",
            help="use URL instead of the product's upstream_url (tests, benchmarks)",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> str:
        run_dir = Path(options["run_dir"])
        run_dir.mkdir(parents=True, exist_ok=True)
        conf = run_dir / "nginx.conf"
        # The file holds the gateway secret: readable by its owner only.
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(render(options))
        return str(conf)  # printed by Django
