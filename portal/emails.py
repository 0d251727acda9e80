"""The one way Tollgate sends email: a named subject/text/HTML triple under templates/emails/."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import Context
from django.template.loader import get_template, render_to_string


def send(name: str, to: Iterable[str], context: Mapping[str, object] | None = None) -> None:
    """Render templates/emails/<name>-subject.txt, -body.txt and -body.html and send them."""
    ctx = {
        "site_name": settings.TOLLGATE_NAME,
        "site_url": settings.SITE_URL,
        "support_email": settings.TOLLGATE_SUPPORT_EMAIL,
        **(context or {}),
    }
    subject = " ".join(render_plain(f"emails/{name}-subject.txt", ctx).split())
    text = render_plain(f"emails/{name}-body.txt", ctx)
    html = render_to_string(f"emails/{name}-body.html", ctx)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, list(to))
    message.attach_alternative(html, "text/html")
    message.send()


def render_plain(template_name: str, context: Mapping[str, object]) -> str:
    """Plain-text parts are not HTML: render them without autoescaping ("Alice's", not "&#x27;")."""
    # The Django backend's template wraps the engine's in .template (not in the stubs' protocol).
    template = get_template(template_name).template  # type: ignore[attr-defined]
    return str(template.render(Context(dict(context), autoescape=False)))
