"""DRF authentication by personal access token: ``Authorization: Bearer tg_pat_…``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from apikeys import keys
from apikeys.models import PersonalAccessToken

BEARER_CHALLENGE = 'Bearer realm="api"'


class PersonalAccessTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, PersonalAccessToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None  # not ours: let session authentication try
        if len(parts) != 2:
            raise AuthenticationFailed("Send exactly one token after “Bearer”.", "invalid_token")
        raw = parts[1].decode("ascii", "replace")
        token = PersonalAccessToken.objects.for_raw_token(raw)
        if token is None:
            if keys.is_well_formed(raw):
                raise AuthenticationFailed(
                    "That is an API key for the gateway; the portal API takes a personal "
                    "access token (tg_pat_…) from your profile page.",
                    "api_key_not_accepted",
                )
            raise AuthenticationFailed(
                "The token is malformed, unknown, expired or revoked.", "invalid_token"
            )
        token.touch()
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return BEARER_CHALLENGE


# drf-spectacular's __init_subclass__, which registers the extension, is unannotated.
class PersonalAccessTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Describes the token in the OpenAPI schema (drf-spectacular finds it by subclassing)."""

    target_class = "apikeys.authentication.PersonalAccessTokenAuthentication"
    name = "personalAccessToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal access token (tg_pat_…) from /profile/tokens/.",
        }
