"""The mock server process: probes, and a catalog it cannot read (sandbox/server.py). Its
reload on a catalog change runs through nginx in tests/e2e/test_sandbox_routing.py."""

from __future__ import annotations

import pytest

from sandbox.mock import MockedProduct
from sandbox.server import MockServer
from tests.sandbox.test_mock import Client

SPEC = {
    "openapi": "3.0.3", "info": {"title": "t", "version": "1"},
    "paths": {"/ping": {"get": {"responses": {"200": {"description": "ok", "content": {
        "application/json": {"example": {"pong": True}}}}}}}},
}  # fmt: skip


class Catalog:
    """What the database would give, or a failure to read it."""

    def __init__(self) -> None:
        self.products = [MockedProduct("p", "/p/", SPEC)]
        self.down = False
        self.reads = 0

    def __call__(self) -> list[MockedProduct]:
        self.reads += 1
        if self.down:
            raise ConnectionError("the database is away")
        return self.products


@pytest.fixture
def catalog(redis_db):
    return Catalog()


@pytest.fixture
def new_server():
    """MockServers listening to Redis, whose listener threads stop with the test."""
    made: list[MockServer] = []

    def make(load) -> MockServer:
        server = MockServer(load=load)
        made.append(server)
        # Subscribed first: a new subscription marks the specs stale (it may have missed news).
        server.listener.ensure_running()
        assert server.listener.wait_until_connected()
        return server

    yield make
    for server in made:
        server.listener.stop()


def test_it_serves_the_catalog_and_answers_its_probes(catalog, new_server):
    server = Client(new_server(catalog))
    assert server.get("/livez").json() == {"status": "ok"}
    assert server.get("/readyz").json() == {"status": "ok"}
    assert server.get("/p/ping").json() == {"pong": True}
    assert catalog.reads == 1  # built once, not per call


def test_without_the_database_it_is_unavailable_then_recovers(catalog, new_server):
    catalog.down = True
    server = Client(new_server(catalog))
    answer = server.get("/p/ping")
    assert answer.status_code == 503
    assert answer.json()["code"] == "unavailable"
    assert server.get("/readyz").status_code == 503
    catalog.down = False
    assert server.get("/p/ping").json() == {"pong": True}


def test_it_keeps_the_specs_it_has_while_the_database_is_away(catalog, new_server):
    mock = new_server(catalog)
    server = Client(mock)
    assert server.get("/p/ping").status_code == 200
    catalog.down = True
    mock.stale.set()  # a catalog change was announced
    assert server.get("/p/ping").json() == {"pong": True}
    reads = catalog.reads
    assert server.get("/p/ping").status_code == 200
    assert catalog.reads == reads  # not asked again on every call
