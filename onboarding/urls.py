from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from onboarding import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("pricing/<slug:plan_slug>/choose/", views.choose_plan, name="choose_plan"),
    path("welcome/checkout/", views.continue_checkout, name="continue_checkout"),
    path(
        "a/<slug:account_slug>/first-call/",
        views.first_call_checklist,
        name="first_call_checklist",
    ),
]
