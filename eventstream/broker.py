"""The one module that talks to NATS (nats-py): make sure the stream exists, publish a batch
with JetStream acknowledgements.

Each message carries `Nats-Msg-Id` = the event id, so JetStream drops a re-published line
within the stream's duplicate window, and consumers dedupe on the id beyond it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import nats
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError

CONNECT_TIMEOUT = 2
ACK_TIMEOUT = 5
DUPLICATE_WINDOW_SECONDS = 120
BATCH_TIMEOUT = 30  # a broker that hangs fails the batch; it is published again next time


class BrokerError(Exception):
    pass


async def _quiet(error: Exception) -> None:
    pass


async def _publish(
    url: str, stream: str, subject: str, messages: Sequence[tuple[str, bytes]]
) -> None:
    client = await nats.connect(
        url,
        connect_timeout=CONNECT_TIMEOUT,
        max_reconnect_attempts=1,
        allow_reconnect=False,
        error_cb=_quiet,  # the failure reaches the caller as BrokerError; no traceback spam
    )
    try:
        js = client.jetstream(timeout=ACK_TIMEOUT)
        config = StreamConfig(
            name=stream,
            subjects=[subject],
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
        )
        # A stream that exists (with limits an operator may have tuned) is kept as it is.
        with contextlib.suppress(BadRequestError):
            await js.add_stream(config)
        # Publish all, then wait for every acknowledgement: the batch is durable when this
        # returns, and a failure raises before the caller moves its cursor.
        pending = [
            js.publish(subject, body, headers={"Nats-Msg-Id": event_id})
            for event_id, body in messages
        ]
        await asyncio.gather(*pending)
    finally:
        await client.close()


def publish(url: str, stream: str, subject: str, messages: Sequence[tuple[str, bytes]]) -> None:
    """Publish (event id, body) pairs durably, or raise BrokerError."""
    if not messages:
        return
    try:
        asyncio.run(asyncio.wait_for(_publish(url, stream, subject, messages), BATCH_TIMEOUT))
    except Exception as exc:  # nats-py raises many types (timeouts, connection, API errors)
        raise BrokerError(f"{type(exc).__name__}: {exc}") from exc
