from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest

from accounts.audit import record
from accounts.models import Account
from apikeys import keys
from apikeys.models import ApiKey, Environment

DOCS_KEY_NAME = "Docs try-it key"


@transaction.atomic
def issue_docs_test_key(account: Account, request: HttpRequest) -> tuple[str, ApiKey]:
    raw = keys.generate(Environment.TEST)
    key = ApiKey.objects.create(
        account=account,
        name=DOCS_KEY_NAME,
        environment=Environment.TEST,
        prefix=keys.display_prefix(raw),
        last4=raw[-4:],
        key_hash=keys.hash_key(raw),
        created_by=request.user,
    )
    record(account, "key.created", request=request, target=key.public_id, data={"env": "test"})
    return raw, key
