from __future__ import annotations

import pytest

from accounts.models import Membership
from accounts.roles import Role

pytestmark = pytest.mark.django_db


def url(team):
    return f"/a/{team.slug}/keys/"


def test_it_lists_the_accounts_keys_without_secrets(client, alice, team, issue_key):
    key, raw = issue_key(name="Billing server")
    client.force_login(alice)
    response = client.get(url(team))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Billing server" in page
    assert key.masked in page
    assert raw not in page
    assert "<script>" not in page and "style=" not in page


def test_a_developer_in_the_team_sees_it(client, bob, team):
    client.force_login(bob)
    assert client.get(url(team)).status_code == 200


def test_a_billing_member_is_refused_with_403(client, user_factory, team):
    clerk = user_factory()
    Membership.objects.create(account=team, user=clerk, role=Role.BILLING)
    client.force_login(clerk)
    assert client.get(url(team)).status_code == 403


def test_an_outsider_gets_404(client, charlie, team):
    client.force_login(charlie)
    assert client.get(url(team)).status_code == 404


def test_an_unknown_account_gets_404(client, alice):
    client.force_login(alice)
    assert client.get("/a/no-such-account/keys/").status_code == 404


def test_visitors_are_sent_to_log_in(client, team):
    response = client.get(url(team))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_it_refuses_post(client, alice, team):
    client.force_login(alice)
    assert client.post(url(team)).status_code == 405


def test_the_navigation_links_to_it(client, alice, team):
    client.force_login(alice)
    assert f'href="/a/{team.slug}/keys/"' in client.get(url(team)).content.decode()


def test_the_page_costs_the_same_queries_for_one_key_or_ten(
    client, alice, team, issue_key, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apikeys.models import ApiKey

    issue_key()
    client.force_login(alice)
    client.get(url(team))

    with CaptureQueriesContext(connection) as one:
        client.get(url(team))
    for n in range(9):
        ApiKey.objects.issue(team, name=f"k{n}", environment="test", created_by=alice)
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert client.get(url(team)).content.decode().count("data-key-id") == 10


def test_element_ids_are_unique_so_labels_find_their_fields(client, alice, team, issue_key):
    import re
    from collections import Counter

    issue_key()
    issue_key(environment="test")
    client.force_login(alice)
    page = client.get(url(team)).content.decode()
    ids = Counter(re.findall(r'\sid="([^"]+)"', page))
    assert [i for i, n in ids.items() if n > 1] == []
