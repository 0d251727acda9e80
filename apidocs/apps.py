from __future__ import annotations

from django.apps import AppConfig


class ApidocsConfig(AppConfig):
    name = "apidocs"
    verbose_name = "API docs"
