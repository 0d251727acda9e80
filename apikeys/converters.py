"""URL converters for the public ids of keys (key_…) and tokens (pat_…).

Only a well-formed id reaches a view, so nothing a client puts in the path (a NUL byte, which
PostgreSQL refuses in text) gets near a query, and the OpenAPI schema documents the exact shape.
"""

from __future__ import annotations

from django.urls import register_converter

from apikeys.models import PUBLIC_ID_LENGTH


class _PublicIdConverter:
    regex: str

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class KeyIdConverter(_PublicIdConverter):
    regex = f"key_[0-9A-Za-z]{{{PUBLIC_ID_LENGTH}}}"


class TokenIdConverter(_PublicIdConverter):
    regex = f"pat_[0-9A-Za-z]{{{PUBLIC_ID_LENGTH}}}"


register_converter(KeyIdConverter, "key_id")
register_converter(TokenIdConverter, "token_id")
