"""The URL converter for webhook endpoints' public ids (we_…).

Only a well-formed id reaches a view, so nothing a client puts in the path (a NUL byte, which
PostgreSQL refuses in text) gets near a query; anything else is the 404 of an unknown path.
"""

from __future__ import annotations

from django.urls import register_converter


class EndpointIdConverter:
    regex = "we_[0-9A-Za-z_-]{1,37}"  # new_endpoint_id's shape; the column holds 40

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(EndpointIdConverter, "endpoint_id")
