from __future__ import annotations

from tests.billing.conftest import (  # noqa: F401 - shared fixtures
    _simulator_in_process,
    _simulator_server,
    plans,
    sim,
)
