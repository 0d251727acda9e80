from __future__ import annotations

from django.dispatch import Signal

# Sent by `manage.py apply_catalog` after the catalog was written (with plans=[...] and
# products=[...]), outside the transaction, so billing can mirror plans to Stripe.
catalog_applied = Signal()
