"""The portable form: ``NAME.jsonl`` (one canonical entry per line) and ``NAME.heads.json``.

The heads file::

    {"algorithm": "Ed25519", "format": "suanli-ledger-heads/1",
     "heads": [{"rootHash": "..", "signature": "..", "time": "..", "treeSize": 120}, ...],
     "publicKey": "<64 hex digits>"}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suanli.errors import InputError
from suanli.ledger.keys import SigningKey
from suanli.ledger.ledger import Ledger, SignedHead

HEADS_FORMAT = "suanli-ledger-heads/1"


def heads_path(ledger_path: Path) -> Path:
    """``run.jsonl`` -> ``run.heads.json``; any other name gets ``.heads.json`` appended."""
    if ledger_path.suffix == ".jsonl":
        return ledger_path.with_suffix(".heads.json")
    return ledger_path.with_name(ledger_path.name + ".heads.json")


@dataclass(frozen=True, slots=True)
class HeadsFile:
    public_key: bytes
    heads: tuple[SignedHead, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "algorithm": "Ed25519",
            "format": HEADS_FORMAT,
            "heads": [h.to_json() for h in self.heads],
            "publicKey": self.public_key.hex(),
        }


def save_ledger(ledger: Ledger, path: Path) -> Path:
    """Write the entries to ``path`` and the heads beside it; returns the heads path."""
    if ledger.key is None:
        raise ValueError("a ledger without a signing key cannot be saved with heads")
    with path.open("wb") as f:
        for line in ledger.lines:
            f.write(line)
            f.write(b"\n")
    hp = heads_path(path)
    heads = HeadsFile(ledger.key.public_key, tuple(ledger.heads))
    hp.write_text(json.dumps(heads.to_json(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return hp


def parse_heads(obj: Any) -> HeadsFile:
    """A heads file's JSON; raises ValueError naming the path inside it."""
    if not isinstance(obj, dict):
        raise ValueError("(top level): must be an object")
    if obj.get("format") != HEADS_FORMAT:
        raise ValueError(f"format: must be {HEADS_FORMAT!r}, got {obj.get('format')!r}")
    if obj.get("algorithm") != "Ed25519":
        raise ValueError(f"algorithm: must be 'Ed25519', got {obj.get('algorithm')!r}")
    try:
        key = bytes.fromhex(obj["publicKey"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("publicKey: must be 64 hex digits") from None
    if len(key) != 32:
        raise ValueError("publicKey: must be 64 hex digits")
    heads = []
    for i, h in enumerate(obj.get("heads", [])):
        try:
            heads.append(SignedHead.from_json(h))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"heads[{i}]: malformed head ({e})") from None
    return HeadsFile(key, tuple(heads))


def load_heads(path: Path) -> HeadsFile:
    """Read a heads file; any problem is an `InputError` naming the file and path inside."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(str(path), f"cannot read the heads file: {e.strerror or e}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(str(path), f"not JSON: {e}") from None
    try:
        return parse_heads(obj)
    except ValueError as e:
        where, _, problem = str(e).partition(": ")
        raise InputError(f"{path.name}: {where}", problem) from None


def read_lines(path: Path) -> tuple[list[bytes], bool]:
    """The entry lines of a ledger file and whether the file ends with a newline."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(str(path), f"cannot read the ledger: {e.strerror or e}") from None
    if not raw:
        return [], True
    complete = raw.endswith(b"\n")
    lines = raw.split(b"\n")
    if complete:
        lines.pop()
    return lines, complete


def load_ledger(path: Path, key: SigningKey | None = None) -> Ledger:
    """Read a ledger back to append to it (verify it first: this trusts the file)."""
    lines, complete = read_lines(path)
    if not complete:
        raise InputError(str(path), "the last line has no newline: the file was cut")
    ledger = Ledger(key)
    for line in lines:
        ledger.append_line(line)
    ledger.heads.extend(load_heads(heads_path(path)).heads)
    return ledger
