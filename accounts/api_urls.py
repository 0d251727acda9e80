from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from accounts import api

account = "accounts/<slug:account_slug>/"

urlpatterns: list[URLPattern | URLResolver] = [
    path("accounts/", api.AccountList.as_view(), name="api_accounts"),
    path(account, api.AccountDetail.as_view(), name="api_account"),
    path(account + "members/", api.MemberList.as_view(), name="api_account_members"),
]
