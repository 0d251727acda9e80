from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from webhooks import (
    converters,  # noqa: F401 - registers <endpoint_id:…>
    views,
)

base = "a/<slug:account_slug>/webhooks/"
endpoint = base + "<endpoint_id:endpoint_id>/"

urlpatterns: list[URLPattern | URLResolver] = [
    path(base, views.webhooks_page, name="webhooks"),
    path(endpoint, views.endpoint_page, name="webhook"),
    path(endpoint + "roll-secret/", views.roll_secret, name="webhook_roll_secret"),
    path(endpoint + "test/", views.send_test, name="webhook_test"),
    path(endpoint + "toggle/", views.toggle, name="webhook_toggle"),
    path(endpoint + "delete/", views.delete, name="webhook_delete"),
    path(endpoint + "deliveries/<int:delivery_id>/resend/", views.resend, name="webhook_resend"),
]
