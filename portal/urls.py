from __future__ import annotations

from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from portal import metrics, views
from portal.api_errors import endpoint_not_found

# Under /api/ these answer the API's JSON errors; elsewhere Django's pages (portal/api_errors.py).
handler400 = "portal.api_errors.bad_request"
handler500 = "portal.api_errors.server_error"

# Swagger UI and Redoc set inline styles as they render (scripts stay 'self'-only).
api_reference_csp = csp_update({"style-src": ["'unsafe-inline'"], "worker-src": ["blob:"]})

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("branding.css", views.branding_css, name="branding_css"),
    # Browsers ask for /favicon.ico whatever the page's <link rel="icon"> says.
    path("favicon.ico", RedirectView.as_view(url="/static/img/favicon.svg", permanent=True)),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        api_reference_csp(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path(
        "api/redoc/",
        api_reference_csp(SpectacularRedocView.as_view(url_name="api-schema")),
        name="api-redoc",
    ),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("", include("apikeys.urls")),
    path("", include("catalog.urls")),
    path("", include("billing.urls")),
    path("", include("usage.urls")),
    path("", include("apidocs.urls")),
    path("", include("onboarding.urls")),
    path("", include("requestlog.urls")),
    path("", include("seller.urls")),
    path("", include("gateway.urls")),
    path("", include("webhooks.urls")),
    path("", include("credits.urls")),
    path("api/v1/", include("accounts.api_urls")),
    path("api/v1/", include("billing.api_urls")),
    path("api/v1/", include("apikeys.api_urls")),
    path("api/v1/", include("usage.api_urls")),
    path("api/v1/", include("webhooks.api_urls")),
    re_path(r"^api/(?P<path>.*)$", endpoint_not_found),  # last: whatever no route above took
]
