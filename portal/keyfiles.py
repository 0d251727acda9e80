"""A development signing key generated once under var/, like the development secrets."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def ed25519_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def create_if_missing(path: Path) -> None:
    """Write a new Ed25519 private key (PEM, owner-only) unless the file exists. Processes
    starting at once (make run) end up with the same key: the first link wins."""
    if path.exists():
        return
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(handle, 0o600)
        os.write(handle, ed25519_pem(Ed25519PrivateKey.generate()))
        os.close(handle)
        with contextlib.suppress(FileExistsError):  # another process made it first: theirs wins
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
