"""The fields of the gateway's usage hashes: ``<key_id>|<product>|<endpoint>|<outcome>``."""

from __future__ import annotations

from collections import defaultdict


def parse_counts(raw: dict[bytes, bytes]) -> dict[tuple[str, str, str, str], int]:
    counts: dict[tuple[str, str, str, str], int] = defaultdict(int)
    for name, value in raw.items():
        key_id, product, endpoint, outcome = name.decode().split("|", 3)
        counts[(key_id, product, endpoint, outcome)] += int(value)
    return counts
