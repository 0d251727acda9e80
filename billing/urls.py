from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from billing import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("pricing/", views.pricing, name="pricing"),
    path("billing/webhook", views.webhook, name="billing_webhook"),
    path("a/<slug:account_slug>/billing/", views.billing, name="billing"),
    path("a/<slug:account_slug>/billing/checkout/", views.checkout, name="billing_checkout"),
    path("a/<slug:account_slug>/billing/success/", views.checkout_success, name="billing_success"),
    path("a/<slug:account_slug>/billing/plan/", views.change_plan, name="billing_change_plan"),
    path("a/<slug:account_slug>/billing/cancel/", views.cancel, name="billing_cancel"),
    path("a/<slug:account_slug>/billing/portal/", views.portal, name="billing_portal"),
]
