"""Hostile paths through the real nginx, decision and upstreams (issue 12, docs/gateway-paths.md).

The invariant: every call the gateway admits reaches the upstream at a path inside what the
key and its plan allow, and that path is the one the decision judged, with a single meaning.
It is checked with the upstream as the exact-matching demo API and as a server that normalises
every way a common server does; two products, so a call that escapes one for the other is seen.
"""

from __future__ import annotations

import json
import socket
from urllib.parse import unquote_to_bytes

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accounts.models import Account
from tests.gateway.stack import GatewayStack
from tests.gateway.support import make_key, make_plan, make_product
from tests.gateway.upstreams import NormalisingUpstream, lenient_reading

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# What each key may reach, written out plainly as the oracle (not computed by the gateway's code).
ALLOWED = {
    "free plan": ("/demo/hello", "/demo/items", "/demo/echo"),
    "key restricted to /demo/items": ("/demo/items",),
    "key restricted to premium": ("/premium",),
}
ATTACKS = [
    b"/demo/hello/../reports",
    b"/demo/hello/%2e%2e/reports",
    b"/demo/hello/%2E%2e/reports",
    b"/demo/hello/.%2e/reports",
    b"/demo/hello/..%2freports",
    b"/demo/hello%2F..%2Freports",
    b"/demo/hello/..;/reports",
    b"/demo/hello/;/../reports",
    b"/demo/hello/%252e%252e/reports",
    b"/demo/hello/%c0%ae%c0%ae/reports",
    b"/demo/hello/%u002e%u002e/reports",
    b"/demo/hello/\xef\xbc\x8e\xef\xbc\x8e/reports",
    b"/demo/hello/%EF%BC%8E%EF%BC%8E/reports",
    b"/demo/hello\\..\\reports",
    b"/demo/hello/%5c..%5creports",
    b"/demo/hello//../reports",
    b"/demo/hello/%20../reports",
    b"/demo/hello/..%00/reports",
    b"/demo/hello#/../reports",
    b"/demo/hellox",
    b"/demo/items/../reports",
    b"/demo/items/1/../../reports?x=1",
    b"/demo/hello/../../premium/data",
    b"/demo/hello/%2e%2e/%2e%2e/premium/data",
    b"/premium/data/../../demo/reports",
    b"/%64emo/reports",
    b"//demo/reports",
    b"http://127.0.0.1/demo/hello/../reports",
]
LEGIT = [b"/demo/hello", b"/demo/items/7?x=../reports", b"/premium/data", b"/demo/hello/"]

PIECES = [
    b"", b"demo", b"hello", b"items", b"7", b"reports", b"echo", b"premium", b"data",
    b"hellox", b"items.json", b"HELLO", b"%68ello", b"hello%00", b"\xef\xbd\x88ello", b"%D0%B0",
    b"caf\xc3\xa9", b"\xc0\xae", b".", b"..", b"...", b"%2e", b"%2E", b"%2e%2e", b"%2E%2e",
    b".%2e", b"%2e.", b"%252e%252e", b"%25%32%65", b"%c0%ae%c0%ae", b"%e0%80%ae", b"%u002e",
    b"\xef\xbc\x8e\xef\xbc\x8e", b"..;", b";", b";x=1", b"..%00", b"%00", b"..%3B", b"..\\",
    b"%5c..", b"..%2f", b"%2F", b"%5C", b"%20..", b"..%09", b"\t", b"\x00", b"\x7f", b"#", b"?",
    b"%23", b"%3F", b"%3f", b"%3C", b"%3c", b"%41", b"%", b"%2", b"\\", b"~", b"a:b@c",
]  # fmt: skip
SEPARATORS = [b"/", b"/", b"/", b"//", b"\\", b"%2f", b"%2F", b"%5C", b"%252f", b"/./", b"/;/"]
BASES = [b"", b"/demo", b"/demo/hello", b"/demo/items", b"/demo/items/7", b"/premium",
         b"/premium/data", b"/demo/echo", b"http://127.0.0.1", b"*", b"demo"]  # fmt: skip
QUERIES = [b"", b"?x=1", b"?next=/../reports", b"?a=%2e%2e%2f", b"#frag", b"?x#y", b"?"]

pieces = st.sampled_from(PIECES) | st.text(
    st.characters(codec="utf-8", exclude_characters=" \r\n"), max_size=6
).map(str.encode)
targets = st.builds(
    lambda base, steps, query: base + b"".join(sep + piece for sep, piece in steps) + query,
    st.sampled_from(BASES),
    st.lists(st.tuples(st.sampled_from(SEPARATORS), pieces), min_size=1, max_size=5),
    st.sampled_from(QUERIES),
)


