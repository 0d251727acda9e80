"""One raw value from a query string or form, for a view that looks it up without a form.

A NUL byte is text PostgreSQL refuses, so a query with one fails (a 500) instead of finding
nothing; a value longer than any stored one cannot match either. Such a value is a 400 here,
before any query."""

from __future__ import annotations

from django.core.exceptions import BadRequest
from django.http import QueryDict

LONGEST_LOOKUP = 255  # longer than any slug or Stripe id a view looks up


def lookup_value(params: QueryDict, name: str) -> str:
    """`params[name]` ("" when absent), or BadRequest (a 400 page) when it cannot be one."""
    value = params.get(name, "")
    if "\x00" in value or len(value) > LONGEST_LOOKUP:
        raise BadRequest(f"The {name} parameter is not valid.")
    return value
