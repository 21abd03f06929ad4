"""The engine and the ledger wired into a real scheduler run, as the simulator will do it."""

from __future__ import annotations

from pathlib import Path

from gov_builders import CROSS_BORDER, engine, gjob

from suanli.core.clock import ManualClock
from suanli.core.policies import make_policy
from suanli.core.rules import Verdict
from suanli.core.scheduler import Scheduler
from suanli.governance.attributes import JobAttributes
from suanli.ledger import Ledger, SigningKey, events, explain, save_ledger, verify_ledger
from suanli.model import Classification
from suanli.sim.engine import run

RESIDENCY = {"id": "res", "kind": "residency", "classes": ["core", "important"]}
HEALTH = {"id": "health", "kind": "sectorLocality", "sector": "healthcare", "classes": ["personal"]}


def test_a_governed_run_has_no_violations_and_leaves_a_verifiable_ledger(tmp_path: Path) -> None:
    attrs = {f"p{i}": JobAttributes(people=40_000) for i in range(4)}
    eng = engine(RESIDENCY, HEALTH, CROSS_BORDER, attributes=attrs)
    s = eng.scenario
    jobs = [
        gjob("core", cls=Classification.CORE, arrival=0.0),
        gjob("health", tenant="health", cls=Classification.PERSONAL, arrival=0.5),
        gjob("nowhere", tenant="health", cls=Classification.PERSONAL, types=("H800",)),
        *(gjob(f"p{i}", cls=Classification.PERSONAL, arrival=1.0 + i) for i in range(4)),
    ]
    clock = ManualClock()
    scheduler = Scheduler(s, make_policy("greenest"), clock, rules=eng)
    trace = run(scheduler, clock, jobs)

    ledger = Ledger(SigningKey.from_seed(bytes(32)))
    for p in trace.placements:
        eng.record_placement(p.job, p.option.site)
        ledger.append(*events.placement(p, p.explanation.considered(scheduler.cost, p.job)))
    for r in trace.rejections:
        ledger.append(*events.rejection(r))
    ledger.sign_head("end")
    path = tmp_path / "run.jsonl"
    save_ledger(ledger, path)

    # re-checked with a fresh engine: no placement breaks a rule
    fresh = engine(RESIDENCY, HEALTH, CROSS_BORDER, attributes=attrs)
    for p in trace.placements:
        assert fresh.check(p.job, s.sites[p.option.site], s).verdict is Verdict.ALLOW
    # a job no site may take is rejected with every site's reason
    (rejected,) = trace.rejections
    assert rejected.job.id == "nowhere" and set(rejected.reasons) == {"bj", "tj", "gz", "sg"}
    assert verify_ledger(path).ok
    story = explain(ledger.lines, "core")
    assert story.placement is not None
    assert story.placement["explanation"]["excluded"]["sg"].startswith("res: core data")
