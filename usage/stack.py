from __future__ import annotations

import sys

from portal.stack import Service


def usage_services() -> list[Service]:
    """The access-log collector runs beside nginx for as long as the stack runs."""
    return [
        Service(
            "collector",
            [sys.executable, "manage.py", "collect_gateway_logs", "--follow"],
        )
    ]
