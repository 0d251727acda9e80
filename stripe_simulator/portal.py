"""Customer Portal sessions, and what the portal offers."""

from __future__ import annotations

from typing import Any

from stripe_simulator.errors import missing
from stripe_simulator.shapes import new_id, shape
from stripe_simulator.store import Store, now


def create_session(store: Store, p: dict[str, Any]) -> dict[str, Any]:
    customer = store.get("customer", p.get("customer", ""), "customer")
    if p.get("configuration", store.portal_configuration) != store.portal_configuration:
        # The simulator has one configuration, the account's default.
        raise missing("billing_portal.configuration", p["configuration"], "configuration")
    session_id = new_id("bps")
    return store.put(
        shape(
            "billing_portal.session",
            id=session_id,
            created=now(),
            customer=customer["id"],
            livemode=False,
            return_url=p.get("return_url"),
            url=f"{store.base_url}/portal/{session_id}",
            configuration=store.portal_configuration,
            flow=None,
        )
    )


def prices(store: Store) -> list[dict[str, Any]]:
    """Prices a customer may switch to in the portal: active, licensed, with a lookup key."""
    return [
        p
        for p in store.all("price")
        if p["active"] and p["lookup_key"] and p["recurring"]["usage_type"] == "licensed"
    ]
