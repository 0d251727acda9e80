"""Reads the gateway repeats with a new value each time, compiled to SQL once per process.

A gateway meeting 100,000 accounts reads each one's key, account and subscription on its first
call; each read is a one-row query, yet Django building its SQL (``as_sql`` and its helpers)
was two thirds of the cost, SQLite running it the rest. A ``PreparedRead`` builds the queryset
once with a stand-in value, keeps the SQL Django wrote for the database in use, and runs it
through ``Model.objects.raw`` with the real value in the stand-in's place: the same SQL, the
same columns converted by the same fields, without the building.

Only for a queryset of one model with no ``select_related`` or ``prefetch_related`` (a raw
query loads neither; related rows would cost a query each); annotations come back as
attributes, as from the queryset.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.db import connections
from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)

# Stand-ins no real value equals: the position of the value among the SQL's parameters is
# found by looking for it (keys, slugs and ids never take these values).
STAND_INS: dict[type, Any] = {int: -7_301_982_464_519, str: "\x00prepared-read\x00"}


class PreparedRead(Generic[M]):
    """``build(value)`` must return a queryset whose only parameter that varies is ``value``."""

    def __init__(self, build: Callable[[Any], QuerySet[M]], value_type: type) -> None:
        self.build = build
        self.stand_in = STAND_INS[value_type]
        # By database vendor: the SQL, its parameters, where the value goes, the model.
        self._compiled: dict[str, tuple[str, tuple[Any, ...], int, type[M]]] = {}

    def first(self, value: Any) -> M | None:
        """The first row the queryset would give for ``value`` (slice it to one)."""
        vendor = connections["default"].vendor
        compiled = self._compiled.get(vendor) or self.compile(vendor)
        sql, params, index, model = compiled
        values = (*params[:index], value, *params[index + 1 :])
        return next(iter(model._default_manager.raw(sql, values)), None)

    def compile(self, vendor: str) -> tuple[str, tuple[Any, ...], int, type[M]]:
        queryset = self.build(self.stand_in)
        sql, params = queryset.query.sql_with_params()
        if list(params).count(self.stand_in) != 1:
            raise ValueError(f"the value must be the query's parameter once: {params!r}")
        compiled = (sql, tuple(params), list(params).index(self.stand_in), queryset.model)
        self._compiled[vendor] = compiled
        return compiled
