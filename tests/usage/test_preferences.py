from __future__ import annotations

import pytest

from accounts.models import AuditEvent
from usage.models import UsagePreferences

pytestmark = pytest.mark.django_db


def url(team):
    return f"/a/{team.slug}/usage/alerts/"


def test_it_saves_thresholds_and_a_spend_cap(client, alice, team):
    client.force_login(alice)
    response = client.post(url(team), {"extra_thresholds": "150, 50", "spend_cap": "20.00"})
    assert response.status_code == 302
    prefs = UsagePreferences.objects.get(account=team)
    assert prefs.extra_thresholds == [50, 150]
    assert str(prefs.spend_cap) == "20.00"
    assert AuditEvent.objects.filter(account=team, action="usage.preferences_changed").exists()


def test_bad_values_are_shown_in_place_and_nothing_is_saved(client, alice, team):
    client.force_login(alice)
    response = client.post(url(team), {"extra_thresholds": "fifty", "spend_cap": "-1"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Use whole numbers separated by commas" in page
    assert "The cap cannot be negative." in page or "Ensure this value is greater" in page
    assert UsagePreferences.objects.get(account=team).spend_cap is None


def test_a_developer_cannot_change_them(client, bob, team):
    client.force_login(bob)
    assert client.post(url(team), {"extra_thresholds": "50"}).status_code == 403


def test_an_outsider_gets_404(client, charlie, team):
    client.force_login(charlie)
    assert client.post(url(team), {"extra_thresholds": "50"}).status_code == 404


def test_a_bad_account_404s(client, alice):
    client.force_login(alice)
    assert client.get("/a/no-such-account/usage/alerts/").status_code == 404
