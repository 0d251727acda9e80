from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from seller import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("staff/console/", views.console, name="seller_console"),
    path("staff/console/<slug:table>.csv", views.export_csv, name="seller_console_csv"),
]
