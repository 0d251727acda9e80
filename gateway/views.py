"""The portal's face of the gateway: the JWKS upstreams verify entitlement tokens with."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from gateway.signing import keys

# Upstreams cache the set this long; on a token with a kid they have not seen (a rotation just
# happened) they fetch it again at once (docs/entitlements.md).
JWKS_MAX_AGE_SECONDS = 60


@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    response = JsonResponse(keys.ring().jwks)
    response["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE_SECONDS}"
    return response
