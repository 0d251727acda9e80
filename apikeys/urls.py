from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from apikeys import (
    converters,  # noqa: F401 - registers <key_id:…> and <token_id:…>
    views,
)

urlpatterns: list[URLPattern | URLResolver] = [
    path("a/<slug:account_slug>/keys/", views.keys_page, name="keys"),
    path("a/<slug:account_slug>/keys/new/", views.create_key, name="key_create"),
    path("a/<slug:account_slug>/keys/<key_id:key_id>/rotate/", views.rotate_key, name="key_rotate"),
    path("a/<slug:account_slug>/keys/<key_id:key_id>/revoke/", views.revoke_key, name="key_revoke"),
    path("a/<slug:account_slug>/keys/<key_id:key_id>/edit/", views.update_key, name="key_update"),
    path("profile/tokens/", views.tokens_page, name="tokens"),
    path("profile/tokens/new/", views.create_token, name="token_create"),
    path("profile/tokens/<token_id:token_id>/revoke/", views.revoke_token, name="token_revoke"),
]
