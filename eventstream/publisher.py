"""Publish every line of nginx's JSON access log as a usage event, at least once.

Read from this publisher's own cursor, publish the chunk's events and wait for JetStream's
acks, then move the cursor. A crash or a broker outage in between re-publishes those lines
under the same ids (host, file identity and offset make the id), never skips one.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from django.conf import settings

from eventstream import broker
from eventstream.events import event_id, to_event
from eventstream.models import StreamCursor

log = logging.getLogger(__name__)
CHUNK_BYTES = 256 * 1024


def enabled() -> bool:
    return bool(settings.EVENTSTREAM_NATS_URL)


def publish_once(path: Path) -> int:
    """Publish what is new in the log; returns the number of lines consumed."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return 0
    cursor, _ = StreamCursor.objects.get_or_create(path=str(path))
    offset = cursor.offset if cursor.inode == stat.st_ino and cursor.offset <= stat.st_size else 0
    with open(path, "rb") as handle:
        handle.seek(offset)
        chunk = handle.read(CHUNK_BYTES)
    complete = chunk[: chunk.rfind(b"\n") + 1]  # a half-written last line waits
    if not complete:
        return 0
    host = settings.GATEWAY_HOST_ID
    messages = []
    position = offset
    lines = complete.split(b"\n")[:-1]
    for raw in lines:
        identifier = event_id(host, stat.st_ino, position)
        position += len(raw) + 1
        event = to_event(raw.decode("utf-8", errors="replace"), identifier, host)
        if event is not None:
            messages.append((identifier, json.dumps(event, separators=(",", ":")).encode()))
    broker.publish(
        settings.EVENTSTREAM_NATS_URL,
        settings.EVENTSTREAM_STREAM,
        settings.EVENTSTREAM_SUBJECT,
        messages,
    )
    StreamCursor.objects.filter(pk=cursor.pk).update(
        inode=stat.st_ino, offset=offset + len(complete)
    )
    return len(lines)


def publish_available(path: Path) -> int:
    """Drain the backlog; a broker that is down is logged and retried on the next call."""
    total = 0
    try:
        while lines := publish_once(path):
            total += lines
    except broker.BrokerError as exc:
        log.warning("usage events not published yet (will retry): %s", exc)
    return total
