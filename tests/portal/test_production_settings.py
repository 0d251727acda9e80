"""Production refuses development stand-ins, reads URL secrets from files and picks its broker."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from portal import production
from portal.keyfiles import create_if_missing
from portal.production import SIMULATOR_WEBHOOK_SECRET, Backends, refusals
from tests.helpers import ROOT
from tests.portal.env_files import systemd_reading

SAFE = Backends(
    database_engine="django.db.backends.postgresql",
    redis_is_embedded=False,
    stripe_uses_simulator=False,
    stripe_webhook_secret="whsec_real",
    mail_is_local=False,
)
ADDRESSES = {"SITE_URL": "https://portal.example.com", "ALLOWED_HOSTS": "portal.example.com"}
SECRETS = {"SECRET_KEY": "k" * 50, "APIKEY_PEPPER": "p" * 32, "STRIPE_WEBHOOK_SECRET": "whsec_x"}


def refused(backends=SAFE, allow_demo_backends=False, addresses=ADDRESSES, secrets=SECRETS):
    return refusals(backends, allow_demo_backends, addresses, secrets)


def test_safe_backends_are_accepted():
    assert refused() == []


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"stripe_uses_simulator": True}, "STRIPE_SECRET_KEY"),
        ({"database_engine": "django.db.backends.sqlite3"}, "DATABASE_URL"),
        ({"redis_is_embedded": True}, "REDIS_URL"),
        ({"mail_is_local": True}, "EMAIL_HOST"),
    ],
)
def test_each_stand_in_is_refused_unless_the_demo_allows_it(change, variable):
    backends = Backends(**{**SAFE.__dict__, **change})
    (problem,) = refused(backends)
    assert problem.startswith(variable)
    assert refused(backends, allow_demo_backends=True) == []


@pytest.mark.parametrize("secret", ["", SIMULATOR_WEBHOOK_SECRET])
def test_the_public_webhook_secret_is_refused_even_in_a_demo(secret):
    backends = Backends(**{**SAFE.__dict__, "stripe_webhook_secret": secret})
    for allow in (False, True):
        (problem,) = refused(backends, allow_demo_backends=allow)
        assert problem.startswith("STRIPE_WEBHOOK_SECRET")


@pytest.mark.parametrize("name", ["SITE_URL", "ALLOWED_HOSTS"])
@pytest.mark.parametrize("given", [None, "", "  "])
def test_the_public_addresses_are_required_even_in_a_demo(name, given):
    addresses = {k: v for k, v in ADDRESSES.items() if k != name}
    if given is not None:
        addresses[name] = given
    for allow in (False, True):
        (problem,) = refused(addresses=addresses, allow_demo_backends=allow)
        assert problem.startswith(f"{name} is not set: set it to ")


WEAK_SECRETS = [
    ("SECRET_KEY", "x" * 49, "shorter than 50 characters"),
    ("SECRET_KEY", "change-me-to-50-random-characters-" + "x" * 30, "placeholder"),
    ("APIKEY_PEPPER", "Change-Me", "placeholder"),
    ("GATEWAY_SECRET", "g" * 31, "shorter than 32 characters"),
    ("METRICS_TOKEN", "scrape-me", "shorter than 32 characters"),
    ("METRICS_TOKEN", "change-me", "placeholder"),
    ("STRIPE_SECRET_KEY", "sk_live_…", "placeholder"),
    ("STRIPE_WEBHOOK_SECRET", "whsec_…", "placeholder"),
    ("EMAIL_HOST_PASSWORD", "change-me-to-your-smtp-password", "placeholder"),
]


@pytest.mark.parametrize(("name", "value", "why"), WEAK_SECRETS)
def test_placeholder_and_short_secrets_are_refused_even_in_a_demo(name, value, why):
    for allow in (False, True):
        (problem,) = refused(secrets={**SECRETS, name: value}, allow_demo_backends=allow)
        assert problem.startswith(f"{name} is ") and why in problem
        if name.startswith(("STRIPE_", "EMAIL_")):
            assert "use the one from your" in problem  # someone else issues it
        else:
            assert "generate one with python3 -c 'import secrets;" in problem
        assert value not in problem  # a message never repeats a secret
        if name == "APIKEY_PEPPER":
            assert "every API key issued so far stops working" in problem


def test_secrets_issued_elsewhere_have_no_length_of_ours():
    issued = {"STRIPE_SECRET_KEY": "sk_test_1", "STRIPE_WEBHOOK_SECRET": "whsec_1",
              "EMAIL_HOST_PASSWORD": "pw"}  # fmt: skip
    assert refused(secrets={**SECRETS, **issued}) == []


EXAMPLES = sorted((ROOT / "deploy").glob("**/*.env.example"))
CHECKED = (
    set(production.MINIMUM_LENGTHS) | set(production.ADVISED_LENGTHS) | set(production.ISSUED_BY)
)


def test_a_short_pepper_is_warned_about_not_refused():
    """Replacing APIKEY_PEPPER makes every issued key stop working: an upgrade must not demand
    it of a deployment whose pepper an earlier release accepted."""
    short = {**SECRETS, "APIKEY_PEPPER": "p" * 31}
    assert refused(secrets=short) == []
    (caution,) = production.secret_cautions(short)
    assert caution.startswith("APIKEY_PEPPER is shorter than 32 characters")
    assert "every API key issued so far stops working" in caution and "p" * 31 not in caution
    assert production.secret_cautions(SECRETS) == []


def test_check_deploy_shows_the_caution(settings):
    from portal.apps import short_secrets

    settings.APIKEY_PEPPER = "p" * 31
    assert [m.id for m in short_secrets()] == ["portal.W001"]
    settings.APIKEY_PEPPER = "p" * 32
    assert short_secrets() == []


def test_every_secret_an_example_file_ships_is_refused():
    shipped = [(path.name, name, value) for path in EXAMPLES
               for name, value in systemd_reading(path).items() if name in CHECKED]  # fmt: skip
    assert {name for _, name, _ in shipped} >= {"SECRET_KEY", "APIKEY_PEPPER", "METRICS_TOKEN"}
    for example, name, value in shipped:
        assert production.secret_refusals({name: value}), f"{example}: {name}={value}"


def production_env(tmp_path, **overrides: str) -> dict[str, str]:
    """A complete production environment (nothing inherited that could make it pass)."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            (
                "DATABASE_URL",
                "REDIS_URL",
                "STRIPE_",
                "CELERY_",
                "DJANGO_ALLOW",
                "EMAIL_",
                "SITE_URL",
                "ALLOWED_HOSTS",
                "GATEWAY_SECRET",
                "METRICS_TOKEN",
            )
        )
    }
    signing_key = tmp_path / "entitlement_signing_key.pem"
    create_if_missing(signing_key)
    env = {
        **inherited,
        "TOLLGATE_VAR_DIR": str(tmp_path),
        "DEBUG": "false",
        "SECRET_KEY": "k" * 30 + "Q7%x!v" * 10,
        "APIKEY_PEPPER": "p" * 50,
        "ALLOWED_HOSTS": "portal.example.com",
        "SITE_URL": "https://portal.example.com",
        "DATABASE_URL": "postgres://tollgate:pw@db.example.com:5432/tollgate",
        "REDIS_URL": "redis://:pw@redis.example.com:6379/0",
        "STRIPE_SECRET_KEY": "sk_live_example",
        "STRIPE_WEBHOOK_SECRET": "whsec_from_the_dashboard",
        "EMAIL_HOST": "smtp.example.com",
        "ENTITLEMENT_SIGNING_KEY_FILE": str(signing_key),
        **overrides,
    }
    return {k: v for k, v in env.items() if v != "<unset>"}


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def show(env: dict[str, str], *names: str) -> list[str]:
    code = "from django.conf import settings as s; "
    code += f"print(*(getattr(s, n) for n in {names!r}), sep='\\n')"
    env = {**env, "DJANGO_SETTINGS_MODULE": "portal.settings"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, text=True,
                            capture_output=True, env=env)  # fmt: skip
    return result.stdout.splitlines()


