"""The ledger: canonical entries, signed heads, proofs, and every single tampering caught."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.errors import InputError
from suanli.ledger import (
    InclusionProof,
    Ledger,
    ProofError,
    SigningKey,
    canonical,
    check_proof,
    explain,
    heads_path,
    load_heads,
    save_ledger,
    verify_consistency,
    verify_ledger,
)

KEY = SigningKey.from_seed(bytes(range(32)))
OTHER = SigningKey.from_seed(bytes(32))
N = 40


def build(n: int = N, heads: tuple[int, ...] = (20, N)) -> Ledger:
    ledger = Ledger(KEY)
    for i in range(n):
        ledger.append("placement", i * 0.5, {"job": f"j{i:03d}", "site": "tianfu", "yuan": i})
        if i + 1 in heads:
            ledger.sign_head(f"t={i * 0.5}h")
    return ledger


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "run.jsonl"
    save_ledger(build(), path)
    return path


def test_entries_are_canonical_json_chained_by_prev() -> None:
    ledger = build(3, heads=(3,))
    first, second = ledger.entry(0), ledger.entry(1)
    assert ledger.lines[0] == (
        b'{"data":{"job":"j000","site":"tianfu","yuan":0},"kind":"placement","prev":"",'
        b'"seq":0,"time":0.0}'
    )
    assert first["prev"] == "" and second["seq"] == 1
    assert second["prev"] == __import__("hashlib").sha256(b"\x00" + ledger.lines[0]).hexdigest()


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param({"b": 1, "a": [1, 2]}, b'{"a":[1,2],"b":1}', id="sorted keys, no spaces"),
        pytest.param({"名": "算力"}, '{"名":"算力"}'.encode(), id="UTF-8, not escaped"),
        pytest.param({"x": {"z": 1, "y": None}}, b'{"x":{"y":null,"z":1}}', id="nested sorted"),
    ],
)
def test_canonical_json(obj: object, expected: bytes) -> None:
    assert canonical(obj) == expected


def test_canonical_json_refuses_nan() -> None:
    with pytest.raises(ValueError):
        canonical({"x": float("nan")})


def test_an_untouched_ledger_verifies(saved: Path) -> None:
    report = verify_ledger(saved, public_key=KEY.public_key)
    assert report.ok, report.problems
    assert (report.entries, report.heads) == (N, 2)


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def _write(path: Path, lines: list[bytes], newline: bool = True) -> None:
    path.write_bytes(b"\n".join(lines) + (b"\n" if newline else b""))


def edit_field(path: Path) -> None:
    lines = _lines(path)
    lines[7] = lines[7].replace(b'"site":"tianfu"', b'"site":"gb"')
    _write(path, lines)


def edit_last(path: Path) -> None:
    lines = _lines(path)
    lines[-1] = lines[-1].replace(b'"yuan":39', b'"yuan":1')
    _write(path, lines)


def edit_prev(path: Path) -> None:
    lines = _lines(path)
    obj = json.loads(lines[12])
    obj["prev"] = "00" * 32
    lines[12] = canonical(obj)
    _write(path, lines)


def delete_line(path: Path) -> None:
    lines = _lines(path)
    del lines[9]
    _write(path, lines)


def insert_line(path: Path) -> None:
    lines = _lines(path)
    forged = json.loads(lines[5])
    forged["data"]["job"] = "forged"
    lines.insert(5, canonical(forged))
    _write(path, lines)


def swap_lines(path: Path) -> None:
    lines = _lines(path)
    lines[3], lines[4] = lines[4], lines[3]
    _write(path, lines)


def truncate_lines(path: Path) -> None:
    _write(path, _lines(path)[:35])


def truncate_bytes(path: Path) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 30])


def append_entry(path: Path) -> None:
    ledger = build()
    ledger.append("placement", 99.0, {"job": "late", "site": "gb"})
    _write(path, ledger.lines)


def reformat_line(path: Path) -> None:
    lines = _lines(path)
    lines[2] = json.dumps(json.loads(lines[2])).encode()
    _write(path, lines)


def forge_head(path: Path) -> None:
    hp = heads_path(path)
    obj = json.loads(hp.read_text())
    obj["heads"][1]["rootHash"] = "11" * 32
    hp.write_text(json.dumps(obj))


def resign_heads(path: Path) -> None:
    """Rewrite the ledger and re-sign every head with another key (caught by the pinned key)."""
    ledger = Ledger(OTHER)
    for line in _lines(path):
        e = json.loads(line)
        ledger.append(e["kind"], e["time"], {**e["data"], "site": "gb"})
    ledger.sign_head("forged")
    save_ledger(ledger, path)


TAMPERING = [
    pytest.param(edit_field, "entry 7 (line 8)", id="edited field"),
    pytest.param(edit_last, "head 1", id="edited last entry"),
    pytest.param(edit_prev, "entry 12 (line 13)", id="edited prev field"),
    pytest.param(delete_line, "entry 9 (line 10)", id="deleted line"),
    pytest.param(insert_line, "entry 6 (line 7)", id="inserted line"),
    pytest.param(swap_lines, "entry 3 (line 4)", id="two lines swapped"),
    pytest.param(truncate_lines, "head 1", id="truncated by whole lines"),
    pytest.param(truncate_bytes, "entry 39 (line 40)", id="truncated mid-line"),
    pytest.param(append_entry, "entry 40 (line 41)", id="appended entry without a head"),
    pytest.param(reformat_line, "entry 2 (line 3)", id="reformatted line"),
    pytest.param(forge_head, "head 1", id="forged head"),
    pytest.param(resign_heads, "head 0", id="re-signed with another key"),
]


@pytest.mark.parametrize(("tamper", "where"), TAMPERING)
def test_any_single_change_is_caught_and_located(
    saved: Path, tamper: Callable[[Path], None], where: str
) -> None:
    tamper(saved)
    report = verify_ledger(saved, public_key=KEY.public_key)
    assert not report.ok
    assert report.problems[0].where == where, [str(p) for p in report.problems]


@pytest.mark.parametrize(("tamper", "where"), TAMPERING)
def test_proofs_published_before_tampering_still_verify(
    saved: Path, tamper: Callable[[Path], None], where: str
) -> None:
    ledger = build()
    published = ledger.heads[-1]
    proofs = [ledger.inclusion_proof(i) for i in (0, 15, 39)]
    tamper(saved)
    for proof in proofs:
        check_proof(InclusionProof.from_json(proof.to_json()), published, KEY.public_key)


def test_a_proof_fails_for_another_entry_head_or_key() -> None:
    ledger = build()
    head = ledger.heads[-1]
    proof = ledger.inclusion_proof(15)
    forged = InclusionProof(15, N, ledger.lines[15].replace(b"tianfu", b"gb"), proof.path)
    with pytest.raises(ProofError, match="root computed from the proof"):
        check_proof(forged, head, KEY.public_key)
    with pytest.raises(ProofError, match="signature"):
        check_proof(proof, head, OTHER.public_key)
    with pytest.raises(ProofError, match="signs 20"):
        check_proof(proof, ledger.heads[0], KEY.public_key)


def test_heads_are_consistent_with_each_other() -> None:
    ledger = build()
    old, new = ledger.heads
    proof = ledger.consistency_proof(old.tree_size, new.tree_size)
    verify_consistency(old.tree_size, new.tree_size, old.root, new.root, proof)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("[]", "(top level)", id="not an object"),
        pytest.param('{"format": "x"}', "format", id="wrong format"),
        pytest.param(
            '{"format": "suanli-ledger-heads/1", "algorithm": "Ed25519", "publicKey": "zz"}',
            "publicKey",
            id="bad key",
        ),
        pytest.param("{", "not JSON", id="not JSON"),
    ],
)
def test_a_bad_heads_file_is_an_input_error_naming_the_place(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "x.heads.json"
    path.write_text(text)
    with pytest.raises(InputError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        load_heads(path)


def test_explain_collects_a_jobs_entries() -> None:
    ledger = Ledger(KEY)
    ledger.append("admission", 0.0, {"job": "j1", "tenant": "t"})
    ledger.append("admission", 0.0, {"job": "j10", "tenant": "t"})
    ledger.append(
        "placement",
        1.0,
        {
            "job": "j1",
            "site": "tianfu",
            "accelerator": "A100",
            "costYuan": 12.5,
            "explanation": {
                "policy": "suanli",
                "reason": "cheapest",
                "excluded": {"gb": "residency: personal data ..."},
                "considered": {"tianfu": 12.5, "guian": 13.0},
            },
        },
    )
    story = explain(ledger.lines, "j1")
    assert [e["seq"] for e in story.entries] == [0, 2]
    assert story.placement is not None and story.placement["site"] == "tianfu"
    text = story.lines()
    assert text[1].startswith("[1 h] #2 placement: tianfu on A100 by policy suanli (cheapest)")
    assert text[2:] == [
        "    considered tianfu: 12.5 yuan",
        "    considered guian: 13.0 yuan",
        "    excluded gb: residency: personal data ...",
    ]


@given(st.lists(st.dictionaries(st.text(max_size=5), st.integers() | st.text()), max_size=30))
def test_ledger_round_trips_through_files(
    tmp_path_factory: pytest.TempPathFactory, data: list[dict[str, object]]
) -> None:
    path = tmp_path_factory.mktemp("l") / "l.jsonl"
    ledger = Ledger(KEY)
    for d in data:
        ledger.append("event", 1.0, d)
    ledger.sign_head("end")
    save_ledger(ledger, path)
    assert verify_ledger(path).ok
    for i in range(len(data)):
        check_proof(ledger.inclusion_proof(i), ledger.heads[0], KEY.public_key)


def test_a_ledger_read_back_continues_where_it_stopped(saved: Path) -> None:
    from suanli.ledger import load_ledger

    ledger = load_ledger(saved, KEY)
    assert len(ledger) == N and ledger.root() == build().root()
    ledger.append("placement", 99.0, {"job": "next"})
    ledger.sign_head("later")
    save_ledger(ledger, saved)
    report = verify_ledger(saved, public_key=KEY.public_key)
    assert report.ok and report.heads == 3
