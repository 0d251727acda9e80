"""The portal API's pages: `limit` and `offset`, bounded so any value gets an answer."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

# Beyond this an OFFSET overflows the database's 64-bit integer (a 500); far beyond any list.
MAX_OFFSET = 2**62


class PortalPagination(LimitOffsetPagination):
    max_limit = 500  # a larger `limit` gets pages of this size

    def get_offset(self, request: Request) -> int:
        return min(super().get_offset(request), MAX_OFFSET)
