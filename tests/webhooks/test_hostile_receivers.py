"""A receiver answering garbage gets a recorded, failed attempt and the usual backoff: never a
crash after the claim (which re-sent the delivery every lease, forever, never disabling)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from django.utils import timezone

from webhooks import delivery
from webhooks.delivery import RETRY_DELAYS
from webhooks.models import Delivery, Endpoint, Event, EventType

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def raw_receiver(settings) -> Iterator[tuple[socket.socket, list[bytes]]]:
    """A TCP server on loopback that answers each connection with `answers[0]`, verbatim."""
    settings.DEBUG = True  # plain http://
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    server = socket.create_server(("127.0.0.1", 0))
    answers: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(answers[0])

    threading.Thread(target=serve, daemon=True).start()
    yield server, answers
    server.close()


def pending_delivery(team, port: int) -> Delivery:
    endpoint = Endpoint.objects.create(
        account=team, url=f"http://127.0.0.1:{port}/hook", event_types=["key.created"]
    )
    event = Event.objects.create(account=team, type=EventType.TEST, occurrence="webhook.test:x")
    return Delivery.objects.create(endpoint=endpoint, event=event, next_attempt_at=timezone.now())


@pytest.mark.parametrize(
    ("answer", "error_starts"),
    [
        (b"garbage\r\n\r\n", "BadStatusLine"),
        (b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", "LineTooLong"),
        (b"HTTP/1.1 500 Oops\r\nContent-Length: 5\r\n\r\nab\x00cd", ""),
    ],
    ids=["garbage-status-line", "header-line-over-64kb", "nul-in-body"],
)
def test_a_malformed_answer_is_a_failed_attempt_that_backs_off(
    team, raw_receiver, answer, error_starts
):
    server, answers = raw_receiver
    answers.append(answer)
    sent = pending_delivery(team, server.getsockname()[1])
    now = timezone.now()

    delivery.attempt(sent.pk, now)

    sent.refresh_from_db()
    assert sent.status == Delivery.Status.PENDING
    assert sent.attempts == 1
    assert sent.lease_until is None
    assert sent.next_attempt_at == now + RETRY_DELAYS[0]
    assert sent.error.startswith(error_starts)
    assert "\x00" not in sent.error + sent.response_body
    assert len(sent.error) <= delivery.STORED_ERROR
    assert sent.endpoint.busy_until is None


def test_a_nul_in_the_answer_body_is_kept_replaced(team, raw_receiver):
    server, answers = raw_receiver
    answers.append(b"HTTP/1.1 500 Oops\r\nContent-Length: 5\r\n\r\nab\x00cd")
    sent = pending_delivery(team, server.getsockname()[1])

    delivery.attempt(sent.pk, timezone.now())

    sent.refresh_from_db()
    assert (sent.response_status, sent.response_body) == (500, "ab\ufffdcd")


def test_an_unexpected_failure_while_sending_is_still_recorded(team, raw_receiver, monkeypatch):
    server, answers = raw_receiver
    answers.append(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    sent = pending_delivery(team, server.getsockname()[1])

    def broken(*args: object) -> None:
        raise RuntimeError("bug\x00in the sender")

    monkeypatch.setattr(delivery, "post", broken)
    now = timezone.now()
    assert delivery.attempt(sent.pk, now).startswith("pending")

    sent.refresh_from_db()
    assert (sent.attempts, sent.error) == (1, "RuntimeError: bug\ufffdin the sender")
    assert sent.next_attempt_at == now + RETRY_DELAYS[0]
