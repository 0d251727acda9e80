"""Drop cached policies in every gateway process within a second of a change.

A change publishes the account id (or ``*`` for the whole catalog) on one Redis channel; each
process runs one daemon thread subscribed to it. While the thread is disconnected it may miss
messages, so on every (re)connection it clears everything it holds.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import redis

from gateway.policy import catalog, policies
from portal.redis_client import get_redis

CHANNEL = "tg:gateway:invalidate"
EVERYTHING = "*"
RECONNECT_DELAY_SECONDS = 0.5

log = logging.getLogger(__name__)
_listener_pid: int | None = None
_start_lock = threading.Lock()


def apply(message: str) -> None:
    if message == EVERYTHING:
        policies.clear()
        catalog.clear()
    elif message.isdigit():
        policies.forget(int(message))


def publish(message: str) -> None:
    """Apply in this process at once, then tell the others (best effort when Redis is down:
    their caches expire within GATEWAY_POLICY_TTL_SECONDS anyway)."""
    apply(message)
    try:
        get_redis().publish(CHANNEL, message)
    except redis.RedisError:
        log.warning("could not publish gateway invalidation %s: Redis unreachable", message)


def ensure_listening() -> None:
    """Start this process's listener once (again in a forked child: threads do not survive)."""
    global _listener_pid
    if _listener_pid == os.getpid():
        return
    with _start_lock:
        if _listener_pid == os.getpid():
            return
        threading.Thread(target=_listen_forever, name="gateway-invalidation", daemon=True).start()
        _listener_pid = os.getpid()


def _listen_forever() -> None:
    while True:
        try:
            pubsub = get_redis().pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(CHANNEL)
            apply(EVERYTHING)  # anything published while we were away is lost: start afresh
            while True:
                # A timeout, not listen(): the pool's 1 s socket timeout would end listen().
                message = pubsub.get_message(timeout=1.0)
                if message is not None:
                    apply(message["data"].decode())
        except Exception:  # a dropped connection shows up as several kinds of error
            log.debug("gateway invalidation listener reconnecting", exc_info=True)
            time.sleep(RECONNECT_DELAY_SECONDS)
