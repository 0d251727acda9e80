"""Drop cached policies in every gateway process within a second of a change.

A change publishes the account id (or ``*`` for the whole catalog) on one Redis channel; each
process listens (core.listener: heartbeat, reconnection). While the listener is deaf it may miss
messages, so whenever it loses or regains Redis this process clears everything it holds.
"""

from __future__ import annotations

from core.listener import Channel
from gateway.policy import catalog, plans, policies

CHANNEL = "tg:gateway:invalidate"
EVERYTHING = "*"


def apply(message: str) -> None:
    if message == EVERYTHING:
        plans.clear()  # first: a policy loaded after the clear below must not see old terms
        policies.clear()
        catalog.clear()
    elif message.isdigit():
        policies.forget(int(message))


policy_channel = Channel(CHANNEL)
listener = policy_channel.listen(on_message=apply, on_deaf=lambda: apply(EVERYTHING))


def publish(message: str) -> None:
    """Apply in this process at once, then tell the others (best effort when Redis is down:
    their caches expire within GATEWAY_POLICY_TTL_SECONDS anyway)."""
    policy_channel.publish([message])


def ensure_listening() -> None:
    """Start this process's listener once (again in a forked child: threads do not survive)."""
    listener.ensure_running()
