"""Ed25519 signing keys for tree heads (via the ``cryptography`` package).

A key is 32 raw bytes; the public half is published in hex beside the ledger (the heads file)
and, for a verifier who must not trust that file, out of band. `SigningKey.from_seed` makes a
reproducible key for simulations; a service keeps a generated key in a private file.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from suanli.errors import InputError

_RAW = serialization.Encoding.Raw
_PUB = serialization.PublicFormat.Raw


class SigningKey:
    """An Ed25519 private key that signs tree heads."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key: bytes = key.public_key().public_bytes(_RAW, _PUB)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        """The key whose 32-byte private value is ``seed`` (reproducible runs only)."""
        if len(seed) != 32:
            raise ValueError(f"an Ed25519 seed is 32 bytes, got {len(seed)}")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def private_bytes(self) -> bytes:
        """The 32-byte private value (`from_seed` takes it back)."""
        return self._key.private_bytes(
            _RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    def save(self, path: Path) -> None:
        """Write the private key as hex, readable by the owner only."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(self.private_bytes().hex() + "\n")

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        try:
            text = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(str(path), f"cannot read the key file: {e}") from None
        try:
            return cls.from_seed(bytes.fromhex(text))
        except ValueError:
            raise InputError(str(path), "not a key file: expected 64 hex digits") from None


def verify_signature(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is the Ed25519 signature of ``message`` by ``public_key``."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
