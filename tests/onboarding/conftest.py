from __future__ import annotations

from tests.billing.conftest import _simulator_server, plans, sim  # noqa: F401 - shared fixtures
