"""After a create/rotate/revoke cycle, no table and no log line holds a raw key or token."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.apps import apps
from django.core import serializers
from rest_framework.test import APIClient

from apikeys import keys, records

pytestmark = pytest.mark.django_db


def dump_every_table() -> str:
    return "".join(
        serializers.serialize("json", model.objects.all())  # type: ignore[attr-defined]
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy
    )


def test_no_raw_key_reaches_the_database_or_the_logs(
    client, alice, team, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    raws = []
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(f"/a/{team.slug}/keys/new/", {"name": "A", "environment": "live"})
        raws.append(keys.key_pattern("tg").search(page.content.decode()).group(0))
        key = team.api_keys.get()
        page = client.post(f"/a/{team.slug}/keys/{key.public_id}/rotate/", {"grace": "1h"})
        raws.append(keys.key_pattern("tg").search(page.content.decode()).group(0))
        for key in team.api_keys.all():
            client.post(f"/a/{team.slug}/keys/{key.public_id}/revoke/")

        api = APIClient()
        api.force_login(alice)
        created = api.post("/api/v1/keys/", {"account": team.slug, "name": "B"}).json()
        raws.append(created["secret"])
        rotated = api.post(f"/api/v1/keys/{created['id']}/rotate/", {"grace": "7d"}).json()
        raws.append(rotated["secret"])
        api.post(f"/api/v1/keys/{rotated['id']}/revoke/")

        page = client.post("/profile/tokens/new/", {"name": "T", "expires_in_days": "30"})
        raws.append(keys.token_pattern("tg").search(page.content.decode()).group(0))
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {raws[-1]}")
        assert api.get("/api/v1/keys/").status_code == 200

    for raw in raws[:4]:
        assert records.lookup(raw) is not None  # the gateway path logs nothing either
        tampered = raw[:-1] + ("y" if raw.endswith("x") else "x")  # one checksum character off
        assert records.lookup(tampered) is None
    stored = dump_every_table()
    logged = caplog.text + "\n".join(str(r.__dict__) for r in caplog.records)
    assert len(raws) == 5
    for raw in raws:
        secret = raw.split("_")[2]  # the random part alone, in case something split the key
        assert raw not in stored and secret not in stored
        assert raw not in logged and secret not in logged
    assert keys.hash_key(raws[0]) in stored  # the dump did include the keys table


def test_the_rotation_grace_uses_no_raw_material(alice, team):
    from apikeys.models import ApiKey

    key, raw = ApiKey.objects.issue(team, name="x", created_by=alice)
    new, new_raw = key.rotate(timedelta(hours=1), actor=alice)
    for field in ("prefix", "last4", "key_hash", "public_id"):
        assert getattr(new, field) != new_raw
    assert raw.split("_")[2] not in dump_every_table()
