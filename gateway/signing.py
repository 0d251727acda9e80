"""The Ed25519 keys that sign entitlement tokens, and the JWKS that publishes their public halves.

The private key is a PEM file (``ENTITLEMENT_SIGNING_KEY_FILE``; in development generated once
under ``var/``). ``manage.py rotate_entitlement_key`` writes a new one in its place and keeps the
old one beside it as ``<file>.previous``, whose public key the JWKS keeps publishing for the
token lifetime (and a margin), so every token signed before the rotation still verifies until it
expires. Each process notices a rotation within ``RELOAD_CHECK_SECONDS`` (one ``stat`` of the
file, not per call).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from portal.keyfiles import ed25519_pem

RELOAD_CHECK_SECONDS = 5.0
# A key stays published this long beyond the token lifetime: clocks of hosts apart, and the
# processes that have not yet noticed the rotation.
PUBLISH_MARGIN_SECONDS = 60


def previous_path(path: Path) -> Path:
    return path.with_name(path.name + ".previous")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(public: Ed25519PublicKey) -> dict[str, str]:
    """The key as a JWK, its kid the RFC 7638 thumbprint (so a kid names one key forever)."""
    x = _b64(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    members = {"crv": "Ed25519", "kty": "OKP", "x": x}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    kid = _b64(hashlib.sha256(canonical).digest())
    return {**members, "kid": kid, "alg": "EdDSA", "use": "sig"}


def read_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def write_private_file(path: Path, data: bytes) -> None:
    """Write a key readable by its owner only, whole or not at all (rename over the old)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(handle, 0o600)
        os.write(handle, data)
        os.fsync(handle)
    finally:
        os.close(handle)
    os.replace(temporary, path)


@dataclass(frozen=True)
class KeyRing:
    private: Ed25519PrivateKey
    kid: str
    jwks: dict[str, Any]  # {"keys": [current, previous while still published]}
    stamp: tuple[tuple[int, int, int], ...]  # the files' (inode, mtime, size)


def _stamp(*paths: Path) -> tuple[tuple[int, int, int], ...]:
    stamps = []
    for path in paths:
        try:
            info = path.stat()
        except FileNotFoundError:
            stamps.append((0, 0, 0))
        else:
            stamps.append((info.st_ino, info.st_mtime_ns, info.st_size))
    return tuple(stamps)


def published_until(previous: Path) -> float:
    """A previous key is published from the rotation (its file's mtime) for a token lifetime."""
    return previous.stat().st_mtime + settings.ENTITLEMENT_TOKEN_SECONDS + PUBLISH_MARGIN_SECONDS


def load(path: Path, now: float) -> KeyRing:
    private = read_private_key(path)
    current = public_jwk(private.public_key())
    keys = [current]
    previous = previous_path(path)
    if previous.exists() and published_until(previous) > now:
        old = public_jwk(read_private_key(previous).public_key())
        if old["kid"] != current["kid"]:
            keys.append(old)
    return KeyRing(private, current["kid"], {"keys": keys}, _stamp(path, previous))


class Keys:
    """This process's key ring, re-read when the files change or a previous key's time ends."""

    def __init__(self) -> None:
        self._ring: KeyRing | None = None
        self._next_check = 0.0
        self._lock = threading.Lock()

    def ring(self) -> KeyRing:
        ring = self._ring
        if ring is not None and time.monotonic() < self._next_check:
            return ring
        with self._lock:
            path = Path(settings.ENTITLEMENT_SIGNING_KEY_FILE)
            stamp = _stamp(path, previous_path(path))
            ring = self._ring
            # Reloading also drops a previous key once its publication time is over.
            if ring is None or ring.stamp != stamp or len(ring.jwks["keys"]) > 1:
                ring = self._ring = load(path, time.time())
            self._next_check = time.monotonic() + RELOAD_CHECK_SECONDS
        return ring

    def clear(self) -> None:
        with self._lock:
            self._ring = None


keys = Keys()


def rotate(path: Path, now: float, force: bool = False) -> tuple[str, str | None]:
    """Make a new signing key; the current one becomes the previous one, still published for
    a token lifetime. Returns (new kid, old kid). Refuses to rotate again while the previous
    key is still published (its tokens would stop verifying) unless forced."""
    previous = previous_path(path)
    if not force and previous.exists() and published_until(previous) > now:
        wait = int(published_until(previous) - now) + 1
        raise RotationTooSoon(
            f"the previous key is published for {wait} s more: tokens it signed are still in use"
        )
    old_kid = None
    if path.exists():
        old = read_private_key(path)
        old_kid = public_jwk(old.public_key())["kid"]
        write_private_file(previous, ed25519_pem(old))
        os.utime(previous, (now, now))  # its publication runs from now
    new = Ed25519PrivateKey.generate()
    write_private_file(path, ed25519_pem(new))
    keys.clear()
    return public_jwk(new.public_key())["kid"], old_kid


class RotationTooSoon(Exception):
    pass
