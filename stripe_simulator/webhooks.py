"""Signed webhook delivery with retries, the way Stripe does it: at least once, with backoff."""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from typing import Any

log = logging.getLogger("stripe_simulator")
RETRY_DELAYS = (0.5, 1, 2, 4, 8, 16, 32)


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """Stripe's scheme: v1 = HMAC-SHA256(secret, f"{t}.{payload}")."""
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


class Deliverer:
    """One background thread posting events to the target URL, retrying failures. With no URL
    (as Stripe with no webhook endpoint) events are only recorded, and no thread runs."""

    def __init__(self, url: str, secret: str) -> None:
        self.url = url
        self.secret = secret
        self.queue: list[tuple[float, int, int, dict[str, Any]]] = []
        self.order = itertools.count()
        self.wake = threading.Condition()
        self.delivered = 0
        self.failed_attempts = 0
        self.thread: threading.Thread | None = None

    def enqueue(self, event: dict[str, Any], attempt: int = 0, delay: float = 0) -> None:
        if not self.url:
            return
        with self.wake:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
                self.thread.start()
            heapq.heappush(self.queue, (time.monotonic() + delay, next(self.order), attempt, event))
            self.wake.notify()

    def _run(self) -> None:
        while True:
            with self.wake:
                while not self.queue or self.queue[0][0] > time.monotonic():
                    self.wake.wait(
                        timeout=(self.queue[0][0] - time.monotonic()) if self.queue else None
                    )
                _, _, attempt, event = heapq.heappop(self.queue)
            if not self.url:
                continue
            if self._post(event):
                self.delivered += 1
            elif attempt < len(RETRY_DELAYS):
                self.failed_attempts += 1
                self.enqueue(event, attempt + 1, RETRY_DELAYS[attempt])
            else:
                log.warning("gave up delivering %s after %d attempts", event["id"], attempt + 1)

    def _post(self, event: dict[str, Any]) -> bool:
        payload = json.dumps(event).encode()
        # The target is the portal's own configured webhook URL (http or https).
        request = urllib.request.Request(  # noqa: S310
            self.url,
            data=payload,
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": signature_header(payload, self.secret),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                status: int = response.status
                return 200 <= status < 300
        except (urllib.error.URLError, OSError) as error:
            log.info("webhook %s to %s failed: %s", event["id"], self.url, error)
            return False
