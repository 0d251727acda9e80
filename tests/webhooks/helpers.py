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


def types_of(events: list[dict]) -> list[str]:
    return [event["type"] for event in events]
