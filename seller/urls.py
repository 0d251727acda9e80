from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from seller import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("staff/console/", views.console, name="seller_console"),
]
