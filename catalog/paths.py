"""The gateway's path rule: one spelling per path, and prefixes that end on segment boundaries.

nginx picks a product's location from the decoded, normalised path, forwards the client's raw
request target to the upstream, and the decision judges that raw target. The three agree only
when the raw target is already canonical, so the gateway refuses every other one (400
``invalid_path``) rather than guess what an upstream would make of it: the path the decision
judges is then the path the upstream reads, byte for byte what it receives but for the escapes
of characters a path may also carry plain ("%3A" for ":"), which every server decodes alike and
the decision reads decoded too. The rule and its reasons, server by server, are in
docs/gateway-paths.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Characters a segment may carry as they are: RFC 3986's unreserved characters and
# sub-delimiters without ';' (Tomcat and Spring strip ";..." as a path parameter), ':' and '@'.
_PLAIN = r"A-Za-z0-9\-._~!$&'()*+,=:@"
_PATH_CHARACTERS = re.compile(rf"/[{_PLAIN}/%]*")
# Percent-encoded: only printable ASCII that a path must encode or that every server decodes
# alike. Never an unreserved character (one spelling: plain, so no %2E), '/', '\', '%' (double
# decoding), ';', '?', '#', space, a control byte, DEL, nor a byte above 0x7F (overlong UTF-8,
# UTF-8 versus ISO-8859-1 decoding, Unicode normalisation). Hex digits in upper case only.
_BAD_ESCAPE = re.compile(r"%(?!2[1246-9A-C]|3[ACDE]|40|5[BDE]|60|7[B-D])")
# Escapes of characters a segment may also carry plain (``_PLAIN``): "%3A" and ":" are one
# character to every upstream, which decodes before it routes, so the decision reads them decoded
# (else "/images%3Aannotate" would miss the "/images:annotate" operation's price and limits).
# Decoding them makes no "/", ".", "%" or ";": the segments and their checks above are unchanged.
_PLAIN_ESCAPE = re.compile(r"%(2[146-9A-C]|3[AD]|40)")
# A segment of dots alone: ".", "..", "..." (Windows strips trailing dots).
_DOT_SEGMENT = re.compile(r"/\.+(?:/|\Z)")
# The query goes to the upstream as it came: printable ASCII, no space and no '#' (a fragment
# is never sent; a '#' in a target means a client or a proxy that parses it differently).
_QUERY = re.compile(r"[!\"$-~]*")


def request_path(target: str) -> str | None:
    """The path of a canonical request target as its upstream reads it ("/demo/items/7?x=1" →
    "/demo/items/7", "/u/a%40b" → "/u/a@b"), or None when the target is not canonical and the
    gateway refuses it.

    Each check is one scan in C, and a path with no "%" and no "/." takes only the first: about
    a microsecond, and linear in the length for hostile targets.
    """
    path, _, query = target.partition("?")
    if not _PATH_CHARACTERS.fullmatch(path) or "//" in path:  # "//": an empty segment
        return None
    if "/." in path and _DOT_SEGMENT.search(path):
        return None
    if not _QUERY.fullmatch(query):
        return None
    if "%" in path:
        if _BAD_ESCAPE.search(path):
            return None
        return _PLAIN_ESCAPE.sub(_decoded, path)
    return path


def _decoded(escape: re.Match[str]) -> str:
    return chr(int(escape[1], 16))


def is_canonical_prefix(prefix: str) -> bool:
    """Whether a configured prefix (product, plan, key) is a canonical path with no encoding.

    nginx compares location prefixes with the decoded path and the decision with the raw one:
    a prefix without percent-encoding means the same to both.
    """
    return "%" not in prefix and request_path(prefix) == prefix


def under(path: str, prefix: str) -> bool:
    """Whether `path` is `prefix` or below it, on a segment boundary: "/v1/orders" (or
    "/v1/orders/") covers "/v1/orders" and "/v1/orders/7", never "/v1/ordersx"."""
    base = prefix[:-1] if prefix.endswith("/") else prefix
    return path.startswith(base) and (len(path) == len(base) or path[len(base)] == "/")


def under_any(path: str, prefixes: Iterable[str]) -> bool:
    return any(under(path, prefix) for prefix in prefixes)
