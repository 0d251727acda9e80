from __future__ import annotations

from tests.usage.conftest import live_key  # noqa: F401 - shared fixture
