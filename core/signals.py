"""Signals between the feature apps, defined below all of them so any app (models included)
can send or receive them without importing another app."""

from __future__ import annotations

from django.dispatch import Signal

# Sent (with account_id=...) whenever what the gateway enforces for an account changes: its plan,
# billing period, payment standing or spend cap. The gateway drops its cached policy for that
# account in every process when it hears it.
account_policy_changed = Signal()

# Sent (with account=...) inside the transaction that closes an account: apikeys revokes its keys,
# billing cancels its subscription through the billing seam.
account_closed = Signal()

# Sent (with account=, user=, keep_keys=, reason=, actor=, audit_context=) inside the transaction
# that ends a person's membership of an account: removed by a member (reason "member_removed"),
# leaving ("member_left") or deleting their profile ("profile_deleted"). apikeys revokes the keys
# they created there, which they saw in full, unless the removal chose to keep them.
membership_ended = Signal()
