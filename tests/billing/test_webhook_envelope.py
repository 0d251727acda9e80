"""Correctly signed events whose envelope is not Stripe's: a 400 `invalid_event`, nothing written.

The signature proves who sent the bytes, not that they are a well-formed event; what the view
stores (`id`, `type`, `created`, `data.object.id`) is checked before anything is written."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import StripeEvent
from tests.billing.conftest import WEBHOOK_SECRET, signed_post

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET


def valid_event(event_id="evt_envelope"):
    return {
        "id": event_id,
        "object": "event",
        "type": "customer.created",
        "created": int(time.time()),
        "data": {"object": {"id": "cus_1", "object": "customer"}},
    }


def with_field(path: tuple[str, ...], value):
    event = valid_event()
    *parents, last = path
    target = event
    for name in parents:
        target = target[name]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return event


DELETE = object()
MALFORMED = {
    "data is a string": (("data",), "cus_1"),
    "data is a list": (("data",), [{"object": {}}]),
    "data is null": (("data",), None),
    "no data": (("data",), DELETE),
    "no object": (("data", "object"), DELETE),
    "object is a string": (("data", "object"), "cus_1"),
    "object is null": (("data", "object"), None),
    "object id is a number": (("data", "object", "id"), 12),
    "object id has a NUL": (("data", "object", "id"), "cus_\x00"),
    "object id too long": (("data", "object", "id"), "c" * 256),
    "no created": (("created",), DELETE),
    "created is a string": (("created",), "yesterday"),
    "created is a float": (("created",), 1.5),
    "created is true": (("created",), True),
    "created is negative": (("created",), -1),
    "created is beyond year 9999": (("created",), 10**12),
    "created is huge": (("created",), 10**30),
    "id is a number": (("id",), 7),
    "id is empty": (("id",), ""),
    "id too long": (("id",), "evt_" + "x" * 252),
    "id has a NUL": (("id",), "evt_\x00"),
    "type is null": (("type",), None),
    "type too long": (("type",), "t" * 101),
}


@pytest.mark.parametrize(("path", "value"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_envelope_is_refused_without_writing(client, path, value):
    response = signed_post(client, with_field(path, value))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_event"
    assert not StripeEvent.objects.exists()


@pytest.mark.parametrize("body", [[], "evt", 3, None])
def test_a_signed_payload_that_is_not_an_object_is_refused(client, body):
    response = signed_post(client, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_event"
    assert not StripeEvent.objects.exists()


def test_a_well_formed_event_is_still_stored(client):
    assert signed_post(client, valid_event()).status_code == 200
    assert StripeEvent.objects.get().object_id == "cus_1"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=300),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = st.sampled_from(
    [("id",), ("type",), ("created",), ("data",), ("data", "object"), ("data", "object", "id")]
)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(path=FIELDS, value=JSON | st.just(DELETE))
def test_any_signed_envelope_gets_200_or_a_clean_400(client, path, value):
    """Fuzzed: one field of a signed event replaced by any JSON value (or removed). The answer
    is never a 5xx: either the event is stored whole, or 400 `invalid_event` and no row."""
    StripeEvent.objects.all().delete()
    response = signed_post(client, with_field(path, value))
    if response.status_code == 400:
        assert response.json()["error"]["code"] == "invalid_event"
        assert not StripeEvent.objects.exists()
    else:
        assert response.status_code == 200
        assert StripeEvent.objects.count() == 1


def valid_thin_event():
    return {
        "id": "evt_thin_envelope",
        "object": "v2.core.event",
        "type": "v1.billing.meter.no_meter_found",
        "created": "2026-11-28T10:00:00.000Z",
        "related_object": {"id": "mtr_1", "type": "billing.meter", "url": "/v1/billing/meters"},
    }


MALFORMED_THIN = {
    "related object is a string": ("related_object", "mtr_1"),
    "related object is a list": ("related_object", [{"id": "mtr_1"}]),
    "related object id is a number": ("related_object", {"id": 12}),
    "related object id has a NUL": ("related_object", {"id": "mtr_\x00"}),
    "related object id too long": ("related_object", {"id": "m" * 256}),
    "created is a number": ("created", 1764324000),
    "created is not a time": ("created", "yesterday"),
    "created has no time zone": ("created", "2026-11-28T10:00:00"),
    "created is beyond year 9999 in UTC": ("created", "9999-12-31T23:59:59-14:00"),
    "id has a NUL": ("id", "evt_\x00"),
}


@pytest.mark.parametrize(("field", "value"), MALFORMED_THIN.values(), ids=MALFORMED_THIN.keys())
def test_a_malformed_thin_event_is_refused_without_writing(client, field, value):
    response = signed_post(client, {**valid_thin_event(), field: value})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_event"
    assert not StripeEvent.objects.exists()


def test_a_well_formed_thin_event_is_still_stored(client):
    assert signed_post(client, valid_thin_event()).status_code == 200
    assert StripeEvent.objects.get().object_id == "mtr_1"
