"""`expand[]`, as Stripe's API description marks what can be expanded.

The description (the `stripe` package's declarations, summarised in stripe_objects.json's
`expandable`) marks two kinds of field: an id that can be replaced by its object (`customer:
string | Customer`, each of `discounts: Array<string | Discount>`), and a list a resource
includes only when asked (Checkout's `line_items?: ApiList<LineItem>`). A path walks through
hashes, arrays and the objects they embed (`items.data.price.product`, `data.customer` on a
list); its last part must be such a field. Stripe refuses any other path, as the simulator
does; a field that can be expanded but whose object the simulator does not keep is refused
saying so, never answered with the id.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from stripe_simulator.errors import invalid
from stripe_simulator.shapes import list_object, objects
from stripe_simulator.store import Store

Include = Callable[[Store, dict[str, Any]], dict[str, Any]]


def _subscriptions(store: Store, customer: dict[str, Any]) -> dict[str, Any]:
    found = store.list_for("subscription", {"customer": customer["id"]})
    return list_object(found, f"/v1/customers/{customer['id']}/subscriptions")


def _line_items(store: Store, session: dict[str, Any]) -> dict[str, Any]:
    from stripe_simulator.checkout_details import line_items

    return line_items(store, session)


def _none(name: str) -> Include:
    """A list of what the simulator never makes (tax IDs, sources): empty, as Stripe's is."""
    return lambda store, obj: list_object([], f"/v1/customers/{obj['id']}/{name}")


# The lists a resource includes when expanded, as the simulator makes them.
INCLUDED: dict[tuple[str, str], Include] = {
    ("checkout.session", "line_items"): _line_items,
    ("customer", "subscriptions"): _subscriptions,
    ("customer", "tax_ids"): _none("tax_ids"),
    ("customer", "sources"): _none("sources"),
}


def expand(store: Store, answer: Any, path: str) -> Any:
    """`answer` with `path` (one `expand[]` value) expanded, or a 400 naming it."""
    _walk(store, answer, path.split("."), answer.get("object", ""), "", path)
    return answer


def _walk(store: Store, obj: Any, parts: list[str], kind: str, where: str, shown: str) -> None:
    if isinstance(obj, list):
        for element in obj:
            _walk(store, element, parts, kind, where, shown)
        return
    if not isinstance(obj, dict):
        return
    if obj.get("object") not in (None, "list"):
        kind, where = obj["object"], ""  # a resource (embedded or expanded): its own fields
    head, rest = parts[0], parts[1:]
    full = f"{where}.{head}" if where else head
    fields = objects()["expandable"].get(kind, {})
    marked = fields.get(full)
    if obj.get("object") == "list" and not where and head != "data":
        raise invalid(
            "expand",
            f"This property cannot be expanded ({shown}). You may want to try expanding "
            f"'data.{shown}' instead.",
        )
    if marked is None:
        value = obj.get(head)
        if value is None and rest and any(path.startswith(f"{full}.") for path in fields):
            return  # a hash Stripe leaves null here holds nothing to expand
        if not rest or not isinstance(value, dict | list) or head in ("metadata", "object"):
            raise invalid("expand", f"This property cannot be expanded ({shown}).")
        _walk(store, value, rest, kind, full, shown)
        return
    if "include" in marked:
        included = INCLUDED.get((kind, full))
        if included is None:
            raise _not_kept(shown, kind, full)
        obj[head] = copy.deepcopy(included(store, obj))
    else:
        obj[head] = _objects(store, obj.get(head), shown, marked["expand"])
    if rest:
        _walk(store, obj[head], rest, kind, full, shown)


def _objects(store: Store, value: Any, shown: str, kinds: list[str]) -> Any:
    """The object (or each object of a list) an id names; null stays null."""
    if isinstance(value, list):
        return [_objects(store, element, shown, kinds) for element in value]
    if not isinstance(value, str):
        return value  # null, or already an object
    found = store.find(value)
    if found is None:
        raise _not_kept(shown, " or ".join(kinds), "")
    return copy.deepcopy(found)


def _not_kept(shown: str, kind: str, field: str) -> Exception:
    what = f"{kind}'s `{field}`" if field else f"{kind} objects"
    return invalid(
        "expand",
        f"This property cannot be expanded ({shown}): Stripe can expand it, but the Stripe "
        f"simulator does not keep {what}.",
    )
