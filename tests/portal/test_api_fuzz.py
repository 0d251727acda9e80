"""schemathesis against the portal's own OpenAPI schema, signed in: no 5xx, and no answer that
breaks the schema."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import Account
from apikeys.models import PersonalAccessToken

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
EXAMPLES_PER_OPERATION = 25
# No 5xx, and every answer (status, content type, body) as the schema documents it.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def fuzz(operation, token: str, account_slug: str) -> None:
    @settings(
        max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(case=operation.as_strategy())
    def run(case):
        if "account_slug" in (case.path_parameters or {}):
            case.path_parameters["account_slug"] = account_slug  # sometimes a real one
        response = case.call(headers={"Authorization": f"Bearer {token}"})
        case.validate_response(response, checks=CHECKS)

    run()


def test_the_portal_api_never_fails_nor_breaks_its_schema(alice, redis_db):
    _, token = PersonalAccessToken.objects.issue(alice, name="fuzz")
    slug = Account.objects.for_user(alice).first().slug
    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:
        fuzz(operation, token, slug)
