from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.health import run_checks


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/home.html")


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    results = run_checks()
    down = sorted(name for name, problem in results.items() if problem)
    body = {
        "status": "down" if down else "ok",
        "down": down,
        "checks": {
            name: {"ok": problem is None, **({"error": problem} if problem else {})}
            for name, problem in results.items()
        },
    }
    return JsonResponse(body, status=503 if down else 200)
