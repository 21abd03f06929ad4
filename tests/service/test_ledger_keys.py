"""Rotation of the key that signs the audit ledger's tree heads, end to end on SQLite and
PostgreSQL: the key history, the rotation sealed into the ledger, old and new heads verified
from the first key, a retired key refused, restarts, key files, roles and bad input."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from serving import FAST, Running, job_doc, running_service, wait_for
from typer.testing import CliRunner

from suanli.cli import app
from suanli.errors import InputError
from suanli.ledger import KeyHistoryError, SigningKey, verify_head
from suanli.ledger.ledger import signed_message
from suanli.ledger.merkle import verify_inclusion
from suanli.service import Service

cli = CliRunner()


def _sealed_job(r: Running) -> None:
    with r.client("tenant") as c:
        job = c.post("/v1/jobs", json=job_doc()).json()
        wait_for(lambda: c.get(f"/v1/jobs/{job['id']}").json()["status"]["state"] == "succeeded")
    with r.client("regulator") as reg:
        wait_for(lambda: reg.get("/v1/audit/head").json()["treeSize"] >= 4)


def _rotation_entry(r: Running) -> dict[str, Any]:
    """The sealed ledger entry of the latest key rotation (waits for the leader to seal it)."""

    def find() -> dict[str, Any] | None:
        with r.client("regulator") as reg:
            items = reg.get("/v1/audit/entries", params={"limit": 1000}).json()["items"]
        found = [e for e in items if e["subject"] == "ledger-key"]
        return found[-1] if found else None

    assert wait_for(lambda: find() is not None)
    entry = find()
    assert entry is not None
    return entry


def test_a_rotation_keeps_old_heads_verifiable_seals_itself_and_survives_a_restart(
    db_url: str,
) -> None:
    with running_service(db_url) as r, r.client("regulator") as reg, r.client() as op:
        _sealed_job(r)
        first = reg.get("/v1/audit/keys").json()
        assert first["format"] == "suanli-ledger-keys/1" and len(first["keys"]) == 1
        pinned = bytes.fromhex(first["keys"][0]["publicKey"])  # taken out of band
        old_head = reg.get("/v1/audit/head").json()
        assert old_head["keyId"] == first["current"] == first["keys"][0]["keyId"]
        assert verify_head(old_head, first, pinned).key_id == first["current"]
        old_key = r.service.store.signing_key()

        rotated = op.post("/v1/audit/keys/rotate", json={"reason": "scheduled, yearly"})
        assert rotated.status_code == 200, rotated.text
        keys = rotated.json()
        assert keys == reg.get("/v1/audit/keys").json()
        assert [k["validUntil"] for k in keys["keys"]] == [keys["keys"][1]["validFrom"], None]
        new = keys["keys"][1]
        assert new["keyId"] == keys["current"] != first["current"]
        assert new["endorsement"]["previousKeyId"] == first["current"]
        at = new["validFrom"]
        assert at >= old_head["treeSize"]

        # the rotation is an entry of the ledger, proven in a head of the new key
        entry = _rotation_entry(r)
        assert entry["action"] == "ledger-key.rotate" and entry["subjectId"] == new["keyId"]
        record = json.loads(entry["reason"])
        assert record["why"] == "scheduled, yearly"
        assert {k: v for k, v in record.items() if k != "why"} == {
            k: v for k, v in new.items() if k != "validUntil"
        }
        wait_for(lambda: reg.get("/v1/audit/head").json()["treeSize"] >= entry["seq"])
        head = reg.get("/v1/audit/head").json()
        assert head["keyId"] == new["keyId"] and head["publicKey"] == new["publicKey"]
        assert verify_head(head, keys, pinned).key_id == new["keyId"]
        proof = reg.get(
            f"/v1/audit/entries/{entry['seq']}/proof", params={"treeSize": head["treeSize"]}
        ).json()
        verify_inclusion(
            proof["leafIndex"],
            proof["treeSize"],
            bytes.fromhex(entry["leafHash"]),
            [bytes.fromhex(h) for h in proof["path"]],
            bytes.fromhex(head["root"]),
        )
        # the heads signed before stay verifiable against the longer history
        assert verify_head(old_head, keys, pinned).key_id == first["current"]
        # the old key, signing a head of the tree after the rotation: refused by name
        size, root = head["treeSize"], bytes.fromhex(head["root"])
        assert size > at
        late = {
            **head,
            "keyId": first["current"],
            "publicKey": old_key.public_key.hex(),
            "signature": old_key.sign(signed_message(size, root, head["time"])).hex(),
        }
        with pytest.raises(KeyHistoryError, match=f"retired at tree size {at}"):
            verify_head(late, keys, pinned)
        with pytest.raises(KeyHistoryError, match="not the pinned key"):
            verify_head(head, keys, SigningKey.generate().public_key)
        # the old private key is gone from the database
        assert r.service.store.signing_key().public_key.hex() == new["publicKey"]

    with running_service(db_url) as r, r.client("operator") as op:
        again = op.get("/v1/audit/head").json()
        assert op.get("/v1/audit/keys").json() == keys
    assert again["keyId"] == new["keyId"] and verify_head(again, keys, pinned)


def test_rotation_is_for_operators_and_its_reason_is_checked(svc: Running) -> None:
    with svc.client("tenant") as t, svc.client("regulator") as reg, svc.client() as op:
        assert t.post("/v1/audit/keys/rotate", json={"reason": "x"}).status_code == 403
        assert reg.post("/v1/audit/keys/rotate", json={"reason": "x"}).status_code == 403
        assert t.get("/v1/audit/keys").status_code == 403
        for body in ({}, {"reason": ""}, {"reason": "x", "key": "mine"}, {"reason": 7}):
            bad = op.post("/v1/audit/keys/rotate", json=body)
            assert bad.status_code == 422, (body, bad.text)
            fields = {e["field"] for e in bad.json()["errors"]}
            assert fields & {"reason", "key"}, bad.json()
        assert len(op.get("/v1/audit/keys").json()["keys"]) == 1


def test_a_key_file_is_rotated_by_the_admin_command_and_replicas_restart_on_the_new_file(
    sqlite_url: str, tmp_path: Path
) -> None:
    old_file, new_file = tmp_path / "ledger-1.key", tmp_path / "ledger-2.key"
    SigningKey.generate().save(old_file)
    with running_service(sqlite_url, ledger_key=old_file) as r, r.client() as op:
        _sealed_job(r)
        first = op.get("/v1/audit/keys").json()
        pinned = bytes.fromhex(first["keys"][0]["publicKey"])
        old_head = op.get("/v1/audit/head").json()
        refused = op.post("/v1/audit/keys/rotate", json={"reason": "compromise"})
        assert refused.status_code == 409
        assert "--ledger-key" in refused.json()["detail"]
        assert "rotate-ledger-key" in refused.json()["detail"]
        out = cli.invoke(
            app,
            [
                "admin",
                "rotate-ledger-key",
                "--db",
                sqlite_url,
                "--old-key",
                str(old_file),
                "--new-key",
                str(new_file),
                "--reason",
                "suspected compromise",
            ],
        )
        assert out.exit_code == 0, out.output
        assert f"--ledger-key {new_file}" in out.output and new_file.exists()
        # this replica still holds the retired key: it signs no more heads
        stale = op.get("/v1/audit/head")
        assert stale.status_code == 503 and "retired" in stale.json()["detail"]
        keys = op.get("/v1/audit/keys").json()
    assert verify_head(old_head, keys, pinned)
    with pytest.raises(InputError, match="was retired at tree size"):
        running_service(sqlite_url, ledger_key=old_file).__enter__()
    # the scheduler process of such a replica signs nothing: it still starts (its supervisor
    # restarts it if it dies before the replica is restarted on the new file)
    child = replace(FAST, db_url=sqlite_url, ledger_key=old_file, replica="vm:1/scheduler")
    Service(child).close()
    # nor does a replica start without a file: the database keeps no key now
    with pytest.raises(InputError, match="kept in a file"):
        running_service(sqlite_url).__enter__()
    with running_service(sqlite_url, ledger_key=new_file) as r, r.client("regulator") as reg:
        _rotation_entry(r)
        head = reg.get("/v1/audit/head").json()
    assert verify_head(head, keys, pinned).public_key == SigningKey.load(new_file).public_key


def test_a_key_not_in_the_history_is_refused_at_start(sqlite_url: str, tmp_path: Path) -> None:
    with running_service(sqlite_url) as r, r.client() as op:
        current = op.get("/v1/audit/keys").json()["current"]
    stranger = tmp_path / "other.key"
    SigningKey.generate().save(stranger)
    with pytest.raises(InputError, match=rf"not in the ledger's key history.*{current}"):
        running_service(sqlite_url, ledger_key=stranger).__enter__()
    # the admin command rotates the database's key to the file; then the file is current
    out = cli.invoke(
        app,
        [
            *("admin", "rotate-ledger-key", "--db", sqlite_url, "--new-key", str(stranger)),
            *("--reason", "move the key out of the database"),
        ],
    )
    assert out.exit_code == 0, out.output
    with running_service(sqlite_url, ledger_key=stranger) as r, r.client() as op:
        keys = op.get("/v1/audit/keys").json()
        head = op.get("/v1/audit/head").json()
    assert keys["keys"][0]["keyId"] == current
    assert verify_head(head, keys, bytes.fromhex(keys["keys"][0]["publicKey"]))
    bad = cli.invoke(app, ["admin", "rotate-ledger-key", "--db", sqlite_url, "--reason", "x"])
    assert bad.exit_code == 2 and "--old-key" in bad.output


def test_a_rotation_by_another_replica_takes_effect_in_a_running_one_at_once(
    db_url: str,
) -> None:
    with running_service(db_url) as r, r.client("regulator") as reg:
        _sealed_job(r)
        before = reg.get("/v1/audit/head").json()
        # another replica of the database (here: the admin command) rotates its key
        out = cli.invoke(
            app, ["admin", "rotate-ledger-key", "--db", db_url, "--reason", "elsewhere"]
        )
        assert out.exit_code == 0, out.output
        keys = reg.get("/v1/audit/keys").json()
        after = reg.get("/v1/audit/head").json()
    pinned = bytes.fromhex(keys["keys"][0]["publicKey"])
    assert after["keyId"] == keys["current"] != before["keyId"]
    assert verify_head(after, keys, pinned) and verify_head(before, keys, pinned)
