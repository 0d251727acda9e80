from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from apikeys import (
    api,
    converters,  # noqa: F401 - registers <key_id:…> and <token_id:…>
)

urlpatterns: list[URLPattern | URLResolver] = [
    path("keys/", api.KeyListCreate.as_view(), name="api_keys"),
    path("keys/<key_id:key_id>/", api.KeyDetail.as_view(), name="api_key"),
    path("keys/<key_id:key_id>/rotate/", api.KeyRotate.as_view(), name="api_key_rotate"),
    path("keys/<key_id:key_id>/revoke/", api.KeyRevoke.as_view(), name="api_key_revoke"),
    path("tokens/", api.TokenListCreate.as_view(), name="api_tokens"),
    path("tokens/<token_id:token_id>/revoke/", api.TokenRevoke.as_view(), name="api_token_revoke"),
]
