from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal import health


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/home.html")


@require_GET
def branding_css(request: HttpRequest) -> HttpResponse:
    """The brand colour as CSS variables, from settings: a stylesheet, since the CSP allows no
    inline style. Validated at start-up (env_colour), so only a hex colour is ever written."""
    colour = settings.TOLLGATE_BRAND_COLOUR
    css = f":root {{ --brand: {colour}; --brand-ink: {ink_for(colour)}; }}\n"
    response = HttpResponse(css, content_type="text/css; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    return response


def ink_for(colour: str) -> str:
    """White text on a dark brand colour, near-black on a light one (WCAG relative luminance)."""
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    # Contrast with white is (1.05) / (L + 0.05); with #1d2433 it is about (L + 0.05) / 0.067.
    return "#ffffff" if 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.067 else "#1d2433"


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """/healthz where Django routes it itself (portal/asgi.py, the test client); portal/wsgi.py
    answers it before Django. The name keeps `{% url 'healthz' %}` working in templates."""
    code, body = health.probe_answer(health.HEALTHZ_PATH)
    return JsonResponse(body, status=code)
