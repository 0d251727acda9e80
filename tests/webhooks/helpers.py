from __future__ import annotations

import json

from webhooks import signing


def signed_events(receiver, secret: str) -> list[dict]:
    """Every request the receiver got, each checked: a valid signature within the tolerance
    (of the receiver's clock when it arrived), and the event id in the header and in the body."""
    events = []
    for received in receiver.requests:
        header = received.headers["tollgate-signature"]
        assert signing.verify(secret, header, received.body, int(received.at)), header
        event = json.loads(received.body)
        assert received.headers["tollgate-event-id"] == event["id"]
        assert received.headers["tollgate-event-type"] == event["type"]
        events.append(event)
    return events


def worker_env(trust_test_ca, tmp_path, **settings: str) -> dict[str, str]:
    """The environment of a Celery worker for this test: its database and Redis, the test CA
    trusted, loopback receivers allowed, and any other settings given."""
    from django.conf import settings as django_settings

    from tests.gateway.stack import database_url

    return {
        "REDIS_URL": django_settings.REDIS_URL,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": django_settings.SECRET_KEY,
        "APIKEY_PEPPER": django_settings.APIKEY_PEPPER,
        "SSL_CERT_FILE": str(trust_test_ca),
        "WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true",
        "TOLLGATE_VAR_DIR": str(tmp_path / "var"),
        **settings,
    }


def types_of(events: list[dict]) -> list[str]:
    return [event["type"] for event in events]
