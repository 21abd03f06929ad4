"""The history of the keys that sign a ledger's tree heads: rotation without losing the past.

A history is a list of keys, the first pinned by the verifier out of band. Each later key
carries an *endorsement*: the canonical JSON of ::

    {"format": "suanli-ledger-key-rotation/1", "newPublicKey": "<hex>",
     "previousKeyId": "<id>", "rootHash": "<hex>", "time": "...", "treeSize": S}

signed by the previous key (it hands over) and by the new key (it holds its private half).
Key ``i`` signs heads of tree sizes ``validFrom[i]`` .. ``validFrom[i+1]`` (the last key: on
from its ``validFrom``); at a rotation's size ``S`` both keys may sign, and only the root the
endorsement names (the old key's last word on the tree). A head signed by a retired key for a
size after its retirement is refused: whoever stole a retired key cannot extend the tree.

A key's id is the first 32 hex digits of SHA-256 of its raw public key. Heads name the id of
their key beside the signature (``keyId``); the signed bytes stay those of
``suanli-ledger-head/1``, so a head without ``keyId`` is one of the first key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from suanli.ledger.keys import SigningKey, verify_signature
from suanli.ledger.ledger import SignedHead, canonical
from suanli.ledger.merkle import Hash, ProofError

ROTATION_FORMAT = "suanli-ledger-key-rotation/1"
KEYS_FORMAT = "suanli-ledger-keys/1"


class KeyHistoryError(ProofError):
    """A key history, or a head checked against one, fails; the message names where."""


def key_id(public_key: bytes) -> str:
    """The id of a public key: 32 hex digits of SHA-256 of its 32 raw bytes."""
    return hashlib.sha256(public_key).hexdigest()[:32]


def rotation_message(
    previous_key_id: str, new_public_key: bytes, tree_size: int, root: Hash, time: str
) -> bytes:
    """The bytes both keys of a rotation sign."""
    return canonical(
        {
            "format": ROTATION_FORMAT,
            "newPublicKey": new_public_key.hex(),
            "previousKeyId": previous_key_id,
            "rootHash": root.hex(),
            "time": time,
            "treeSize": tree_size,
        }
    )


@dataclass(frozen=True, slots=True)
class Endorsement:
    """The hand-over from the previous key to this one at tree size ``tree_size``."""

    previous_key_id: str
    tree_size: int
    root: Hash
    time: str
    #: by the previous key
    signature: bytes
    #: by the new key (proof of possession)
    possession: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "format": ROTATION_FORMAT,
            "previousKeyId": self.previous_key_id,
            "treeSize": self.tree_size,
            "rootHash": self.root.hex(),
            "time": self.time,
            "signature": self.signature.hex(),
            "possession": self.possession.hex(),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Endorsement:
        if obj.get("format") != ROTATION_FORMAT:
            raise ValueError(f"format: must be {ROTATION_FORMAT!r}, got {obj.get('format')!r}")
        size = obj.get("treeSize")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"treeSize: must be an integer >= 0, got {size!r}")
        return cls(
            str(obj["previousKeyId"]),
            size,
            _hex(obj, "rootHash", 32),
            str(obj["time"]),
            _hex(obj, "signature", 64),
            _hex(obj, "possession", 64),
        )


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One key of a history, valid from tree size ``valid_from`` on."""

    public_key: bytes
    valid_from: int
    #: None for the first key
    endorsement: Endorsement | None = None

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def to_json(self) -> dict[str, Any]:
        return {
            "keyId": self.key_id,
            "publicKey": self.public_key.hex(),
            "validFrom": self.valid_from,
            "endorsement": None if self.endorsement is None else self.endorsement.to_json(),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> KeyEntry:
        public_key = _hex(obj, "publicKey", 32)
        if "keyId" in obj and obj["keyId"] != key_id(public_key):
            raise ValueError(f"keyId: {obj['keyId']!r} is not the id of its publicKey")
        valid_from = obj.get("validFrom")
        if not isinstance(valid_from, int) or isinstance(valid_from, bool) or valid_from < 0:
            raise ValueError(f"validFrom: must be an integer >= 0, got {valid_from!r}")
        e = obj.get("endorsement")
        if e is not None and not isinstance(e, Mapping):
            raise ValueError("endorsement: must be an object or null")
        try:
            endorsement = None if e is None else Endorsement.from_json(e)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"endorsement.{_field(exc)}") from None
        return cls(public_key, valid_from, endorsement)


