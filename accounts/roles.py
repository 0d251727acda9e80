"""Roles and what each may do: the one table every view, API endpoint and template consults."""

from __future__ import annotations

from enum import StrEnum

from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    DEVELOPER = "developer", "Developer"
    BILLING = "billing", "Billing"


class Perm(StrEnum):
    MANAGE_ACCOUNT = "manage_account"  # rename, close, transfer ownership
    MANAGE_MEMBERS = "manage_members"  # invite, remove, change roles
    VIEW_MEMBERS = "view_members"
    MANAGE_KEYS = "manage_keys"
    VIEW_USAGE = "view_usage"
    VIEW_DOCS = "view_docs"
    MANAGE_BILLING = "manage_billing"  # plan, payment method, cancel
    VIEW_INVOICES = "view_invoices"
    VIEW_AUDIT = "view_audit"
    MANAGE_WEBHOOKS = "manage_webhooks"


ROLE_PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.OWNER: frozenset(Perm),
    Role.ADMIN: frozenset(
        {
            Perm.MANAGE_MEMBERS,
            Perm.VIEW_MEMBERS,
            Perm.MANAGE_KEYS,
            Perm.VIEW_USAGE,
            Perm.VIEW_DOCS,
            Perm.VIEW_AUDIT,
            Perm.MANAGE_WEBHOOKS,
        }
    ),
    Role.DEVELOPER: frozenset(
        {Perm.VIEW_MEMBERS, Perm.MANAGE_KEYS, Perm.VIEW_USAGE, Perm.VIEW_DOCS}
    ),
    Role.BILLING: frozenset(
        {Perm.VIEW_MEMBERS, Perm.MANAGE_BILLING, Perm.VIEW_INVOICES, Perm.VIEW_DOCS}
    ),
}


def role_allows(role: str, perm: Perm) -> bool:
    return perm in ROLE_PERMISSIONS.get(Role(role), frozenset())
