"""core.collector: a process holding large caches, whose short-lived objects come in bursts
(the calls in flight, a batch of reloaded rows), runs no full collection once tuned.

Each case runs in a fresh interpreter: freezing and thresholds are process-wide."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

# 200,000 long-lived objects (a cache), then 300 bursts of 2,000 objects alive together (a
# batch of reloads) which also replace 500 of the cached ones; counts the full passes.
SCENARIO = textwrap.dedent(
    """
    import gc, sys
    from core import collector

    cache = [[n] for n in range(200_000)]
    if sys.argv[1] == "tuned":
        collector.tune_for_long_caches()
    full_passes = []
    gc.callbacks.append(
        lambda phase, info: phase == "stop" and info["generation"] == 2 and full_passes.append(1)
    )
    for burst in range(300):
        rows = [{"row": n} for n in range(2_000)]
        for n in range(500):
            cache[(burst * 500 + n) % len(cache)] = [rows[n]["row"]]
        del rows
    print(len(full_passes))
    """
)


def run(script: str, *args: str) -> int:
    """What a fresh interpreter running ``script`` in the project prints, as a number."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    return int(done.stdout)


def full_passes(mode: str) -> int:
    return run(SCENARIO, mode)


def test_bursts_of_short_lived_objects_set_off_no_full_pass_once_tuned():
    assert full_passes("tuned") == 0


def test_the_scenario_sets_off_full_passes_with_cpython_defaults():
    """The scenario above is one the defaults get wrong (else it would prove nothing)."""
    assert full_passes("defaults") > 0


def test_what_lives_before_tuning_is_never_walked_again():
    """A full pass walks only what came later: the cache made before is frozen."""
    script = "import gc; from core import collector; cache = [[n] for n in range(100_000)]; "
    script += "collector.tune_for_long_caches(); print(gc.get_freeze_count())"
    assert run(script) >= 100_000