@dataclass(frozen=True, slots=True)
class KeyHistory:
    """The keys of a ledger, oldest first."""

    keys: tuple[KeyEntry, ...]

    @classmethod
    def first(cls, public_key: bytes) -> KeyHistory:
        return cls((KeyEntry(public_key, 0),))

    @property
    def current(self) -> KeyEntry:
        return self.keys[-1]

    def index(self, kid: str) -> int | None:
        for i, k in enumerate(self.keys):
            if k.key_id == kid:
                return i
        return None

    def valid_until(self, i: int) -> int | None:
        """The last tree size key ``i`` may sign (None: the current key, no end)."""
        return self.keys[i + 1].valid_from if i + 1 < len(self.keys) else None

    def rotate(
        self, old: SigningKey, new: SigningKey, tree_size: int, root: Hash, time: str
    ) -> KeyHistory:
        """The history with ``new`` endorsed by ``old`` (the current key) at ``tree_size``,
        whose Merkle root is ``root``; ValueError naming the problem otherwise."""
        cur = self.current
        if old.public_key != cur.public_key:
            raise ValueError(
                f"the old key {key_id(old.public_key)} is not the current key {cur.key_id}"
            )
        if self.index(key_id(new.public_key)) is not None:
            raise ValueError(f"the new key {key_id(new.public_key)} is already in the history")
        if tree_size < cur.valid_from:
            raise ValueError(
                f"tree size {tree_size} is before the current key's start ({cur.valid_from})"
            )
        message = rotation_message(cur.key_id, new.public_key, tree_size, root, time)
        endorsement = Endorsement(
            cur.key_id, tree_size, root, time, old.sign(message), new.sign(message)
        )
        return KeyHistory((*self.keys, KeyEntry(new.public_key, tree_size, endorsement)))

    def check(self, pinned: bytes | None = None) -> None:
        """Raise `KeyHistoryError` unless every key is endorsed by the one before, from a
        first key that is ``pinned`` (when given: pin it, a history can be replaced whole)."""
        if not self.keys:
            raise KeyHistoryError("keys: the history holds no key")
        first = self.keys[0]
        if pinned is not None and first.public_key != pinned:
            raise KeyHistoryError(
                f"keys[0]: the first key {first.key_id} is not the pinned key {key_id(pinned)}"
            )
        if first.valid_from != 0 or first.endorsement is not None:
            raise KeyHistoryError("keys[0]: the first key must be valid from 0, unendorsed")
        seen = {first.key_id}
        for i in range(1, len(self.keys)):
            prev, k, e = self.keys[i - 1], self.keys[i], self.keys[i].endorsement
            where = f"keys[{i}] (key {k.key_id})"
            if k.key_id in seen:
                raise KeyHistoryError(f"{where}: the key appears twice in the history")
            seen.add(k.key_id)
            if e is None:
                raise KeyHistoryError(f"{where}: has no endorsement by the key before it")
            if e.previous_key_id != prev.key_id:
                raise KeyHistoryError(
                    f"{where}: endorsed by key {e.previous_key_id}, not by the key before it "
                    f"({prev.key_id})"
                )
            if e.tree_size != k.valid_from:
                raise KeyHistoryError(
                    f"{where}: validFrom {k.valid_from} is not the endorsed tree size {e.tree_size}"
                )
            if k.valid_from < prev.valid_from:
                raise KeyHistoryError(
                    f"{where}: valid from {k.valid_from}, before the key before it "
                    f"({prev.valid_from})"
                )
            message = rotation_message(prev.key_id, k.public_key, e.tree_size, e.root, e.time)
            if not verify_signature(prev.public_key, e.signature, message):
                raise KeyHistoryError(
                    f"{where}: the endorsement's signature does not verify with the key before "
                    f"it ({prev.key_id}): forged or edited"
                )
            if not verify_signature(k.public_key, e.possession, message):
                raise KeyHistoryError(
                    f"{where}: the possession signature does not verify with the new key itself"
                )

    def check_head(
        self, head: SignedHead, kid: str | None = None, pinned: bytes | None = None
    ) -> KeyEntry:
        """The key that signed ``head`` (its ``keyId`` is ``kid``; None: the first key) after
        checking the history (`check`), the signature and that the key was valid at the
        head's tree size; `KeyHistoryError` naming the problem otherwise."""
        self.check(pinned)
        i = 0 if kid is None else self.index(kid)
        if i is None:
            raise KeyHistoryError(f"head: signed by key {kid}, which is not in the key history")
        k = self.keys[i]
        if not head.verify(k.public_key):
            raise KeyHistoryError(
                f"head: the signature does not verify with key {k.key_id}: forged or edited"
            )
        n = head.tree_size
        if n < k.valid_from:
            raise KeyHistoryError(
                f"head: signs tree size {n}, before key {k.key_id} took over at {k.valid_from}"
            )
        until = self.valid_until(i)
        if until is not None and n > until:
            raise KeyHistoryError(
                f"head: key {k.key_id} was retired at tree size {until} (rotated to key "
                f"{self.keys[i + 1].key_id}); it cannot sign a head of size {n}"
            )
        for j in (i, i + 1):  # the rotation at the start and at the end of this key's range
            e = self.keys[j].endorsement if j < len(self.keys) else None
            if e is not None and e.tree_size == n and e.root != head.root:
                raise KeyHistoryError(
                    f"head: its root of tree size {n} differs from the root the rotation to "
                    f"key {self.keys[j].key_id} endorses: two trees of one size (a fork)"
                )
        return k

    def to_json(self) -> dict[str, Any]:
        return {"format": KEYS_FORMAT, "keys": [k.to_json() for k in self.keys]}

    @classmethod
    def from_json(cls, obj: Any) -> KeyHistory:
        """A history's JSON; ValueError naming the path inside it (``keys[1].publicKey``)."""
        if not isinstance(obj, Mapping):
            raise ValueError("(top level): must be an object")
        if obj.get("format") != KEYS_FORMAT:
            raise ValueError(f"format: must be {KEYS_FORMAT!r}, got {obj.get('format')!r}")
        keys = obj.get("keys")
        if not isinstance(keys, list) or not keys:
            raise ValueError("keys: must be a list of at least one key")
        out = []
        for i, k in enumerate(keys):
            if not isinstance(k, Mapping):
                raise ValueError(f"keys[{i}]: must be an object")
            try:
                out.append(KeyEntry.from_json(k))
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"keys[{i}].{_field(exc)}") from None
        return cls(tuple(out))


def _hex(obj: Mapping[str, Any], name: str, size: int) -> bytes:
    value = obj.get(name)
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise ValueError(f"{name}: must be {2 * size} hex digits")
    return raw


def _field(exc: Exception) -> str:
    """``name: problem`` of a ValueError, or a KeyError's missing name."""
    if isinstance(exc, KeyError):
        return f"{exc.args[0]}: missing"
    return str(exc)
