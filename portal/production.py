"""What production refuses: development stand-ins that would quietly lose money or data.

With ``DEBUG=false`` the settings module raises ImproperlyConfigured with these messages, so
every process (portal, auth server, worker, beat, collector) and ``manage.py check --deploy``
stop at start-up, each message naming the variable to set. ``ALLOW_DEMO_BACKENDS=true`` lets a
demo run on the stand-ins; the simulator's webhook secret is public and never accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

SIMULATOR_WEBHOOK_SECRET = "whsec_tollgate_simulator"


@dataclass(frozen=True)
class Backends:
    database_engine: str
    redis_is_embedded: bool
    stripe_uses_simulator: bool
    stripe_webhook_secret: str


def refusals(backends: Backends, allow_demo_backends: bool) -> list[str]:
    """One message per unsafe choice, each naming the variable that fixes it."""
    problems = []
    if not allow_demo_backends:
        if backends.stripe_uses_simulator:
            problems.append(
                "STRIPE_SECRET_KEY is not set: billing would use the bundled Stripe simulator"
            )
        if backends.database_engine.endswith("sqlite3"):
            problems.append("DATABASE_URL is SQLite: set it to a PostgreSQL URL")
        if backends.redis_is_embedded:
            problems.append("REDIS_URL is not set: the embedded Redis is for development only")
    if backends.stripe_webhook_secret in ("", SIMULATOR_WEBHOOK_SECRET):
        problems.append(
            "STRIPE_WEBHOOK_SECRET must be set to your endpoint's signing secret "
            "(never the simulator's public one)"
        )
    return problems


def message(problems: list[str]) -> str:
    return (
        "unsafe configuration with DEBUG=false (ALLOW_DEMO_BACKENDS=true allows the demo "
        "stand-ins): " + "; ".join(problems)
    )
