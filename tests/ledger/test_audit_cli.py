"""``suanli audit``: verify, prove, check-proof and explain, end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from suanli.cli import app
from suanli.ledger import Ledger, SigningKey, heads_path, save_ledger

runner = CliRunner()
KEY = SigningKey.from_seed(bytes(range(32)))


@pytest.fixture
def ledger_file(tmp_path: Path) -> Path:
    ledger = Ledger(KEY)
    for i in range(10):
        ledger.append("admission", float(i), {"job": f"j{i}", "tenant": "t1"})
    ledger.append(
        "placement",
        3.0,
        {
            "job": "j3",
            "site": "guian",
            "accelerator": "A800",
            "costYuan": 80.5,
            "explanation": {
                "policy": "suanli",
                "reason": "cheapest feasible now",
                "excluded": {"sg": "residency-core-important: important data ..."},
                "considered": {"guian": 80.5, "tianfu": 95.0},
            },
        },
    )
    ledger.sign_head("t=3h")
    path = tmp_path / "run.jsonl"
    save_ledger(ledger, path)
    return path


def test_verify_passes_on_an_untouched_ledger(ledger_file: Path) -> None:
    result = runner.invoke(
        app, ["audit", "verify", str(ledger_file), "--key", KEY.public_key.hex()]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 11 entries, 1 signed head(s)")


def test_verify_fails_naming_the_changed_entry(ledger_file: Path) -> None:
    lines = ledger_file.read_bytes().split(b"\n")
    lines[4] = lines[4].replace(b'"tenant":"t1"', b'"tenant":"t2"')
    ledger_file.write_bytes(b"\n".join(lines))
    result = runner.invoke(app, ["audit", "verify", str(ledger_file)])
    assert result.exit_code == 1
    assert "FAIL entry 4 (line 5): changed" in result.output


def test_verify_of_a_missing_heads_file_is_bad_input(ledger_file: Path) -> None:
    heads_path(ledger_file).unlink()
    result = runner.invoke(app, ["audit", "verify", str(ledger_file)])
    assert result.exit_code == 2
    assert "cannot read the heads file" in result.output


def test_a_proof_checks_against_the_published_head_alone(ledger_file: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["audit", "prove", str(ledger_file), "3"])
    assert result.exit_code == 0, result.output
    proof = tmp_path / "proof.json"
    proof.write_text(result.output)
    published = tmp_path / "published-heads.json"
    published.write_text(heads_path(ledger_file).read_text())
    ledger_file.unlink()  # the third party has no ledger
    ok = runner.invoke(app, ["audit", "check-proof", str(proof), "--head", str(published)])
    assert ok.exit_code == 0, ok.output
    assert ok.output.strip() == "ok: entry 3 is in the signed tree of 11 entries"
    obj = json.loads(proof.read_text())
    obj["entry"] = obj["entry"].replace("j3", "j4")
    proof.write_text(json.dumps(obj))
    bad = runner.invoke(app, ["audit", "check-proof", str(proof), "--head", str(published)])
    assert bad.exit_code == 1
    assert "FAIL entry 3: root computed from the proof differs" in bad.output


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        pytest.param(["11"], "ENTRY: must be in 0..10, got 11", id="entry past the head"),
        pytest.param(["1", "--size", "5"], "--size: no signed head has size 5", id="no such head"),
    ],
)
def test_prove_rejects_bad_requests(ledger_file: Path, args: list[str], problem: str) -> None:
    result = runner.invoke(app, ["audit", "prove", str(ledger_file), *args])
    assert result.exit_code == 2
    assert problem in result.output


def test_explain_tells_where_a_job_went_and_why(ledger_file: Path) -> None:
    result = runner.invoke(app, ["audit", "explain", "j3", "--ledger", str(ledger_file)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        '[3 h] #3 admission: {"tenant": "t1"}',
        "[3 h] #10 placement: guian on A800 by policy suanli (cheapest feasible now), 80.5 yuan",
        "    considered guian: 80.5 yuan",
        "    considered tianfu: 95.0 yuan",
        "    excluded sg: residency-core-important: important data ...",
    ]
    missing = runner.invoke(app, ["audit", "explain", "j99", "--ledger", str(ledger_file)])
    assert missing.exit_code == 2 and "no entry about job 'j99'" in missing.output


def test_check_head_follows_the_key_history_from_the_pinned_first_key(tmp_path: Path) -> None:
    from suanli.ledger import KeyHistory, key_id
    from suanli.ledger.ledger import signed_message

    new = SigningKey.from_seed(bytes([7]) * 32)
    ledger = Ledger(KEY)
    for i in range(6):
        ledger.append("admission", float(i), {"job": f"j{i}"})
    history = KeyHistory.first(KEY.public_key).rotate(KEY, new, 4, ledger.root(4), "r")
    (tmp_path / "keys.json").write_text(json.dumps(history.to_json()))

    def head(signer: SigningKey, size: int) -> Path:
        root = ledger.root(size)
        doc = {
            "treeSize": size,
            "root": root.hex(),
            "time": "t",
            "format": "suanli-ledger-head/1",
            "signature": signer.sign(signed_message(size, root, "t")).hex(),
            "publicKey": signer.public_key.hex(),
            "keyId": key_id(signer.public_key),
        }
        path = tmp_path / f"head-{size}.json"
        path.write_text(json.dumps(doc))
        return path

    def check(path: Path, *more: str) -> Result:
        keys = ["--keys", str(tmp_path / "keys.json")]
        return runner.invoke(app, ["audit", "check-head", str(path), *keys, *more])

    ok = check(head(new, 6), "--key", KEY.public_key.hex())
    assert ok.exit_code == 0, ok.output
    assert f"signed by key {key_id(new.public_key)}" in ok.output
    old = check(head(KEY, 3), "--key", KEY.public_key.hex())
    assert old.exit_code == 0, old.output
    late = check(head(KEY, 5), "--key", KEY.public_key.hex())
    assert late.exit_code == 1 and "retired at tree size 4" in late.output
    stranger = check(head(new, 6), "--key", new.public_key.hex())
    assert stranger.exit_code == 1 and "not the pinned key" in stranger.output
    missing = check(tmp_path / "nope.json")
    assert missing.exit_code == 2
