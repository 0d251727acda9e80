from __future__ import annotations

import pytest

from accounts.models import Membership
from accounts.roles import ROLE_PERMISSIONS, Perm, Role

# The product owner's table, written out by hand so that a change to accounts/roles.py has to be
# a deliberate change here too.
EXPECTED = {
    Role.OWNER: set(Perm),
    Role.ADMIN: {
        Perm.MANAGE_MEMBERS, Perm.VIEW_MEMBERS, Perm.MANAGE_KEYS, Perm.VIEW_USAGE,
        Perm.VIEW_DOCS, Perm.VIEW_AUDIT, Perm.MANAGE_WEBHOOKS,
    },
    Role.DEVELOPER: {Perm.VIEW_MEMBERS, Perm.MANAGE_KEYS, Perm.VIEW_USAGE, Perm.VIEW_DOCS},
    Role.BILLING: {Perm.VIEW_MEMBERS, Perm.MANAGE_BILLING, Perm.VIEW_INVOICES, Perm.VIEW_DOCS},
}  # fmt: skip


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("perm", list(Perm))
def test_it_grants_exactly_the_table(role, perm):
    membership = Membership(role=role)
    assert membership.can(perm) is (perm in EXPECTED[role])
    assert membership.can_do[perm.value] is (perm in EXPECTED[role])


def test_it_covers_every_role():
    assert set(ROLE_PERMISSIONS) == set(Role)


# Each account page consults the same table: one page per permission it needs.
PAGES = [("account_home", Perm.VIEW_MEMBERS), ("members", Perm.VIEW_MEMBERS),
         ("activity", Perm.VIEW_AUDIT)]  # fmt: skip


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(("url_name", "perm"), PAGES)
def test_it_opens_pages_by_the_table(client, member_with_role, team, role, url_name, perm):
    membership = member_with_role(role)
    client.force_login(membership.user)
    response = client.get(
        f"/a/{team.slug}/" + ("" if url_name == "account_home" else f"{url_name}/")
    )
    assert response.status_code == (200 if perm in EXPECTED[role] else 403)
    if response.status_code == 403:
        assert "do that here" in response.content.decode()
