"""gateway_config's production options: pools, TLS files, HTTPS upstreams, trusted proxies."""

from __future__ import annotations

import os
import subprocess

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from gateway.management.commands.gateway_config import https_port_suffix, upstream_of
from tests.gateway.support import make_plan, make_product


def render(tmp_path, **options) -> str:
    with open(os.devnull, "w") as quiet:
        call_command("gateway_config", run_dir=str(tmp_path), stdout=quiet, **options)
    return (tmp_path / "nginx.conf").read_text()


def nginx_accepts(tmp_path) -> subprocess.CompletedProcess[str]:
    conf = str(tmp_path / "nginx.conf")
    return subprocess.run(["/usr/sbin/nginx", "-t", "-p", str(tmp_path), "-c", conf],
                          capture_output=True, text=True)  # fmt: skip


def test_upstreams_may_be_http_or_https_with_default_ports():
    assert upstream_of("https://api.example.com/v1") == {
        "scheme": "https", "host": "api.example.com", "address": "api.example.com:443"}  # fmt: skip
    assert upstream_of("http://10.0.0.5")["address"] == "10.0.0.5:80"
    assert upstream_of("https://[2001:db8::1]:8443")["address"] == "[2001:db8::1]:8443"


@pytest.mark.parametrize(
    "url",
    ["ftp://files.example.com", "https://", "api.example.com", "https://a.com;evil", "https://a b"],
)
def test_other_upstreams_are_refused(url):
    with pytest.raises(CommandError):
        upstream_of(url)


def test_the_http_redirect_keeps_a_non_default_https_port():
    assert https_port_suffix("0.0.0.0:443") == ""
    assert https_port_suffix("443") == ""
    assert https_port_suffix("127.0.0.1:8443") == ":8443"


@pytest.mark.django_db
def test_a_production_config_renders_and_nginx_accepts_it(tmp_path, settings):
    make_plan("free", [make_product(upstream_url="https://localhost:9443")], is_default=True)
    from tests.e2e.tls import ThrowawayCA

    ca = ThrowawayCA(tmp_path)
    cert, key = ca.issue("gateway", ["localhost"])
    settings.GATEWAY_TLS_CERTIFICATE, settings.GATEWAY_TLS_CERTIFICATE_KEY = str(cert), str(key)
    settings.GATEWAY_UPSTREAM_CA_BUNDLE = str(ca.path)
    settings.GATEWAY_TRUSTED_PROXIES = ["10.0.0.0/8"]
    pools = {"auth": "10.0.0.1:8002, 10.0.0.2:8002", "portal": "10.0.0.1:8000,10.0.0.2:8000"}
    conf = render(tmp_path, listen="127.0.0.1:8443", http_listen="127.0.0.1:8080", **pools)
    assert "listen 127.0.0.1:8443 ssl;" in conf and f"ssl_certificate {cert};" in conf
    assert "server 10.0.0.1:8002;\n        server 10.0.0.2:8002;" in conf
    assert "server 10.0.0.2:8000;" in conf
    assert "10.0.0.0/8 1;" in conf
    assert "proxy_ssl_name localhost;" in conf and "proxy_ssl_verify on;" in conf
    assert "return 301 https://$host:8443$request_uri;" in conf
    result = nginx_accepts(tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_a_certificate_without_its_key_is_refused(tmp_path, settings):
    settings.GATEWAY_TLS_CERTIFICATE = "/etc/tollgate/tls/cert.pem"
    with pytest.raises(CommandError, match="GATEWAY_TLS_CERTIFICATE_KEY"):
        render(tmp_path)


@pytest.mark.django_db
def test_a_plain_http_listener_needs_tls_to_redirect_to(tmp_path):
    with pytest.raises(CommandError, match="GATEWAY_TLS_CERTIFICATE"):
        render(tmp_path, http_listen="127.0.0.1:8080")


@pytest.mark.django_db
@pytest.mark.parametrize("pool", ["", "10.0.0.1:8002;evil", "a b"])
def test_a_bad_pool_is_refused(tmp_path, pool):
    with pytest.raises(CommandError, match="--auth"):
        render(tmp_path, auth=pool)


def test_trusted_proxies_must_be_networks(tmp_path):
    from tests.portal.test_production_settings import deploy_check, production_env

    result = deploy_check(production_env(tmp_path, GATEWAY_TRUSTED_PROXIES="10.0.0.0/8,nope"))
    assert result.returncode != 0
    assert "GATEWAY_TRUSTED_PROXIES: 'nope' is not an IP network" in result.stderr
