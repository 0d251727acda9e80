"""Values computed from Django settings, kept until one of those settings changes.

Production settings never change while a process runs, so a value derived from them (a Redis
client, the key hashing's keyed HMAC, the gateway secret's bytes) is computed once. Tests change
settings (``override_settings``), which sends ``setting_changed``: the value is forgotten then
and computed again from the new settings on its next use. Reading a setting through Django's
lazy ``settings`` runs Python code each time; calling a kept value is one cached C call, which
matters on the gateway's hot path.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from django.core.signals import setting_changed

T = TypeVar("T")


def kept_until_changed(*names: str) -> Callable[[Callable[[], T]], Callable[[], T]]:
    """Decorate a function of no arguments: its value is kept until a setting of ``names``
    changes."""

    def decorate(function: Callable[[], T]) -> Callable[[], T]:
        kept = cache(function)

        def forget(setting: str, **_: Any) -> None:
            if setting in names:
                kept.cache_clear()

        setting_changed.connect(
            forget, weak=False, dispatch_uid=f"{function.__module__}.{function.__qualname__}"
        )
        return kept

    return decorate
