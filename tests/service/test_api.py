"""The REST API end to end, on SQLite and PostgreSQL: jobs, validation, idempotency,
approvals, the audit ledger, metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from serving import Running, fresh_postgres_db, job_doc, running_service, wait_for

from suanli.ledger import SignedHead, SigningKey
from suanli.ledger.merkle import MerkleTree, verify_consistency, verify_inclusion


def states(r: Running, job_id: str) -> list[str]:
    with r.client() as c:
        return [e["toState"] for e in c.get(f"/v1/jobs/{job_id}/events").json()]


def test_a_submitted_job_is_placed_launched_and_succeeds(svc: Running) -> None:
    with svc.client("tenant") as c:
        r = c.post("/v1/jobs", json=job_doc())
        assert r.status_code == 201, r.text
        job = r.json()
        assert job["id"].startswith("j-") and job["metadata"]["tenant"] == "fin-bank"
        assert job["status"]["state"] == "queued"
        done = wait_for(
            lambda: c.get(f"/v1/jobs/{job['id']}").json()["status"]["state"] == "succeeded"
        )
        assert done
        final = c.get(f"/v1/jobs/{job['id']}").json()
    assert final["status"]["site"] and final["status"]["accelerator"] in ("A100", "Ascend910B")
    assert final["status"]["explanation"]["policy"] == "nearest"
    assert states(svc, job["id"]) == ["queued", "admitted", "running", "succeeded"]


BAD_BODIES = [
    pytest.param(
        {"spec": {"accelerators": {"count": -8, "types": ["A100"]}}},
        422,
        "spec.accelerators.count",
        id="negative-count",
    ),
    pytest.param({"spec": {"gpus": 8}}, 422, "spec.gpus", id="unknown-field"),
    pytest.param(
        {"spec": {"data": {"site": "atlantis", "sizeGB": 1}}},
        422,
        "spec.data.site",
        id="unknown-site",
    ),
    pytest.param(
        {"spec": {"accelerators": {"count": 8, "types": ["TPUv9"]}}},
        422,
        "spec.accelerators.types[0]",
        id="unknown-accelerator",
    ),
    pytest.param({"apiVersion": "suanli/v2"}, 422, "apiVersion", id="wrong-api-version"),
    pytest.param({"spec": {"durationHours": 0}}, 422, "spec.durationHours", id="zero-duration"),
]


def _merge(doc: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    out = dict(doc)
    for k, v in change.items():
        out[k] = (
            _merge(out[k], v)
            if isinstance(v, dict)
            and isinstance(out.get(k), dict)
            and k not in ("accelerators", "data")
            else v
        )
    return out


@pytest.mark.parametrize(("change", "status", "field"), BAD_BODIES)
def test_a_bad_body_is_a_problem_that_names_the_field(
    svc: Running, change: dict[str, Any], status: int, field: str
) -> None:
    with svc.client("tenant") as c:
        r = c.post("/v1/jobs", json=_merge(job_doc(), change))
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in r.json()["errors"]], r.json()


def test_malformed_and_oversized_bodies_are_refused(svc: Running) -> None:
    with svc.client("tenant") as c:
        r = c.post("/v1/jobs", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["title"] == "Malformed JSON body"
        big = job_doc(command=["x" * 4096] * 256)
        r = c.post("/v1/jobs", json=big)
        assert r.status_code == 413
        assert r.headers["content-type"] == "application/problem+json"
        chunks = (b"x" * 8192 for _ in range(200))  # no Content-Length: counted as it streams
        r = c.post("/v1/jobs", content=chunks, headers={"content-type": "application/json"})
        assert r.status_code == 413


def test_an_idempotency_key_returns_the_same_job_and_refuses_another_body(svc: Running) -> None:
    with svc.client("tenant") as c:
        key = {"Idempotency-Key": "order-42"}
        first = c.post("/v1/jobs", json=job_doc(), headers=key)
        again = c.post("/v1/jobs", json=job_doc(), headers=key)
        other = c.post("/v1/jobs", json=job_doc(durationHours=7), headers=key)
        assert first.status_code == 201
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
        assert other.status_code == 409
        assert other.json()["errors"][0]["field"] == "Idempotency-Key"
        listed = c.get("/v1/jobs").json()["items"]
    assert [j["id"] for j in listed] == [first.json()["id"]]


def test_jobs_are_listed_with_filters_and_pages(svc: Running) -> None:
    with svc.client("operator") as c:
        ids = [
            c.post("/v1/jobs", json=job_doc(name=f"j{i}", tenant="fin-bank")).json()["id"]
            for i in range(5)
        ]
        page1 = c.get("/v1/jobs", params={"limit": 2}).json()
        page2 = c.get("/v1/jobs", params={"limit": 2, "after": page1["next"]}).json()
        named = c.get("/v1/jobs", params={"name": "j3"}).json()["items"]
        none = c.get("/v1/jobs", params={"tenant": "mfg-auto"}).json()["items"]
    assert [j["id"] for j in page1["items"] + page2["items"]] == ids[:4]
    assert [j["id"] for j in named] == [ids[3]]
    assert none == []


def test_a_waiting_job_is_cancelled_at_once(svc: Running) -> None:
    svc.service.store.set_approval_classes(["general"], "test")
    svc.service.forget()
    with svc.client("tenant") as c:
        job = c.post("/v1/jobs", json=job_doc()).json()
        assert job["status"]["state"] == "pending-approval"
        r = c.post(f"/v1/jobs/{job['id']}/cancel")
        assert r.status_code == 200 and r.json()["status"]["state"] == "cancelled"
        assert c.post(f"/v1/jobs/{job['id']}/cancel").status_code == 409


def test_a_running_job_is_cancelled_through_the_scheduler(db_url: str) -> None:
    from serving import running_service

    with running_service(db_url, fake_seconds_per_hour=3600.0) as r, r.client("tenant") as c:
        job = c.post("/v1/jobs", json=job_doc()).json()
        wait_for(lambda: c.get(f"/v1/jobs/{job['id']}").json()["status"]["state"] == "running")
        c.post(f"/v1/jobs/{job['id']}/cancel")
        wait_for(lambda: c.get(f"/v1/jobs/{job['id']}").json()["status"]["state"] == "cancelled")
        assert states(r, job["id"])[-2:] == ["running", "cancelled"]


def test_core_data_waits_for_a_regulator_who_approves_or_denies(svc: Running) -> None:
    core = {"site": "guian", "sizeGB": 1, "classification": "core"}
    with svc.client("tenant") as c, svc.client("regulator") as reg:
        a = c.post("/v1/jobs", json=job_doc(data=core, name="a")).json()
        b = c.post("/v1/jobs", json=job_doc(data=core, name="b")).json()
        assert a["status"]["state"] == b["status"]["state"] == "pending-approval"
        assert {x["jobId"] for x in reg.get("/v1/approvals").json()} == {a["id"], b["id"]}
        ok = reg.post(f"/v1/approvals/{a['id']}", json={"decision": "approve", "reason": "ok"})
        no = reg.post(f"/v1/approvals/{b['id']}", json={"decision": "deny", "reason": "no"})
        assert ok.json()["state"] == "queued" and no.json()["state"] == "rejected"
        wait_for(lambda: c.get(f"/v1/jobs/{a['id']}").json()["status"]["state"] == "succeeded")
        again = reg.post(f"/v1/approvals/{b['id']}", json={"decision": "approve", "reason": "x"})
        assert again.status_code == 409


def test_the_audit_ledger_is_a_merkle_tree_with_inclusion_and_consistency_proofs(
    svc: Running,
) -> None:
    with svc.client("tenant") as c:
        job = c.post("/v1/jobs", json=job_doc()).json()
        wait_for(lambda: c.get(f"/v1/jobs/{job['id']}").json()["status"]["state"] == "succeeded")
    with svc.client("regulator") as reg:
        wait_for(lambda: reg.get("/v1/audit/head").json()["treeSize"] >= 5)
        entries = reg.get("/v1/audit/entries", params={"limit": 1000}).json()["items"]
        head = reg.get("/v1/audit/head").json()
        tree = MerkleTree([bytes.fromhex(e["leafHash"]) for e in entries[: head["treeSize"]]])
        assert tree.root().hex() == head["root"]
        for e in entries:
            assert tree.root(e["seq"]).hex() == e["treeRoot"]
        proof = reg.get(f"/v1/audit/entries/{entries[1]['seq']}/proof").json()
        verify_inclusion(
            proof["leafIndex"],
            proof["treeSize"],
            bytes.fromhex(proof["entry"]["leafHash"]),
            [bytes.fromhex(h) for h in proof["path"]],
            bytes.fromhex(proof["root"]),
        )
        cons = reg.get("/v1/audit/consistency", params={"old": 2}).json()
        verify_consistency(
            cons["oldSize"],
            cons["newSize"],
            bytes.fromhex(cons["oldRoot"]),
            bytes.fromhex(cons["newRoot"]),
            [bytes.fromhex(h) for h in cons["path"]],
        )
    assert any(e["subjectId"] == job["id"] and e["toState"] == "succeeded" for e in entries)


def _head(doc: dict[str, Any]) -> SignedHead:
    return SignedHead(
        doc["treeSize"], bytes.fromhex(doc["root"]), doc["time"], bytes.fromhex(doc["signature"])
    )


def test_tree_heads_are_signed_with_one_key_that_replicas_of_a_database_share(
    db_url: str, tmp_path: Path
) -> None:
    with running_service(db_url) as r, r.client("regulator") as reg:
        doc = reg.get("/v1/audit/head").json()
    key = bytes.fromhex(doc["publicKey"])
    assert doc["format"] == "suanli-ledger-head/1"
    assert _head(doc).verify(key)
    forged = _head({**doc, "treeSize": doc["treeSize"] + 1})
    assert not forged.verify(key)
    # a second start on the same database (another replica, or a restart) signs with that key
    with running_service(db_url) as r, r.client("operator") as op:
        again = op.get("/v1/audit/head").json()
    assert again["publicKey"] == doc["publicKey"] and _head(again).verify(key)
    # an operator may keep the key in a file instead; every replica then gets the same file (a
    # new database here: on this one the file's key would take over by a rotation only, as
    # tests/service/test_ledger_keys.py does)
    filed_db = (
        f"sqlite:///{tmp_path / 'filed.db'}" if db_url.startswith("sqlite") else fresh_postgres_db()
    )
    own = SigningKey.generate()
    own.save(tmp_path / "ledger.key")
    keyfile = tmp_path / "ledger.key"
    with running_service(filed_db, ledger_key=keyfile) as r, r.client("regulator") as reg:
        filed = reg.get("/v1/audit/head").json()
    assert filed["publicKey"] == own.public_key.hex() and _head(filed).verify(own.public_key)


def test_sites_are_registered_drained_and_resumed_by_operators(svc: Running) -> None:
    site = {
        "id": "hk-partner",
        "name": "Hong Kong partner",
        "hub": "hk",
        "jurisdiction": "HK",
        "lat": 22.3,
        "lon": 114.2,
        "pue": 1.3,
        "pools": [{"accelerator": "H100", "nodes": 2, "perNode": 8}],
        "priceYuanPerKwh": 0.9,
        "carbonKgPerKwh": 0.6,
    }
    with svc.client("operator") as c:
        r = c.post("/v1/sites", json=site)
        assert r.status_code == 201 and r.json()["accelerators"] == 16
        assert c.post("/v1/sites", json=site).status_code == 409
        assert c.post("/v1/sites/hk-partner/drain").json()["state"] == "draining"
        assert c.post("/v1/sites/hk-partner/resume").json()["state"] == "active"
        job = c.post(
            "/v1/jobs",
            json=job_doc(
                tenant="fin-bank",
                accelerators={"count": 8, "types": ["H100"]},
                data={"site": "hk-partner", "sizeGB": 0},
            ),
        ).json()
        wait_for(lambda: c.get(f"/v1/jobs/{job['id']}").json()["status"]["state"] == "succeeded")
        assert c.get(f"/v1/jobs/{job['id']}").json()["status"]["site"] == "hk-partner"


def test_health_readiness_and_metrics_answer(svc: Running) -> None:
    with svc.client("") as c:
        assert c.get("/v1/health").json() == {"status": "ok"}
        wait_for(lambda: c.get("/v1/ready").json()["leader"])
        text = c.get("/metrics").text
    for name in (
        "suanli_jobs",
        "suanli_api_request_seconds",
        "suanli_site_utilization",
        "suanli_admission_seconds",
        "suanli_decisions_total",
    ):
        assert name in text


def test_a_job_planned_for_a_cheaper_hour_says_so_while_it_waits(sqlite_url: str) -> None:
    from serving import running_service

    with running_service(sqlite_url, policy="suanli") as r, r.client("tenant") as c:
        job = c.post("/v1/jobs", json=job_doc(data={"site": "guian", "sizeGB": 0})).json()
        reason = wait_for(
            lambda: (
                (s := c.get(f"/v1/jobs/{job['id']}").json()["status"])["reason"].startswith(
                    "waiting:"
                )
                and s["reason"]
            ),
            timeout=10,
        )
        assert c.get(f"/v1/jobs/{job['id']}").json()["status"]["state"] == "queued"
    assert "start at" in reason, reason