def test_a_complete_production_environment_passes_the_deploy_check(tmp_path):
    result = deploy_check(production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


UNSAFE = [
    ({"STRIPE_SECRET_KEY": "<unset>"}, "STRIPE_SECRET_KEY is not set"),
    ({"DATABASE_URL": "sqlite:///tmp/db.sqlite3"}, "DATABASE_URL is SQLite"),
    ({"REDIS_URL": "<unset>"}, "REDIS_URL is not set"),
    ({"STRIPE_WEBHOOK_SECRET": SIMULATOR_WEBHOOK_SECRET}, "STRIPE_WEBHOOK_SECRET must be set"),
    ({"STRIPE_WEBHOOK_SECRET": "<unset>"}, "STRIPE_WEBHOOK_SECRET must be set"),
    ({"EMAIL_HOST": "<unset>"}, "EMAIL_HOST is not set"),
    ({"SITE_URL": "<unset>"}, "SITE_URL is not set"),
    ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS is not set"),
    ({"SECRET_KEY": "x" * 49}, "SECRET_KEY is shorter than 50 characters"),
    ({"APIKEY_PEPPER": "change-me-to-another-50-random-characters"}, "APIKEY_PEPPER is the"),
    ({"METRICS_TOKEN": "change-me"}, "METRICS_TOKEN is the example file's placeholder"),
]


@pytest.mark.parametrize(("change", "message"), UNSAFE)
def test_the_deploy_check_and_start_up_refuse_each_unsafe_setting(tmp_path, change, message):
    env = production_env(tmp_path, **change)
    result = deploy_check(env)
    assert result.returncode != 0
    assert "ImproperlyConfigured: unsafe configuration with DEBUG=false" in result.stderr
    assert message in result.stderr
    # Every server imports the settings first: the WSGI module refuses just the same.
    started = subprocess.run([sys.executable, "-c", "import portal.wsgi"], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=False)  # fmt: skip
    assert started.returncode != 0 and message in started.stderr


@pytest.mark.parametrize("key_file", ["<unset>", "/nonexistent/entitlement.pem"])
def test_production_refuses_to_start_without_an_entitlement_signing_key(tmp_path, key_file):
    env = production_env(tmp_path, ENTITLEMENT_SIGNING_KEY_FILE=key_file)
    for argv in (["manage.py", "check", "--deploy"], ["-c", "import portal.wsgi"]):
        started = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env,
                                 capture_output=True, text=True, check=False)  # fmt: skip
        assert started.returncode != 0
        assert "ENTITLEMENT_SIGNING_KEY_FILE must name the Ed25519 private key" in started.stderr
    # Not even a demo runs without one: tokens signed with a key anyone could read are worthless.
    demo = production_env(tmp_path, ENTITLEMENT_SIGNING_KEY_FILE=key_file,
                          ALLOW_DEMO_BACKENDS="true")  # fmt: skip
    assert deploy_check(demo).returncode != 0


