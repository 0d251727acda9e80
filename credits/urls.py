from __future__ import annotations

from django.urls import path

from credits import views

urlpatterns = [
    path("a/<slug:account_slug>/credits/", views.credits_page, name="credits"),
    path("a/<slug:account_slug>/credits/buy/", views.buy_pack, name="credits_buy"),
    path("a/<slug:account_slug>/credits/pass/", views.buy_pass, name="credits_buy_pass"),
    path("a/<slug:account_slug>/credits/top-up/", views.top_up_settings, name="credits_topup"),
]
