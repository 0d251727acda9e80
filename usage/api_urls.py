from __future__ import annotations

from django.urls import path

from usage import api

urlpatterns = [
    path("usage/", api.UsageRowsView.as_view(), name="api-usage"),
    path(
        "usage/<slug:account_slug>/glance/", api.UsageGlanceView.as_view(), name="api-usage-glance"
    ),
]
