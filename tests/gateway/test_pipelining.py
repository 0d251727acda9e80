"""gateway.pipelining on a real uvloop loop and a real Redis: shared round trips, reused
greenlets, and a reused greenlet starting each decision clean."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import redis
import uvloop

from gateway import counting, pipelining
from portal.redis_client import get_redis


def send(*command: str) -> Any:
    """Inside a decision: one command through the pipeline, waiting for its reply."""
    running = pipelining.current()
    assert running is not None, "not on a decision greenlet"
    return running.round_trip(counting.pack(*command))


def run_decisions(kwargs: dict[str, Any], commands: list[tuple[str, ...]]) -> dict[str, Any]:
    """Start one decision per command in the same loop iteration, as a burst of nginx's calls
    would; each sends its command through the pipeline and returns the reply (or the error)."""
    loop = uvloop.new_event_loop()
    pipeline = pipelining.Pipeline(loop, kwargs)
    seen: dict[str, Any] = {"results": [], "states": [], "greenlets": set()}

    def decision(command: tuple[str, ...]) -> Any:
        try:
            return send(*command)
        except redis.RedisError as error:
            return error

    async def burst() -> None:
        done = loop.create_future()

        def answered(result: Any, greenlet: pipelining.DecisionGreenlet) -> None:
            seen["results"].append(result)
            seen["states"].append((greenlet.sent, greenlet.failure))
            if len(seen["results"]) == len(commands):
                done.set_result(None)

        for command in commands:
            greenlet = pipeline.decision()
            seen["greenlets"].add(greenlet)
            greenlet.start(partial(decision, command), partial(answered, greenlet=greenlet))
        await asyncio.wait_for(done, 5)

    try:
        loop.run_until_complete(burst())
        seen["writes"], seen["idle"] = pipeline.writes, list(pipeline.idle)
        first = seen["greenlets"]
        seen["greenlets"] = set()
        seen["results"], seen["states"] = [], []
        loop.run_until_complete(burst())  # a second burst: the same greenlets serve it
        seen["reused"] = seen["greenlets"] <= first
    finally:
        loop.close()
    return seen


def test_decisions_of_one_iteration_share_a_round_trip_each_with_its_own_reply(redis_db):
    kwargs = dict(get_redis().connection_pool.connection_kwargs)
    commands = [("INCRBY", "pipelined", str(n)) for n in range(1, 21)]
    seen = run_decisions(kwargs, commands)
    assert seen["writes"] <= 2  # the connection's set-up may go alone; then one write for all
    assert sorted(seen["results"]) == sorted(sum(range(1, 21)) + sum(range(1, n + 1))
                                             for n in range(1, 21))  # fmt: skip
    assert redis_db.get("pipelined") == str(2 * sum(range(1, 21))).encode()
    assert len(seen["idle"]) == 20  # every greenlet went back to the pool...
    assert seen["reused"]  # ...and the second burst ran on them, not on new ones
    assert all(state == (True, None) for state in seen["states"])


def test_a_reused_greenlet_starts_each_decision_clean(private_redis):
    kwargs = dict(redis.Redis.from_url(private_redis.url).connection_pool.connection_kwargs)
    private_redis.stop()  # the first decision's command fails: Redis is gone
    loop = uvloop.new_event_loop()
    pipeline = pipelining.Pipeline(loop, kwargs)
    states: list[tuple[str, bool, BaseException | None]] = []

    def failing() -> str:
        try:
            send("PING")
        except redis.ConnectionError:
            return "failed"
        return "answered"

    async def main() -> None:
        done = loop.create_future()
        first = pipeline.decision()

        def answered(result: str) -> None:
            states.append((result, first.sent, first.failure))
            done.set_result(None)

        first.start(failing, answered)
        await asyncio.wait_for(done, 5)
        second = pipeline.decision()
        assert second is first  # back in the pool, and taken again
        second.start(
            lambda: "sent nothing",
            lambda r: states.append((r, second.sent, second.failure)),
        )

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    (result, _, failure), later = states
    assert result == "failed" and isinstance(failure, redis.ConnectionError)
    # What tells the server whether a decision may run again on a thread is this decision's own.
    assert later == ("sent nothing", False, None)
