"""The gateway's path rule (catalog/paths.py, docs/gateway-paths.md): every class of target
that servers read differently is refused; every canonical one is admitted, query and all."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.paths import is_canonical_prefix, request_path, under, under_any
from tests.gateway.upstreams import lenient_reading

REFUSED = {
    "dot segments": [
        "/demo/.", "/demo/./hello", "/demo/hello/..", "/demo/hello/../reports", "/demo/...",
        "/demo/hello/..?x=1", "/demo/hello/.?x=1", "/./demo/hello", "/demo/hello/../",
    ],
    "encoded dots, any case and mix": [
        "/demo/hello/%2e%2e/reports", "/demo/hello/%2E%2E/reports", "/demo/hello/%2e%2E/reports",
        "/demo/hello/.%2e/reports", "/demo/hello/%2e./reports", "/demo/hello/%2e/reports",
        "/demo/%2Ehello",
    ],
    "double encoding": [
        "/demo/hello/%252e%252e/reports", "/demo/hello/%25%32%65", "/demo/a%25b",
        "/demo/hello/%252f",
    ],
    "encoded slash or backslash": [
        "/demo/hello%2F..%2Freports", "/demo/hello%2f..%2freports", "/demo/hello%5C..%5Creports",
        "/demo/hello%5c..", "/demo/a%2Fb",
    ],
    "backslashes": ["/demo/hello\\..\\reports", "/demo\\hello", "\\demo\\hello"],
    "NUL and control bytes": [
        "/demo/hello\x00/../reports", "/demo/hello%00", "/demo/hello\t", "/demo/hello%09",
        "/demo/hello\x1f", "/demo/hello%1F", "/demo/hello\x7f", "/demo/hello%7F",
        "/demo/hello\r\n", "/demo/hello%0D%0A",
    ],
    "path parameters": [
        "/demo/hello/..;/reports", "/demo/hello;jsessionid=1", "/demo/hello/;/x",
        "/demo/hello%3B/x", "/demo/hello%3b",
    ],
    "empty segments": ["//demo/hello", "/demo//hello", "/demo/hello//", "//", "/demo/hello//../x"],
    "overlong UTF-8 and %u": [
        "/demo/hello/%C0%AE%C0%AE/reports", "/demo/hello/%c0%ae", "/demo/%E0%80%AE",
        "/demo/hello/%u002e%u002e/reports", "/demo/%U002F",
    ],
    "non-ASCII, raw or encoded": [
        "/demo/caf\u00e9", "/demo/caf\xc3\xa9", "/demo/caf%C3%A9", "/demo/hello/\uff0e\uff0e/x",
        "/demo/hello/%EF%BC%8E%EF%BC%8E/x", "/demo/\u2215x", "/demo/%80", "/demo/%FF",
    ],
    "fragments and encoded delimiters": [
        "/demo/hello#/../reports", "/demo/hello?x#y", "/demo/hello%23", "/demo/hello%3F/x",
        "/demo/hello%3f",
    ],
    "encoded unreserved characters": [
        "/%64emo/reports", "/demo/%41", "/demo/hello%7E", "/demo/%2D", "/demo/%5F", "/demo/%30",
    ],
    "lower-case or broken percent-encoding": [
        "/demo/a%3cb", "/demo/a%", "/demo/a%2", "/demo/a%GG", "/demo/a%%32e",
    ],
    "spaces": ["/demo/hello world", "/demo/hello%20", "/demo/%20../reports", "/demo/hello?a b"],
    "raw characters a path must encode": [
        "/demo/a<b", "/demo/a>b", '/demo/a"b', "/demo/a{b}", "/demo/a|b", "/demo/a^b",
        "/demo/a`b", "/demo/a[b]",
    ],
    "targets that are not an absolute path": [
        "", "*", "demo/hello", "http://127.0.0.1/demo/reports", "HTTP://x/demo/y",
        "//127.0.0.1/demo/reports", "?x=1",
    ],
}  # fmt: skip


@pytest.mark.parametrize(
    "target", [pytest.param(t, id=f"{kind}: {t!r}") for kind, ts in REFUSED.items() for t in ts]
)
def test_it_refuses_every_target_with_more_than_one_reading(target):
    assert request_path(target) is None


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("/demo/hello", "/demo/hello"),
        ("/demo/hello/", "/demo/hello/"),
        ("/", "/"),
        ("/demo/items/7?expand=a,b&x=../y&z=%2e%2E%2F%00", "/demo/items/7"),
        ("/demo/hello?", "/demo/hello"),
        ("/demo/hello?a=1?b=2", "/demo/hello"),
        ("/demo/.well-known/x", "/demo/.well-known/x"),
        ("/demo/..x/x..", "/demo/..x/x.."),
        ("/demo/v1.2/file.tar.gz", "/demo/v1.2/file.tar.gz"),
        ("/demo/a:b@c!$&'()*+,=~_-", "/demo/a:b@c!$&'()*+,=~_-"),
        # Escapes of characters a path may carry plain read as those characters (as upstreams
        # read them); the others stay escaped, their one spelling.
        ("/demo/user%40example.com", "/demo/user@example.com"),
        ("/demo/a%3Cb%3E%5B%5D%7B%7D%7C%5E%60%22", "/demo/a%3Cb%3E%5B%5D%7B%7D%7C%5E%60%22"),
        ("/d/%2B%3D%3A%40%21%24%26%27%28%29%2A%2C?q", "/d/+=:@!$&'()*,"),
        ("/d/a%253A", None),  # and never twice: "%25" is refused
    ],
)  # fmt: skip
def test_it_admits_canonical_targets_and_judges_their_path(target, path):
    assert request_path(target) == path


PIECES = [*"/.%;\\#?aZ09-_~:@+ \x00\t\u00e9\uff0e", "%2e", "%2E", "%2F", "%5C", "%25", "%3C", "%3c",
          "%u002e", "%C0%AE", "%00", "%3B", "%40", "%3A", "%2B", "%21", "..", "//"]  # fmt: skip


@settings(derandomize=True, database=None, deadline=None, max_examples=3000)
@given(st.lists(st.sampled_from(PIECES), max_size=12).map("".join))
def test_every_admitted_target_has_one_reading(tail):
    # The most lenient reading (repeated decoding, %u, overlong UTF-8, NFKC, backslashes, ";"
    # parameters, NUL, blanks, doubled slashes, dot segments) changes nothing in an admitted path.
    path = request_path("/demo/" + tail)
    if path is not None:
        assert lenient_reading(path.encode()) == unquote(path, errors="strict")
        # And the decision reads it as an upstream that decodes it does.
        assert unquote(path) == unquote(("/demo/" + tail).partition("?")[0])


@pytest.mark.parametrize(
    ("path", "prefix", "inside"),
    [
        ("/v1/orders", "/v1/orders", True),
        ("/v1/orders/", "/v1/orders", True),
        ("/v1/orders/7", "/v1/orders", True),
        ("/v1/orders/7/lines", "/v1/orders/", True),
        ("/v1/orders", "/v1/orders/", True),
        ("/v1/ordersx", "/v1/orders", False),
        ("/v1/ordersx", "/v1/orders/", False),
        ("/v1/order", "/v1/orders", False),
        ("/v1", "/v1/orders", False),
        ("/v2/orders", "/v1/orders", False),
        ("/anything", "/", True),
    ],
)
def test_prefixes_match_on_segment_boundaries(path, prefix, inside):
    assert under(path, prefix) is inside


def test_a_path_is_inside_a_list_of_prefixes_when_inside_one():
    assert under_any("/demo/items/3", ("/demo/hello", "/demo/items"))
    assert not under_any("/demo/itemsx/3", ("/demo/hello", "/demo/items"))
    assert not under_any("/demo/items", ())


@pytest.mark.parametrize(
    ("prefix", "canonical"),
    [
        ("/demo/", True),
        ("/demo/hello", True),
        ("/", True),
        ("/v1/a:b", True),
        ("demo/", False),
        ("/demo//", False),
        ("/demo/../reports", False),
        ("/demo/.", False),
        ("/demo/%3C", False),  # nginx would compare it decoded, the decision raw
        ("/demo/%2e%2e", False),
        ("/demo/hello?x=1", False),
        ("/demo/hello;x", False),
        ("/demo/h\u00e9", False),
        ("/demo/\\", False),
        ("/demo/ x", False),
        ("", False),
    ],
)
def test_only_canonical_prefixes_without_encoding_are_canonical(prefix, canonical):
    assert is_canonical_prefix(prefix) is canonical


@pytest.mark.django_db
def test_the_admin_forms_refuse_prefixes_the_gateway_would_read_otherwise():
    from django.core.exceptions import ValidationError

    from catalog.models import ApiProduct, PlanProduct

    for prefix in ("/demo", "/", "/demo//", "/de%6Do/", "/demo/../x/"):
        product = ApiProduct(
            slug="demo", name="Demo", path_prefix=prefix, upstream_url="http://127.0.0.1:9"
        )
        with pytest.raises(ValidationError, match="path_prefix"):
            product.full_clean()
    ApiProduct(
        slug="demo", name="Demo", path_prefix="/demo/", upstream_url="http://127.0.0.1:9"
    ).full_clean()
    for prefixes in (["/demo/../reports"], ["/demo/hello", "demo"], "/demo/hello", [7]):
        with pytest.raises(ValidationError, match="path_prefixes"):
            PlanProduct(path_prefixes=prefixes).clean()
    PlanProduct(path_prefixes=["/demo/hello", "/demo/items/"]).clean()
