"""Failover with real clusters: stopping a Slurm cluster's controller while jobs run on it marks
its site down; a job the rules let move runs again on another site, a job whose data may not
leave the site's jurisdiction is held there with the reason shown; when the controller is back
the site takes new work, the stale copy is cancelled and no job runs to completion twice."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from clusters import clusters, job_file, lines, proof, serving
from serving import wait_for

pytestmark = pytest.mark.slow


def test_a_site_whose_controller_stops_is_marked_down_its_jobs_moved_or_held_then_it_returns(
    tmp_path: Path,
) -> None:
    c = clusters()
    out = {name: tmp_path / f"{name}.out" for name in ("moves", "held", "new")}
    either = ("A800", "A100")  # guian has A800 (Slurm a), sg A100 (Slurm b)
    with serving(tmp_path, c.backends_file(tmp_path, down_after_s=3)) as s:
        moves = s.cli(
            "submit", str(job_file(tmp_path, "moves", proof(out["moves"], 15), types=either))
        ).split()[0]
        held = s.cli(
            "submit",
            str(
                job_file(
                    tmp_path,
                    "held",
                    proof(out["held"], 15),
                    types=either,
                    classification="personal",
                )
            ),
        ).split()[0]
        for job_id, name in ((moves, "moves"), (held, "held")):
            assert s.wait_state(job_id, "running")["status"]["site"] == "guian"
            wait_for(lambda n=name: lines(out[n])[:1], timeout=60, every=0.3)
        first = s.handle(moves).split("|")[1].split(":")[0]

        c.controller("stop", "guian")
        try:
            wait_for(lambda: s.job(moves)["status"]["site"] == "sg", timeout=60, every=0.3)
            wait_for(lambda: s.health("guian") == "down", timeout=10, every=0.3)
            shown = s.cli("job", held)
            assert "held on guian (down): no other site may run it" in shown
            assert "personal data homed in CN may not be processed in SG" in shown
            assert s.state(held) == "running" and s.job(held)["status"]["site"] == "guian"
            reasons = [e["reason"] for e in s.events(moves) if e["toState"] == "preempted"]
            assert reasons and reasons[0].startswith("site guian is down (no answer for")
        finally:
            c.controller("start", "guian")

        # back: new work goes to guian again; the stale copy there is cancelled
        wait_for(lambda: s.health("guian") == "up", timeout=30, every=0.3)
        new = s.cli("submit", str(job_file(tmp_path, "new", proof(out["new"])))).split()[0]
        assert s.wait_state(new, "succeeded")["status"]["site"] == "guian"
        wait_for(lambda: c.slurm_job("guian", first)["JobState"] == "CANCELLED", timeout=30)
        assert s.wait_state(moves, "succeeded")["status"]["site"] == "sg"
        assert s.wait_state(held, "succeeded")["status"]["site"] == "guian"

    again = s.handle(moves).split("|")[1].split(":")[0]
    assert lines(out["moves"]) == [
        f"start guian suanli-a {first}",
        f"start sg suanli-b {again}",
        f"done sg suanli-b {again}",
    ]
    assert [x.split()[0] for x in lines(out["held"])] == ["start", "done"]
    with sqlite3.connect(s.db.removeprefix("sqlite:///")) as conn:
        site_events = conn.execute(
            "SELECT action, reason, ledger_seq FROM events WHERE subject = 'site' "
            "AND subject_id = 'guian' ORDER BY seq"
        ).fetchall()
        stale = conn.execute(
            "SELECT reason FROM events WHERE subject_id = ? AND action = 'stale-copy'", (moves,)
        ).fetchall()
    assert [a for a, _, _ in site_events] == ["site.down", "site.up"]
    assert all(seq is not None for _, _, seq in site_events)  # sealed into the audit ledger
    assert len(stale) == 1 and f"({'guian|' + first}" in stale[0][0] and "cancelled" in stale[0][0]
