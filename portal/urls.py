from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from portal import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("", include("apikeys.urls")),
    path("", include("catalog.urls")),
    path("", include("billing.urls")),
    path("", include("usage.urls")),
    path("api/v1/", include("apikeys.api_urls")),
]
