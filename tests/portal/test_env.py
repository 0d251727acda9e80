from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.env import (
    env_address,
    env_bool,
    env_choice,
    env_dotted_path,
    env_int,
    env_list,
    env_secret,
    env_url,
)
from tests.helpers import ROOT


def test_it_reads_booleans():
    assert env_bool("X", False, {"X": "yes"}) is True
    assert env_bool("X", True, {"X": "off"}) is False
    assert env_bool("X", True, {}) is True


@pytest.mark.parametrize(
    ("reader", "value"),
    [
        (lambda env: env_bool("SOME_FLAG", False, env), "maybe"),
        (lambda env: env_int("SOME_FLAG", 1, env), "ten"),
        (lambda env: env_int("SOME_FLAG", 1, env, minimum=1), "0"),
        (lambda env: env_choice("SOME_FLAG", "deny", ("deny", "allow"), env), "sometimes"),
        (lambda env: env_url("SOME_FLAG", "sqlite://", env), "not a url"),
        (lambda env: env_dotted_path("SOME_FLAG", env), "smtp"),
        (lambda env: env_dotted_path("SOME_FLAG", env), "no_such_package.backends.Backend"),
        (lambda env: env_dotted_path("SOME_FLAG", env), "django.core.mail.backends.nope.X"),
    ],
)
def test_it_rejects_bad_values_naming_the_variable(reader, value):
    with pytest.raises(ImproperlyConfigured, match="SOME_FLAG"):
        reader({"SOME_FLAG": value})


def test_it_reads_import_paths_without_importing_them():
    smtp = "django.core.mail.backends.smtp.EmailBackend"
    assert env_dotted_path("BACKEND", {"BACKEND": f" {smtp} "}) == smtp
    assert env_dotted_path("BACKEND", {}) == ""


def test_it_reads_lists():
    assert env_list("HOSTS", ["x"], {"HOSTS": " a.com, b.com ,"}) == ["a.com", "b.com"]
    assert env_list("HOSTS", ["x"], {}) == ["x"]


def test_it_reads_secrets_from_files(tmp_path):
    path = tmp_path / "secret"
    path.write_text("s3cret\n")
    assert env_secret("TOKEN", {"TOKEN_FILE": str(path)}) == "s3cret"
    with pytest.raises(ImproperlyConfigured, match="TOKEN_FILE"):
        env_secret("TOKEN", {"TOKEN_FILE": str(tmp_path / "missing")})


def load_settings(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "APIKEY_PEPPER"}}
    return subprocess.run(
        [sys.executable, "-c", "import portal.settings"],
        cwd=ROOT,
        env={**clean, "TOLLGATE_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = load_settings(tmp_path, DEBUG="false", APIKEY_PEPPER="p" * 40)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LOG_LEVEL", "verbose", "LOG_LEVEL must be one of debug, info, warning, error, critical"),
        ("SENTRY_DSN", "not-a-dsn", "SENTRY_DSN is not a Sentry DSN (https://KEY@HOST/PROJECT)"),
        ("SENTRY_DSN", "https://o1.ingest.example.com/1", "SENTRY_DSN is not a Sentry DSN"),
    ],
)
def test_a_malformed_log_level_or_sentry_dsn_names_the_variable(tmp_path, name, value, message):
    result = load_settings(tmp_path, **{name: value})
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {message}" in result.stderr
    assert "Unable to configure" not in result.stderr


def test_log_levels_are_read_in_any_case(tmp_path):
    assert load_settings(tmp_path, LOG_LEVEL="warning").returncode == 0
    assert load_settings(tmp_path, LOG_LEVEL="ERROR").returncode == 0


def test_a_bad_database_url_names_the_variable(tmp_path):
    result = load_settings(tmp_path, DATABASE_URL="nonsense")
    assert "DATABASE_URL" in result.stderr and result.returncode != 0


def test_development_generates_secrets_once_and_reuses_them(tmp_path):
    assert load_settings(tmp_path).returncode == 0
    first = (tmp_path / "secret_key").read_text()
    assert load_settings(tmp_path).returncode == 0
    assert (tmp_path / "secret_key").read_text() == first
    assert (tmp_path / "apikey_pepper").read_text() != first


def test_addresses_are_host_and_port():
    assert env_address("AUTH", "127.0.0.1:8002", {}) == "127.0.0.1:8002"
    assert env_address("AUTH", "x:1", {"AUTH": " [::1]:9000 "}) == "[::1]:9000"
    for bad in ("127.0.0.1", "8002", ":8002", "http://127.0.0.1:8002", "host:port", "h:99999"):
        with pytest.raises(ImproperlyConfigured, match="AUTH must be host:port"):
            env_address("AUTH", "x:1", {"AUTH": bad})


def test_the_auth_server_address_may_be_a_unix_socket_nginx_reads_as_one_word():
    path = "unix:/run/tollgate-auth/auth.sock"
    assert env_address("AUTH", "x:1", {"AUTH": path}, unix=True) == path
    with pytest.raises(ImproperlyConfigured, match="AUTH must be host:port"):
        env_address("AUTH", "x:1", {"AUTH": path})  # only where a unix socket is meant
    for bad in (
        "unix:",
        "unix:auth.sock",
        "unix:/a b",
        "unix:/a;b",
        "unix:/a}",
        "unix:/" + "a" * 107,
    ):
        with pytest.raises(ImproperlyConfigured, match="unix:/absolute/path"):
            env_address("AUTH", "x:1", {"AUTH": bad}, unix=True)


def test_a_redis_cluster_needs_a_broker_of_its_own(tmp_path):
    cluster = {"REDIS_URL": "redis://127.0.0.1:7000/0", "REDIS_CLUSTER": "true"}
    result = load_settings(tmp_path, **cluster, CELERY_BROKER_URL="")
    assert result.returncode != 0 and "CELERY_BROKER_URL" in result.stderr
    assert load_settings(tmp_path, **cluster, CELERY_BROKER_URL="redis://q:6379/1").returncode == 0
