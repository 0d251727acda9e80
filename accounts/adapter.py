from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    """Where Tollgate bends allauth: see the accounts issue for what is customised."""
