"""A tamper-evident audit ledger: RFC 6962/9162 Merkle tree, signed heads, proofs.

    >>> from suanli.ledger import Ledger, SigningKey, save_ledger, verify_ledger
    >>> ledger = Ledger(SigningKey.generate())
    >>> seq = ledger.append("placement", 1.5, {"job": "j1", "site": "tianfu"})
    >>> head = ledger.sign_head("t=1.5h")

docs/ledger.md says how a third party checks a ledger, a head and a proof.
"""

from suanli.ledger import events
from suanli.ledger.explain import JobStory, explain
from suanli.ledger.files import HeadsFile, heads_path, load_heads, load_ledger, save_ledger
from suanli.ledger.keyring import KeyEntry, KeyHistory, KeyHistoryError, key_id
from suanli.ledger.keys import SigningKey, verify_signature
from suanli.ledger.ledger import InclusionProof, Ledger, SignedHead, canonical, check_proof
from suanli.ledger.merkle import (
    MerkleTree,
    ProofError,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from suanli.ledger.verify import LedgerReport, Problem, verify_head, verify_ledger, verify_lines

__all__ = [
    "HeadsFile",
    "InclusionProof",
    "JobStory",
    "KeyEntry",
    "KeyHistory",
    "KeyHistoryError",
    "Ledger",
    "LedgerReport",
    "MerkleTree",
    "Problem",
    "ProofError",
    "SignedHead",
    "SigningKey",
    "canonical",
    "check_proof",
    "events",
    "explain",
    "heads_path",
    "key_id",
    "leaf_hash",
    "load_heads",
    "load_ledger",
    "node_hash",
    "save_ledger",
    "verify_consistency",
    "verify_head",
    "verify_inclusion",
    "verify_ledger",
    "verify_lines",
    "verify_signature",
]