def allowed(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def origin_form(target: bytes) -> bytes:
    """The target as nginx passes it on: an absolute-form target loses its scheme and host."""
    if target.lower().startswith((b"http://", b"https://")):
        rest = target.split(b"//", 1)[1]
        return b"/" + rest.split(b"/", 1)[1] if b"/" in rest else b"/"
    return target


def send(port: int, target: bytes, raw_key: str) -> tuple[int, dict[str, str], bytes]:
    request = (
        b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
        + raw_key.encode() + b"\r\nConnection: close\r\n\r\n"
    )  # fmt: skip
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def reached_upstream(headers: dict[str, str], body: bytes) -> tuple[bytes, str] | None:
    """(the raw path the upstream received, the path it served) when the call got through."""
    if "x-upstream-path" in headers:  # the exact demo API: its PATH_INFO, already decoded
        path = unquote_to_bytes(headers["x-upstream-path"])
        return path, lenient_reading(path.replace(b"%", b"%25"))
    if headers.get("x-upstream") == "normalising":
        seen = json.loads(body)
        return seen["raw"].encode("latin-1"), seen["path"]
    return None


def check_invariant(stack: GatewayStack, keys: dict[str, str], target: bytes, exact: bool):
    forwarded = origin_form(target)
    for name, raw_key in keys.items():
        status, headers, body = send(stack.port, target, raw_key)
        if status == 400 and headers.get("content-type") == "application/json":
            assert json.loads(body)["code"] == "invalid_path", (name, target, body)
        got_through = reached_upstream(headers, body)
        if got_through is None:  # refused, or not an API path (nginx sent it to the portal)
            continue
        received, served = got_through
        judged_path = forwarded.split(b"?", 1)[0]
        # What the upstream received is what the decision judged, byte for byte (the exact
        # API only shows it decoded) ...
        expected = unquote_to_bytes(judged_path) if exact else forwarded
        assert received == expected, (name, target, received)
        # ... it has one meaning: the most lenient reading of it is its plain decoding ...
        assert served == unquote_to_bytes(judged_path).decode("latin-1"), (name, target, served)
        # ... and that meaning is inside what the key and its plan allow.
        assert allowed(served, ALLOWED[name]), (name, target, served)


@pytest.fixture
def keys(team, user_factory):
    demo = make_product()
    premium = make_product("premium", "/premium/")
    make_plan("free", [(demo, [], ["/demo/hello", "/demo/items", "/demo/echo"])], is_default=True)
    business = Account.objects.create_with_owner("Big", user_factory())
    business.plan = make_plan("business", [demo, premium])
    business.save()
    return {
        "free plan": make_key(team)[0],
        "key restricted to /demo/items": make_key(
            business, allowed_products=["demo"], allowed_path_prefixes=["/demo/items"]
        )[0],
        "key restricted to premium": make_key(business, allowed_products=["premium"])[0],
    }


@pytest.fixture
def exact_stack(tmp_path, redis_db, keys):
    running = GatewayStack(tmp_path)
    running.demo_app = "tests.gateway.upstreams:recording_demo"
    running.upstreams = [f"premium=http://127.0.0.1:{running.demo_port}"]
    running.start()
    yield running
    running.stop()


@pytest.fixture
def normalising_stack(tmp_path, redis_db, keys):
    with NormalisingUpstream() as upstream:
        running = GatewayStack(tmp_path)
        running.upstreams = [f"demo={upstream.url}", f"premium={upstream.url}"]
        running.start()
        yield running
        running.stop()


HYPOTHESIS = settings(
    derandomize=True, database=None, deadline=None, max_examples=200,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip


def with_known_attacks(test):
    for target in ATTACKS + LEGIT:
        test = example(target=target)(test)
    return test


@HYPOTHESIS
@with_known_attacks
@given(target=targets)
def test_admitted_calls_reach_the_exact_upstream_only_where_allowed(exact_stack, keys, target):
    check_invariant(exact_stack, keys, target, exact=True)


@HYPOTHESIS
@with_known_attacks
@given(target=targets)
def test_admitted_calls_reach_a_normalising_upstream_only_where_allowed(
    normalising_stack, keys, target
):
    check_invariant(normalising_stack, keys, target, exact=False)


def test_the_known_attacks_get_a_json_400_and_legitimate_calls_get_through(normalising_stack, keys):
    free = keys["free plan"]
    for target in ATTACKS:
        status, headers, body = send(normalising_stack.port, target, free)
        assert status in (400, 403), (target, status)
        if status == 400 and headers.get("content-type") == "application/json":
            assert json.loads(body)["code"] == "invalid_path"
    legit = (b"/demo/hello", b"/demo/items/7?x=../y")
    assert [send(normalising_stack.port, t, free)[0] for t in legit] == [200, 200]
