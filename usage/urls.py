from __future__ import annotations

from django.urls import path

from usage import views

urlpatterns = [
    path("a/<slug:account_slug>/usage/", views.dashboard, name="usage"),
    path("a/<slug:account_slug>/usage/export.csv", views.export_csv, name="usage_export"),
    path("a/<slug:account_slug>/usage/alerts/", views.preferences, name="usage_preferences"),
    path("staff/usage/", views.staff_overview, name="staff_usage"),
]
