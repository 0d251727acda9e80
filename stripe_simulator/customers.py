"""Customers."""

from __future__ import annotations

from typing import Any

from stripe_simulator.shapes import new_id, shape
from stripe_simulator.store import Store, now


def create(store: Store, p: dict[str, Any]) -> dict[str, Any]:
    return store.put(
        shape(
            "customer",
            id=new_id("cus"),
            created=now(),
            email=p.get("email"),
            name=p.get("name"),
            description=p.get("description"),
            metadata=p.get("metadata", {}),
            discount=None,
            address=None,
            shipping=None,
            invoice_prefix=new_id("x")[2:10].upper(),
        )
    )
