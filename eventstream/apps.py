from __future__ import annotations

from django.apps import AppConfig


class EventstreamConfig(AppConfig):
    name = "eventstream"
    verbose_name = "Usage event stream"
