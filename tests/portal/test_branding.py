"""Branding from settings (name, logo, colour, home copy, support address) and a template folder
searched before the bundled templates, emails included."""

from __future__ import annotations

import copy

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured

from portal.emails import send
from portal.env import env_colour, env_dir
from portal.views import ink_for


@pytest.mark.django_db
def test_pages_carry_the_brand_from_settings(client, settings):
    settings.TOLLGATE_NAME = "Acme API"
    settings.TOLLGATE_LOGO_URL = "/static/img/acme.svg"
    settings.TOLLGATE_HOME_HEADLINE = "Weather data, one call away"
    settings.TOLLGATE_HOME_LEAD = "Forecasts for any place on Earth."
    settings.TOLLGATE_SUPPORT_EMAIL = "help@acme.test"
    page = client.get("/").content.decode()
    assert "<h1>Weather data, one call away</h1>" in page
    assert "Forecasts for any place on Earth." in page
    assert 'src="/static/img/acme.svg"' in page and "Acme API" in page
    assert 'href="mailto:help@acme.test"' in page
    assert '<link rel="stylesheet" href="/branding.css">' in page


@pytest.mark.django_db
def test_the_brand_colour_is_a_stylesheet_with_readable_ink(client, settings):
    settings.TOLLGATE_BRAND_COLOUR = "#ffd43b"  # light: dark text on it
    response = client.get("/branding.css")
    assert response["Content-Type"].startswith("text/css")
    assert response.content.decode() == ":root { --brand: #ffd43b; --brand-ink: #1d2433; }\n"
    assert ink_for("#3b5bdb") == "#ffffff" and ink_for("#000") == "#ffffff"


@pytest.mark.parametrize("hostile", ["red", "#12345", "#fff;}body{display:none", "url(x)"])
def test_a_colour_is_a_hex_colour_or_start_up_stops(hostile):
    with pytest.raises(ImproperlyConfigured, match="TOLLGATE_BRAND_COLOUR"):
        env_colour("TOLLGATE_BRAND_COLOUR", "#000", {"TOLLGATE_BRAND_COLOUR": hostile})


def test_the_override_folder_must_exist(tmp_path):
    assert env_dir("TOLLGATE_TEMPLATE_DIR", {"TOLLGATE_TEMPLATE_DIR": str(tmp_path)}) == str(
        tmp_path
    )
    with pytest.raises(ImproperlyConfigured, match="TOLLGATE_TEMPLATE_DIR"):
        env_dir("TOLLGATE_TEMPLATE_DIR", {"TOLLGATE_TEMPLATE_DIR": str(tmp_path / "nope")})


@pytest.mark.django_db
def test_templates_in_the_override_folder_come_first_emails_included(client, settings, tmp_path):
    (tmp_path / "portal").mkdir()
    (tmp_path / "portal/home.html").write_text(
        '{% extends "base.html" %}{% block content %}<h1>Our own home</h1>{% endblock %}'
    )
    (tmp_path / "emails").mkdir()
    (tmp_path / "emails/verify-email-subject.txt").write_text("Welcome to {{ site_name }}")
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [tmp_path, *templates[0]["DIRS"]]
    settings.TEMPLATES = templates  # as TOLLGATE_TEMPLATE_DIR sets it at start-up
    settings.TOLLGATE_NAME = "Acme API"

    page = client.get("/").content.decode()
    assert "<h1>Our own home</h1>" in page and "Skip to content" in page  # base.html kept
    send("verify-email", ["dev@example.com"], {"activate_url": "https://x.test/confirm/"})
    assert mail.outbox[-1].subject == "Welcome to Acme API"
