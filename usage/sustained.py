"""`rate_limit.sustained`: an account refused for rate limits continuously, once per episode.

Built on the refusal counts the gateway writes into each hour's usage hash (gateway/limits.lua
counts `rate_limited` beside `ok`), as the flush moves them into the rollups: every batch it
applies tells how many of the account's live calls were refused for rate limits since the last
flush (USAGE_FLUSH_SECONDS, 30 s). An episode starts at the first flush that sees such a
refusal and goes on while each next one comes within RATE_LIMIT_SUSTAINED_GAP_SECONDS (90 s:
three flushes, so one slow flush does not cut an episode in two). Once an episode has lasted
RATE_LIMIT_SUSTAINED_SECONDS (60: a minute), its one event is emitted; a longer gap ends the
episode, and the next refusal starts another (and, a minute on, another event).

Exactly once: `observe` runs in the transaction that applies the batch, which a batch applied
before rolls back (usage/flush.py), under the account's row lock; the event's occurrence names
the episode (account and start), so even a second writer could not send it twice. Times are
the flush's, so an episode is seen up to one flush interval late. Test keys are left out: their
small fixed limits (GATEWAY_TEST_KEY_RPS/RPM) are hit on purpose by test suites.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from django.conf import settings

from accounts.models import Account
from usage.counters import CountKey, Tally
from usage.models import RateLimitEpisode
from webhooks import events as webhook_events

RATE_LIMITED = "rate_limited"


def rate_limited_in(counts: Mapping[CountKey, Tally]) -> int:
    return sum(t.calls for (_, _, _, outcome), t in counts.items() if outcome == RATE_LIMITED)


def observe(account: Account, refused: int, now: datetime) -> RateLimitEpisode | None:
    """Add one applied batch's rate-limit refusals to the account's episode; emit the event
    when the episode reaches the configured length. Call in the batch's transaction."""
    if refused <= 0:
        return None
    gap = timedelta(seconds=settings.RATE_LIMIT_SUSTAINED_GAP_SECONDS)
    episode = (
        RateLimitEpisode.objects.filter(account=account).order_by("-started_at", "-id").first()
    )
    if episode is None or now - episode.last_refused_at > gap:
        episode = RateLimitEpisode(account=account, started_at=now, last_refused_at=now)
    episode.last_refused_at = max(episode.last_refused_at, now)
    episode.refused += refused
    lasted = episode.last_refused_at - episode.started_at
    if episode.announced_at is None and lasted >= sustained_for():
        episode.announced_at = now
        announce(account, episode)
    episode.save()
    return episode


def sustained_for() -> timedelta:
    return timedelta(seconds=settings.RATE_LIMIT_SUSTAINED_SECONDS)


def announce(account: Account, episode: RateLimitEpisode) -> None:
    plan = account.effective_plan()
    data = {
        "started_at": episode.started_at.isoformat(),
        "sustained_seconds": settings.RATE_LIMIT_SUSTAINED_SECONDS,
        "refused": episode.refused,
        "limits": {
            "requests_per_second": plan.requests_per_second if plan else None,
            "requests_per_minute": plan.requests_per_minute if plan else None,
        },
    }
    occurrence = f"rate_limit.sustained:{account.pk}:{int(episode.started_at.timestamp())}"
    webhook_events.emit(account, "rate_limit.sustained", occurrence, data)