def test_an_explicit_demo_runs_on_the_stand_ins_but_not_on_the_public_secret(tmp_path):
    demo = {"ALLOW_DEMO_BACKENDS": "true", "STRIPE_SECRET_KEY": "<unset>",
            "DATABASE_URL": "<unset>", "REDIS_URL": "<unset>"}  # fmt: skip
    assert deploy_check(production_env(tmp_path, **demo)).returncode == 0
    refused = deploy_check(production_env(tmp_path, **demo, STRIPE_WEBHOOK_SECRET="<unset>"))
    assert refused.returncode != 0 and "STRIPE_WEBHOOK_SECRET" in refused.stderr


def test_compose_env_example_as_shipped_is_refused(tmp_path):
    """Copied without filling in (DEBUG=false comes from the image): every placeholder named."""
    shipped = systemd_reading(ROOT / "deploy" / "compose.env.example")
    env = production_env(tmp_path)
    env = {**{k: v for k, v in env.items() if k not in shipped}, **shipped, "DEBUG": "false",
           "ENTITLEMENT_SIGNING_KEY_FILE": env["ENTITLEMENT_SIGNING_KEY_FILE"]}  # fmt: skip
    result = deploy_check(env)
    assert result.returncode != 0
    for name in ("SECRET_KEY", "APIKEY_PEPPER", "METRICS_TOKEN", "STRIPE_SECRET_KEY",
                 "STRIPE_WEBHOOK_SECRET", "EMAIL_HOST_PASSWORD"):  # fmt: skip
        assert f"{name} is the example file's placeholder" in result.stderr, name


