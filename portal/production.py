"""What production refuses: development stand-ins that would quietly lose money, data or mail,
addresses left at their development defaults, and secrets anyone could guess.

With ``DEBUG=false`` the settings module raises ImproperlyConfigured with these messages, so
every process (portal, auth server, worker, beat, collector) and ``manage.py check --deploy``
stop at start-up, each message naming the variable to set. ``ALLOW_DEMO_BACKENDS=true`` lets a
demo run on the stand-ins; the simulator's webhook secret is public and never accepted, and a
demo still needs its own addresses and real secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SIMULATOR_WEBHOOK_SECRET = "whsec_tollgate_simulator"

# Production has no sensible default for these: the development ones (http://127.0.0.1:8000,
# localhost) would put wrong links in every email and refuse every real request.
REQUIRED_ADDRESSES = {
    "SITE_URL": "the portal's public address, such as https://portal.example.com",
    "ALLOWED_HOSTS": "the portal's host names, comma-separated, such as portal.example.com",
}

# The shortest value accepted for each secret an operator generates. SECRET_KEY: Django's own
# bound (its deploy check security.W009). The others key an HMAC (APIKEY_PEPPER,
# GATEWAY_SECRET) or are bearer tokens (METRICS_TOKEN): 32 characters of token_urlsafe carry
# 192 bits.
MINIMUM_LENGTHS = {"SECRET_KEY": 50, "GATEWAY_SECRET": 32, "METRICS_TOKEN": 32}
# APIKEY_PEPPER's too, but only advised: a new one makes every API key issued so far stop
# working, so a short pepper an earlier release accepted is warned about (`check --deploy`:
# portal.W001), never refused at an upgrade. A placeholder is refused all the same: it is public.
ADVISED_LENGTHS = {"APIKEY_PEPPER": 32}
GENERATE = "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"
# Secrets someone else issues: only a placeholder is refused, their format is theirs.
ISSUED_BY = {
    "STRIPE_SECRET_KEY": "your Stripe dashboard",
    "STRIPE_WEBHOOK_SECRET": "your Stripe dashboard",
    "EMAIL_HOST_PASSWORD": "your mail provider",
}
# What replacing a secret costs, said where production asks for a new one.
CONSEQUENCES = {
    "SECRET_KEY": " (everyone is signed out, and a GATEWAY_SECRET derived from it changes)",
    "APIKEY_PEPPER": " (every API key issued so far stops working: they must be issued again)",
}
# What the example files put where a secret goes: change-me-…, or an ellipsis (sk_live_…).
PLACEHOLDER_PREFIX, PLACEHOLDER_MARK = "change-me", "…"


@dataclass(frozen=True)
class Backends:
    database_engine: str
    redis_is_embedded: bool
    stripe_uses_simulator: bool
    stripe_webhook_secret: str
    # No EMAIL_HOST nor EMAIL_BACKEND: mail is only written to files under var/mail.
    mail_is_local: bool


def refusals(
    backends: Backends,
    allow_demo_backends: bool,
    addresses: Mapping[str, str],
    secrets: Mapping[str, str],
) -> list[str]:
    """One message per unsafe choice, each naming the variable that fixes it. `addresses` holds
    what the environment gave each of REQUIRED_ADDRESSES; `secrets` the secrets that are set."""
    return [
        *([] if allow_demo_backends else stand_in_refusals(backends)),
        *webhook_secret_refusals(backends.stripe_webhook_secret),
        *address_refusals(addresses),
        *secret_refusals(secrets),
    ]


def stand_in_refusals(backends: Backends) -> list[str]:
    problems = []
    if backends.stripe_uses_simulator:
        problems.append(
            "STRIPE_SECRET_KEY is not set: billing would use the bundled Stripe simulator"
        )
    if backends.database_engine.endswith("sqlite3"):
        problems.append("DATABASE_URL is SQLite: set it to a PostgreSQL URL")
    if backends.redis_is_embedded:
        problems.append("REDIS_URL is not set: the embedded Redis is for development only")
    if backends.mail_is_local:
        problems.append(
            "EMAIL_HOST is not set: sign-up confirmations and every other email would only be "
            "written to files under TOLLGATE_VAR_DIR/mail; set EMAIL_HOST (with EMAIL_PORT, "
            "EMAIL_HOST_USER, EMAIL_HOST_PASSWORD) or name a backend in EMAIL_BACKEND"
        )
    return problems


def webhook_secret_refusals(secret: str) -> list[str]:
    if secret in ("", SIMULATOR_WEBHOOK_SECRET):
        return [
            "STRIPE_WEBHOOK_SECRET must be set to your endpoint's signing secret "
            "(never the simulator's public one)"
        ]
    return []


def address_refusals(addresses: Mapping[str, str]) -> list[str]:
    return [
        f"{name} is not set: set it to {meaning}"
        for name, meaning in REQUIRED_ADDRESSES.items()
        if not addresses.get(name, "").strip()
    ]


def secret_refusals(secrets: Mapping[str, str]) -> list[str]:
    problems = []
    for name, value in secrets.items():
        remedy = (
            f"use the one from {ISSUED_BY[name]}"
            if name in ISSUED_BY
            else f"generate one with {GENERATE}"
        ) + CONSEQUENCES.get(name, "")
        if is_placeholder(value):
            problems.append(f"{name} is the example file's placeholder: {remedy}")
        elif len(value) < MINIMUM_LENGTHS.get(name, 0):
            problems.append(f"{name} is shorter than {MINIMUM_LENGTHS[name]} characters: {remedy}")
    return problems


def secret_cautions(secrets: Mapping[str, str]) -> list[str]:
    """Secrets shorter than advised that replacing would cost too much to refuse."""
    return [
        f"{name} is shorter than {length} characters: an attacker holding the key hashes "
        f"(a database backup) could try keys offline; replacing it{CONSEQUENCES[name]}"
        for name, length in ADVISED_LENGTHS.items()
        if name in secrets and len(secrets[name]) < length
    ]


def is_placeholder(value: str) -> bool:
    return value.strip().lower().startswith(PLACEHOLDER_PREFIX) or PLACEHOLDER_MARK in value


def message(problems: list[str]) -> str:
    return (
        "unsafe configuration with DEBUG=false (ALLOW_DEMO_BACKENDS=true allows the demo "
        "stand-ins): " + "; ".join(problems)
    )
