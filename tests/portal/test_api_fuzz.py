"""schemathesis against the portal's own OpenAPI schema, signed in: no 5xx, and no answer that
breaks the schema.

Every operation is fuzzed twice: with a personal access token, then with a signed-in session
(cookie and CSRF token), since tokens are created and revoked only from a session. Path
parameters are now and then replaced by real ids of the caller's (an account, a key, a spare
token), so the fuzzing reaches past 404s. The fuzz run's own token is never one of them.

What the fuzzing happens to do is random; what the test asserts is not: that a session can
revoke a token is checked with one fixed call after the passes, never by hoping a random pass
made it.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core.wsgi import get_wsgi_application
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import Account
from apikeys.models import ApiKey, PersonalAccessToken

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
EXAMPLES_PER_OPERATION = 25
# No 5xx, and every answer (status, content type, body) as the schema documents it.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def fuzz(operation, credentials: dict, known: dict[str, str]) -> None:
    @settings(
        max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(case=operation.as_strategy(), real=st.booleans())
    def run(case, real):
        parameters = case.path_parameters or {}
        for name in parameters.keys() & known.keys():
            if real:
                parameters[name] = known[name]
        response = case.call(**credentials)
        case.validate_response(response, checks=CHECKS)

    run()


def token_credentials(raw: str) -> dict:
    return {"headers": {"Authorization": f"Bearer {raw}"}}


def session_credentials(user) -> dict:
    """A signed-in browser's: the session cookie, and a CSRF token to match its cookie."""
    client = Client()
    client.force_login(user)
    client.get("/profile/tokens/")  # sets the CSRF cookie
    cookies = {name: morsel.value for name, morsel in client.cookies.items()}
    return {
        "cookies": cookies,
        "headers": {"X-CSRFToken": cookies[django_settings.CSRF_COOKIE_NAME]},
    }


def test_the_portal_api_never_fails_nor_breaks_its_schema(alice, redis_db):
    fuzz_token, raw = PersonalAccessToken.objects.issue(alice, name="fuzz")
    spare, _ = PersonalAccessToken.objects.issue(alice, name="spare, to be revoked")
    account = Account.objects.for_user(alice).get()
    key, _ = ApiKey.objects.issue(account, name="fuzzed", created_by=alice)
    known = {"account_slug": account.slug, "key_id": key.public_id, "token_id": spare.public_id}
    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 17

    for operation in operations:
        fuzz(operation, token_credentials(raw), known)
    # A token can neither mint tokens nor revoke them.
    assert set(PersonalAccessToken.objects.active()) == {fuzz_token, spare}

    session = session_credentials(alice)
    for operation in operations:
        fuzz(operation, session, known)
    assert PersonalAccessToken.objects.active().filter(pk=fuzz_token.pk).exists()

    # The session may revoke a real token: one fixed call, checked against the schema too.
    target, _ = PersonalAccessToken.objects.issue(alice, name="revoked by the session")
    revoke = schema["/api/v1/tokens/{token_id}/revoke/"]["POST"]
    case = revoke.Case(path_parameters={"token_id": target.public_id})
    response = case.call(**session)
    case.validate_response(response, checks=CHECKS)
    assert response.status_code == 200
    target.refresh_from_db()
    assert target.revoked_at is not None