def test_a_demo_may_write_its_mail_to_files_and_any_deployment_may_name_its_backend(tmp_path):
    demo = production_env(tmp_path, ALLOW_DEMO_BACKENDS="true", EMAIL_HOST="<unset>")
    assert deploy_check(demo).returncode == 0
    console = "django.core.mail.backends.console.EmailBackend"
    chosen = production_env(tmp_path, EMAIL_HOST="<unset>", EMAIL_BACKEND=console)
    assert deploy_check(chosen).returncode == 0
    assert show(chosen, "EMAIL_BACKEND") == [console]
    assert show(production_env(tmp_path), "EMAIL_BACKEND", "EMAIL_PORT", "EMAIL_USE_TLS") == [
        "django.core.mail.backends.smtp.EmailBackend", "587", "True"]  # fmt: skip


@pytest.mark.parametrize("backend", ["smtp", "no.such.module.Backend", "a b.C"])
def test_a_misspelt_mail_backend_names_the_variable(tmp_path, backend):
    result = deploy_check(production_env(tmp_path, EMAIL_BACKEND=backend))
    assert result.returncode != 0
    assert "EMAIL_BACKEND must be the import path of a class" in result.stderr


def test_urls_with_passwords_can_come_from_files(tmp_path):
    urls = {
        "DATABASE_URL": "postgres://tollgate:s3cret@db.example.com:5433/tollgate",
        "REDIS_URL": "redis://:s3cret@redis.example.com:6380/2",
        "CELERY_BROKER_URL": "amqp://tollgate:s3cret@mq.example.com:5672/tollgate",
    }
    env = production_env(tmp_path, DATABASE_URL="<unset>", REDIS_URL="<unset>")
    for name, url in urls.items():
        (tmp_path / name).write_text(url + "\n")
        env[f"{name}_FILE"] = str(tmp_path / name)
    database, redis_url, broker, embedded = show(
        env, "DATABASES", "REDIS_URL", "CELERY_BROKER_URL", "REDIS_IS_EMBEDDED"
    )
    assert "'PASSWORD': 's3cret'" in database and "'PORT': 5433" in database
    assert (redis_url, broker, embedded) == (urls["REDIS_URL"], urls["CELERY_BROKER_URL"], "False")


def test_a_url_file_that_is_not_a_url_names_the_variable(tmp_path):
    (tmp_path / "url").write_text("not a url")
    env = production_env(tmp_path, REDIS_URL="<unset>", REDIS_URL_FILE=str(tmp_path / "url"))
    result = deploy_check(env)
    assert result.returncode != 0 and "REDIS_URL must be a URL" in result.stderr


def test_the_broker_defaults_to_redis_and_can_be_set_apart(tmp_path):
    env = production_env(tmp_path)
    assert show(env, "CELERY_BROKER_URL") == ["redis://:pw@redis.example.com:6379/0"]
    env["CELERY_BROKER_URL"] = "amqp://guest:guest@127.0.0.1:5672//"
    broker, backend = show(env, "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")
    assert broker == "amqp://guest:guest@127.0.0.1:5672//"
    assert backend == "rpc://"  # results come back over the broker


def test_health_probes_over_plain_http_are_not_redirected(tmp_path):
    code = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "from tests.portal.probing import call, portal_app\n"
        "print(*(call(portal_app, p)[0] for p in ('/healthz', '/livez')))\n"
        "print(Client().get('/').status_code)\n"
    )
    env = {**production_env(tmp_path), "ALLOWED_HOSTS": "testserver",
           "DJANGO_SETTINGS_MODULE": "portal.settings"}  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, text=True,
                            capture_output=True, check=True)  # fmt: skip
    probes, home = result.stdout.splitlines()
    assert home == "301"  # every page moves to HTTPS
    healthz, livez = probes.split()
    assert livez == "200"
    assert healthz in ("200", "503")  # the probe reads the answer itself
