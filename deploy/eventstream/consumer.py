"""Consume Tollgate's usage events from NATS JetStream: an example for the seller's systems.

    pip install nats-py
    python consumer.py nats://127.0.0.1:4222 [--stream TOLLGATE_USAGE] [--durable warehouse]

A durable pull consumer: JetStream remembers what this consumer acknowledged, so a restart
continues where it stopped. Delivery is at least once: an event whose ack was lost comes again,
so `handle` must be idempotent; here it dedupes on the event id (in a real warehouse, make the
id the primary key and insert-or-ignore).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from typing import Any

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig


async def consume(
    url: str,
    stream: str,
    durable: str,
    handle: Callable[[dict[str, Any]], None],
    *,
    batch: int = 256,
    stop_when_idle: float | None = None,
) -> None:
    """Fetch, handle and ack events until cancelled (or idle for `stop_when_idle` seconds)."""
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        config = ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=30)
        subscription = await js.pull_subscribe("", durable=durable, stream=stream, config=config)
        while True:
            try:
                messages = await subscription.fetch(batch, timeout=stop_when_idle or 5)
            except NatsTimeout:
                if stop_when_idle is not None:
                    return
                continue
            for message in messages:
                handle(json.loads(message.data))
                await message.ack()  # after handling: a crash before this redelivers it
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--stream", default="TOLLGATE_USAGE")
    parser.add_argument("--durable", default="example")
    args = parser.parse_args()
    seen: set[str] = set()

    def handle(event: dict[str, Any]) -> None:
        if event["id"] in seen:
            return  # a redelivery
        seen.add(event["id"])
        print(event["time"], event["status"], event["method"], event["path"], event["account_id"])

    asyncio.run(consume(args.url, args.stream, args.durable, handle))


if __name__ == "__main__":
    main()
