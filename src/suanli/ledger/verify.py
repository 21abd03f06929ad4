"""End-to-end verification of a ledger file against its signed heads.

Checks, in order: every line is canonical JSON with ``seq`` equal to its index (a deleted,
inserted or moved line fails where it happens); every ``prev`` equals the leaf hash of the
line before (an edited entry fails at its successor); every head's signature; every head's
size fits the file and its root equals the Merkle root of that prefix; the last head covers
every entry (an appended entry without a head fails). A problem names its entry (and line) or
its head; `LedgerReport.ok` is true only when there are none.

`verify_head` checks one head of a service (``GET /v1/audit/head``) against its key history
(``GET /v1/audit/keys``) from a first key pinned out of band (`suanli.ledger.keyring`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suanli.errors import InputError
from suanli.ledger.files import HeadsFile, heads_path, load_heads, read_lines
from suanli.ledger.keyring import KeyEntry, KeyHistory, KeyHistoryError
from suanli.ledger.ledger import HEAD_FORMAT, SignedHead, canonical
from suanli.ledger.merkle import MerkleTree, leaf_hash

#: problems listed in full; the rest are counted
MAX_PROBLEMS = 20


@dataclass(frozen=True, slots=True)
class Problem:
    """One failed check: at entry ``entry`` (0-based; its line is entry + 1) or head ``head``."""

    what: str
    entry: int | None = None
    head: int | None = None

    @property
    def where(self) -> str:
        if self.entry is not None:
            return f"entry {self.entry} (line {self.entry + 1})"
        if self.head is not None:
            return f"head {self.head}"
        return "ledger"

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass(slots=True)
class LedgerReport:
    entries: int
    heads: int
    public_key: bytes
    problems: list[Problem] = field(default_factory=list)
    #: problems beyond MAX_PROBLEMS, counted only
    more: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problem: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.more += 1


def verify_ledger(
    path: Path, heads_file: Path | None = None, public_key: bytes | None = None
) -> LedgerReport:
    """Verify the ledger at ``path``; ``public_key`` pins the signer (recommended: a heads
    file can be replaced together with its key)."""
    heads = load_heads(heads_file or heads_path(path))
    lines, complete = read_lines(path)
    return verify_lines(lines, heads, public_key, complete)


def verify_lines(
    lines: list[bytes], heads: HeadsFile, public_key: bytes | None = None, complete: bool = True
) -> LedgerReport:
    """`verify_ledger` on lines already read (pure)."""
    report = LedgerReport(len(lines), len(heads.heads), heads.public_key)
    if public_key is not None and public_key != heads.public_key:
        report.add(Problem("the heads file's public key is not the pinned key", head=0))
    tree = MerkleTree()
    hashes: list[bytes] = []
    prevs: list[str | None] = []
    seq_ok = True
    for i, line in enumerate(lines):
        h = leaf_hash(line)
        hashes.append(h)
        tree.append_hash(h)
        prev, seq_ok = _check_line(report, i, line, seq_ok)
        prevs.append(prev)
    if not complete and lines:
        report.add(Problem("the last line has no newline: the file was cut", entry=len(lines) - 1))
    _check_chain(report, hashes, prevs)
    _check_heads(report, heads, tree, public_key or heads.public_key)
    return report


def _check_line(report: LedgerReport, i: int, line: bytes, seq_ok: bool) -> tuple[str | None, bool]:
    """Check line ``i``; returns (its prev field, whether its seq was right)."""
    try:
        obj = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        report.add(Problem("not JSON", entry=i))
        return None, False
    if not isinstance(obj, dict):
        report.add(Problem("not a JSON object", entry=i))
        return None, False
    if canonical(obj) != line:
        report.add(Problem("not canonical JSON (keys sorted, no spaces)", entry=i))
    seq = obj.get("seq")
    if seq != i:
        if seq_ok:  # report the first of a run of shifted lines only
            report.add(
                Problem(
                    f"seq is {seq!r}, expected {i}: a line was deleted, inserted or moved here",
                    entry=i,
                )
            )
        return _prev(obj), False
    return _prev(obj), True


def _prev(obj: dict[str, object]) -> str | None:
    p = obj.get("prev")
    return p if isinstance(p, str) else None


def _check_chain(report: LedgerReport, hashes: list[bytes], prevs: list[str | None]) -> None:
    """Name the entry behind each break of the prev chain.

    A break at i (prev of i is not the hash of i-1) alone means entry i-1 changed; breaks at i
    and i+1 together mean entry i itself changed (its prev field, or the whole line).
    """
    n = len(hashes)
    breaks = [
        i
        for i in range(n)
        if prevs[i] is not None and prevs[i] != (hashes[i - 1].hex() if i else "")
    ]
    seen: set[int] = set()
    for i in breaks:
        if i in seen:
            continue
        if i + 1 in breaks or i == 0:
            seen.add(i + 1)
            report.add(Problem("changed: its prev field does not match the entry before", entry=i))
        else:
            report.add(
                Problem(
                    f"changed: its hash differs from the one entry {i} records as prev",
                    entry=i - 1,
                )
            )


def _check_heads(report: LedgerReport, heads: HeadsFile, tree: MerkleTree, key: bytes) -> None:
    n = len(tree)
    if not heads.heads:
        report.add(Problem("the heads file holds no signed head", head=0))
        return
    last = -1
    for j, head in enumerate(heads.heads):
        if not head.verify(key):
            report.add(Problem("signature does not verify: the head was forged or edited", head=j))
            continue
        if head.tree_size < last:
            report.add(Problem(f"size {head.tree_size} is smaller than an earlier head's", head=j))
        last = max(last, head.tree_size)
        if head.tree_size > n:
            report.add(
                Problem(
                    f"signs {head.tree_size} entries but the ledger has {n}: entries "
                    f"{n}..{head.tree_size - 1} are missing (truncated or deleted)",
                    head=j,
                )
            )
        elif tree.root(head.tree_size) != head.root:
            report.add(
                Problem(
                    f"root of the first {head.tree_size} entries differs from the signed root "
                    "(an entry before it changed: the one named above, else the last)",
                    head=j,
                )
            )
    if 0 <= last < n:
        report.add(
            Problem(f"not covered by any signed head (the last signs {last} entries)", entry=last)
        )


def load_for_proof(path: Path) -> tuple[list[bytes], HeadsFile]:
    """The lines and heads of a ledger, for `suanli audit prove`."""
    lines, complete = read_lines(path)
    if not complete:
        raise InputError(str(path), "the last line has no newline: the file was cut")
    return lines, load_heads(heads_path(path))


def verify_head(head: Any, keys: Any, pinned: bytes | None) -> KeyEntry:
    """The key that signed ``head`` (a service's ``GET /v1/audit/head`` document, or a head
    of a heads file) once the history ``keys`` (``GET /v1/audit/keys``) checks out from the
    ``pinned`` first key, the signature verifies and the key was valid at the head's size.

    Raises `InputError` naming the field of a malformed document and `KeyHistoryError`
    (a `ProofError`) naming the check that fails.
    """
    try:
        history = KeyHistory.from_json(keys)
    except ValueError as e:
        where, _, problem = str(e).partition(": ")
        raise InputError(f"keys: {where}", problem) from None
    signed, kid = _head_of(head)
    k = history.check_head(signed, kid, pinned)
    claimed = head.get("publicKey")
    if claimed is not None and claimed != k.public_key.hex():
        raise KeyHistoryError(f"head: publicKey {claimed} is not the key {k.key_id} that signed")
    return k


def _head_of(doc: Any) -> tuple[SignedHead, str | None]:
    if not isinstance(doc, Mapping):
        raise InputError("head", "must be a JSON object")
    fmt = doc.get("format", HEAD_FORMAT)
    if fmt != HEAD_FORMAT:
        raise InputError("head: format", f"must be {HEAD_FORMAT!r}, got {fmt!r}")
    kid = doc.get("keyId")
    if kid is not None and not isinstance(kid, str):
        raise InputError("head: keyId", "must be a string")
    obj = dict(doc)
    if "rootHash" not in obj and "root" in obj:  # the service's field name
        obj["rootHash"] = obj["root"]
    for name in ("treeSize", "rootHash", "time", "signature"):
        if name not in obj:
            raise InputError(f"head: {name}", "missing")
    try:
        return SignedHead.from_json(obj), kid
    except (TypeError, ValueError) as e:
        raise InputError("head", f"malformed: {e}") from None
