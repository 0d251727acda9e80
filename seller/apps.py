from __future__ import annotations

from django.apps import AppConfig


class SellerConfig(AppConfig):
    name = "seller"
    verbose_name = "Seller console"
