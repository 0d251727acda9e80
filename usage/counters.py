"""The fields of the gateway's usage hashes: ``<key_id>|<product>|<endpoint>|<outcome>``.

An admitted call of a weighted endpoint counts in ``<key_id>|<product>|<endpoint>|ok|<cost>``
(gateway/limits.lua): its units are its calls times the cost. A refused call consumes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

OK = "ok"

CountKey = tuple[str, str, str, str]  # key_id, product, endpoint, outcome


class Tally(NamedTuple):
    calls: int
    units: int  # quota consumed: calls times their cost when admitted, 0 when refused

    def __add__(self, other: object) -> Tally:  # adds, not concatenates
        assert isinstance(other, Tally)
        return Tally(self.calls + other.calls, self.units + other.units)


NOTHING = Tally(0, 0)


def parse_usage(raw: dict[bytes, bytes]) -> dict[CountKey, Tally]:
    tallies: dict[CountKey, Tally] = defaultdict(lambda: NOTHING)
    for name, value in raw.items():
        key_id, product, endpoint, field = name.decode().split("|", 3)
        outcome, _, cost = field.partition("|")
        calls = int(value)
        units = calls * int(cost or 1) if outcome == OK else 0
        tallies[(key_id, product, endpoint, outcome)] += Tally(calls, units)
    return tallies


def parse_counts(raw: dict[bytes, bytes]) -> dict[CountKey, int]:
    """Calls only, whatever their cost."""
    return {key: tally.calls for key, tally in parse_usage(raw).items()}
