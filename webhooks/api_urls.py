from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from webhooks import (
    api,
    converters,  # noqa: F401 - registers <endpoint_id:…>
)

base = "accounts/<slug:account_slug>/webhooks/"
endpoint = base + "<endpoint_id:endpoint_id>/"

urlpatterns: list[URLPattern | URLResolver] = [
    path(base, api.EndpointList.as_view(), name="api_webhooks"),
    path(endpoint, api.EndpointDetail.as_view(), name="api_webhook"),
    path(endpoint + "roll-secret/", api.RollSecret.as_view(), name="api_webhook_roll_secret"),
    path(endpoint + "test/", api.SendTest.as_view(), name="api_webhook_test"),
    path(endpoint + "deliveries/", api.DeliveryList.as_view(), name="api_webhook_deliveries"),
    path(
        endpoint + "deliveries/<int:delivery_id>/resend/",
        api.Resend.as_view(),
        name="api_webhook_resend",
    ),
]
