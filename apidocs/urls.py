from __future__ import annotations

from django.urls import path

from apidocs import views

urlpatterns = [
    path("docs/", views.index, name="docs"),
    path("docs/getting-started/", views.getting_started, name="getting_started"),
    path("docs/test-key/", views.create_test_key, name="docs_test_key"),
    path("docs/<slug:slug>/", views.product_reference, name="docs_product"),
    path("docs/<slug:slug>/openapi.json", views.product_spec, name="docs_product_spec"),
]
