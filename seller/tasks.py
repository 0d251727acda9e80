from __future__ import annotations

from celery import shared_task

from seller import snapshot


@shared_task(name="seller.refresh_console")
def refresh_console() -> str:
    return str(snapshot.refresh())
