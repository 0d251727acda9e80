"""The API key format: ``<prefix>_<env>_<32 base62>_<6 base62 CRC32>``.

32 base62 characters carry 190.5 bits of randomness. The CRC32 checksum over everything before
it lets the gateway, a client library or a secret scanner reject a mistyped or made-up key
without any lookup. Keys are stored only as HMAC-SHA256(key, APIKEY_PEPPER).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import zlib
from functools import cache

from django.conf import settings

from portal.setting_cache import kept_until_changed

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
SECRET_LENGTH = 32
CHECKSUM_LENGTH = 6
ENVIRONMENTS = ("live", "test")
MAX_LENGTH = 100  # no key or token is longer: longer input is refused before any work


def encode_base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        chars.append(BASE62[digit])
    return "".join(reversed(chars))


BASE62_VALUES = {char: value for value, char in enumerate(BASE62)}


def decode_base62(text: str) -> int:
    number = 0
    for char in text:
        number = number * 62 + BASE62_VALUES[char]
    return number


def checksum(body: str) -> str:
    return encode_base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


@cache
def key_pattern(prefix: str) -> re.Pattern[str]:
    """The published regex (see docs/api-keys.md) that secret scanners use to find leaked keys."""
    return re.compile(
        rf"{re.escape(prefix)}_(live|test)_[0-9A-Za-z]{{{SECRET_LENGTH}}}_[0-9A-Za-z]{{{CHECKSUM_LENGTH}}}"
    )


def generate(environment: str, prefix: str | None = None) -> str:
    if environment not in ENVIRONMENTS:
        raise ValueError(f"environment must be one of {ENVIRONMENTS}")
    return with_checksum(_random_body(environment, prefix or settings.APIKEY_PREFIX))


def with_checksum(body: str) -> str:
    return f"{body}_{checksum(body)}"


def matches_with_checksum(raw: str, pattern: re.Pattern[str]) -> bool:
    """Shape and checksum only: no database, no Redis."""
    if len(raw) > MAX_LENGTH or pattern.fullmatch(raw) is None:
        return False
    body, _, check = raw.rpartition("_")
    # Decoding the 6 characters the pattern admitted, rather than encoding the CRC to compare
    # strings, halves the check's cost; every CRC32 has exactly one 6-character encoding.
    return decode_base62(check) == zlib.crc32(body.encode("ascii"))


def is_well_formed(raw: str, prefix: str | None = None) -> bool:
    return matches_with_checksum(raw, key_pattern(prefix or settings.APIKEY_PREFIX))


# Personal access tokens (for the portal's REST API) share the family: ``<prefix>_pat_<32>_<6>``.
TOKEN_KIND = "pat"


@cache
def token_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(
        rf"{re.escape(prefix)}_{TOKEN_KIND}_[0-9A-Za-z]{{{SECRET_LENGTH}}}_[0-9A-Za-z]{{{CHECKSUM_LENGTH}}}"
    )


def _random_body(kind: str, prefix: str) -> str:
    secret = "".join(secrets.choice(BASE62) for _ in range(SECRET_LENGTH))
    return f"{prefix}_{kind}_{secret}"


def generate_token(prefix: str | None = None) -> str:
    return with_checksum(_random_body(TOKEN_KIND, prefix or settings.APIKEY_PREFIX))


def is_well_formed_token(raw: str, prefix: str | None = None) -> bool:
    return matches_with_checksum(raw, token_pattern(prefix or settings.APIKEY_PREFIX))


def environment_of(raw: str) -> str:
    return raw.split("_")[-3]


def hash_key(raw: str) -> str:
    # Every gateway call hashes its key: copying an HMAC already keyed with the pepper skips
    # keying it again (1.0 µs instead of 1.9 for hmac.digest()), and keeping that HMAC skips
    # reading the pepper from Django's lazy settings each call (a microsecond or two when the
    # CPU's caches are cold, as they are at one connection).
    keyed = _keyed_with_pepper().copy()
    keyed.update(raw.encode())
    return keyed.hexdigest()


@kept_until_changed("APIKEY_PEPPER")
def _keyed_with_pepper() -> hmac.HMAC:
    """HMAC-SHA256 keyed with APIKEY_PEPPER, nothing hashed yet: copied, never updated."""
    return hmac.new(settings.APIKEY_PEPPER.encode(), digestmod=hashlib.sha256)


def display_prefix(raw: str) -> str:
    """What the portal shows to tell keys apart: e.g. ``tg_live_4fQz``."""
    return raw[: raw.index("_", raw.index("_") + 1) + 5]
