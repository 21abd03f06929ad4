"""The audit ledger: an append-only list of canonical JSON entries under a Merkle tree.

Every entry is one JSON object, serialised canonically (sorted keys, no spaces, UTF-8, no
NaN); those bytes are the Merkle leaf. Each entry is::

    {"data": {...}, "kind": "placement", "prev": "<hex leaf hash of entry seq-1>",
     "seq": 17, "time": 12.5}

``seq`` (the 0-based index) makes a deleted, inserted or moved line visible where it happens;
``prev`` chains each entry to the one before, so an edited entry is named by its successor.
The Merkle tree makes the whole verifiable against a signed tree head (`SignedHead`): size,
root, a time label and an Ed25519 signature over the canonical JSON of the first three.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from suanli.ledger.keys import SigningKey, verify_signature
from suanli.ledger.merkle import Hash, MerkleTree, ProofError, leaf_hash, verify_inclusion

HEAD_FORMAT = "suanli-ledger-head/1"
PROOF_FORMAT = "suanli-inclusion-proof/1"


def canonical(obj: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, UTF-8, finite numbers only."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


@dataclass(frozen=True, slots=True)
class SignedHead:
    """A signed statement: the first ``tree_size`` entries have Merkle root ``root``."""

    tree_size: int
    root: Hash
    time: str
    signature: bytes

    def message(self) -> bytes:
        """The bytes that are signed."""
        return signed_message(self.tree_size, self.root, self.time)

    def verify(self, public_key: bytes) -> bool:
        return verify_signature(public_key, self.signature, self.message())

    def to_json(self) -> dict[str, Any]:
        return {
            "treeSize": self.tree_size,
            "rootHash": self.root.hex(),
            "time": self.time,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> SignedHead:
        """Raises ValueError (or KeyError, TypeError) on a malformed head."""
        size = obj["treeSize"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"treeSize must be an integer >= 0, got {size!r}")
        return cls(
            size, bytes.fromhex(obj["rootHash"]), str(obj["time"]), bytes.fromhex(obj["signature"])
        )


def signed_message(tree_size: int, root: Hash, time: str) -> bytes:
    return canonical(
        {"format": HEAD_FORMAT, "rootHash": root.hex(), "time": time, "treeSize": tree_size}
    )


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """Entry ``index`` (its exact bytes) is in the tree of ``tree_size`` entries."""

    index: int
    tree_size: int
    entry: bytes
    path: tuple[Hash, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PROOF_FORMAT,
            "leafIndex": self.index,
            "treeSize": self.tree_size,
            "entry": self.entry.decode("utf-8"),
            "path": [h.hex() for h in self.path],
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> InclusionProof:
        if obj.get("format") != PROOF_FORMAT:
            raise ValueError(f"format must be {PROOF_FORMAT!r}, got {obj.get('format')!r}")
        return cls(
            int(obj["leafIndex"]),
            int(obj["treeSize"]),
            str(obj["entry"]).encode("utf-8"),
            tuple(bytes.fromhex(h) for h in obj["path"]),
        )


def check_proof(proof: InclusionProof, head: SignedHead, public_key: bytes) -> None:
    """Raise `ProofError` unless ``proof`` shows its entry in the tree ``head`` signs.

    Needs nothing but the proof, a published head and the publisher's public key: the head's
    signature, its size against the proof's, then RFC 9162 inclusion verification.
    """
    if not head.verify(public_key):
        raise ProofError("the head's signature does not verify with the public key")
    if head.tree_size != proof.tree_size:
        raise ProofError(
            f"the proof is for a tree of {proof.tree_size} entries, the head signs {head.tree_size}"
        )
    verify_inclusion(proof.index, proof.tree_size, leaf_hash(proof.entry), proof.path, head.root)


class Ledger:
    """An in-memory ledger: append entries, sign heads, give proofs.

    ``append`` costs one canonical serialisation, one SHA-256 and an amortised O(1) tree
    update; heads are signed only when asked (one Ed25519 signature each).
    """

    def __init__(self, key: SigningKey | None = None) -> None:
        self.key = key
        self.tree = MerkleTree()
        self.lines: list[bytes] = []
        self.heads: list[SignedHead] = []
        self._prev = ""

    def __len__(self) -> int:
        return len(self.lines)

    def append(self, kind: str, time: float, data: Mapping[str, Any]) -> int:
        """Append one event; returns its ``seq``."""
        seq = len(self.lines)
        line = canonical({"data": data, "kind": kind, "prev": self._prev, "seq": seq, "time": time})
        h = leaf_hash(line)
        self.tree.append_hash(h)
        self.lines.append(line)
        self._prev = h.hex()
        return seq

    def append_line(self, line: bytes) -> int:
        """Append an entry already serialised (when reading a ledger back)."""
        h = leaf_hash(line)
        self.tree.append_hash(h)
        self.lines.append(line)
        self._prev = h.hex()
        return len(self.lines) - 1

    def entry(self, seq: int) -> dict[str, Any]:
        obj: dict[str, Any] = json.loads(self.lines[seq])
        return obj

    def root(self, size: int | None = None) -> Hash:
        return self.tree.root(size)

    def sign_head(self, time: str) -> SignedHead:
        """Sign the current size and root, labelled ``time`` (the caller's clock)."""
        if self.key is None:
            raise ValueError("this ledger has no signing key")
        size, root = len(self), self.tree.root()
        head = SignedHead(size, root, time, self.key.sign(signed_message(size, root, time)))
        self.heads.append(head)
        return head

    def inclusion_proof(self, seq: int, tree_size: int | None = None) -> InclusionProof:
        size = len(self) if tree_size is None else tree_size
        path = self.tree.inclusion_proof(seq, size)
        return InclusionProof(seq, size, self.lines[seq], tuple(path))

    def consistency_proof(self, old: int, new: int | None = None) -> list[Hash]:
        return self.tree.consistency_proof(old, new)
