from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from requestlog import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("a/<slug:account_slug>/requests/", views.account_requests, name="requests"),
    path(
        "staff/accounts/<slug:account_slug>/requests/",
        views.staff_requests,
        name="staff_requests",
    ),
]
