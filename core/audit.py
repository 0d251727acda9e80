"""What the audit log needs to know of a request, and nothing more: who acted, from where.

Views make one with `AuditContext.of(request)` and hand it to the models' verbs, which so never
see an HttpRequest (and a command or a task passes none).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest


@dataclass(frozen=True, slots=True)
class AuditContext:
    actor_id: int | None
    ip: str | None

    @classmethod
    def of(cls, request: HttpRequest) -> AuditContext:
        user = request.user
        # REMOTE_ADDR only: behind nginx portal.proxies sets it from the X-Forwarded-For entry
        # nginx appended (and only with nginx's proof), never from one the client controls.
        return cls(
            actor_id=user.pk if user.is_authenticated else None,
            ip=request.META.get("REMOTE_ADDR") or None,
        )
