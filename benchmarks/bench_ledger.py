"""Ledger and governance speed: appends per second, proof sizes, verification, rule cost.

    .venv/bin/python benchmarks/bench_ledger.py [--entries 100000] [--days 1] [--sim]

Targets (issue 5): >= 20,000 appends per second; proofs grow as log2(n); governance adds at
most 15% to the default simulation (``--sim`` runs it once without rules for the baseline).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

from suanli.ledger import Ledger, SigningKey, save_ledger, verify_ledger

SITES = (
    "zhangjiakou", "yrd-demo", "wuhu", "shaoguan", "tianfu", "chongqing", "horinger", "guian",
    "qingyang", "zhongwei", "sg", "kr", "jp-tk", "de-lu", "gb", "br-sp",
)  # fmt: skip


RESIDENCY = "residency-core-important: important data homed in CN may not leave it"


def placement_data(i: int) -> dict[str, object]:
    """A placement entry as large as the default scenario's: 16 sites explained."""
    return {
        "job": f"j{i:07d}",
        "tenant": "edu-universities",
        "site": "guian",
        "accelerator": "A800",
        "startH": i * 0.01,
        "endH": i * 0.01 + 3.5,
        "costYuan": 812.37,
        "explanation": {
            "policy": "suanli",
            "reason": "cheapest feasible start within the deadline",
            "excluded": dict.fromkeys(SITES[10:], RESIDENCY),
            "considered": {s: 800.0 + k for k, s in enumerate(SITES[:10])},
        },
    }


def bench_ledger(n: int) -> dict[str, float]:
    ledger = Ledger(SigningKey.from_seed(bytes(32)))
    data = [placement_data(i) for i in range(n)]
    t = time.perf_counter()
    for i, d in enumerate(data):
        ledger.append("placement", i * 0.01, d)
    append_s = time.perf_counter() - t
    t = time.perf_counter()
    ledger.sign_head("end")
    sign_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl"
        save_ledger(ledger, path)
        t = time.perf_counter()
        report = verify_ledger(path)
        verify_s = time.perf_counter() - t
        assert report.ok, report.problems
    t = time.perf_counter()
    for i in range(0, n, max(1, n // 1000)):
        ledger.inclusion_proof(i)
    proof_s = (time.perf_counter() - t) / len(range(0, n, max(1, n // 1000)))
    return {
        "entries": n,
        "appends_per_s": n / append_s,
        "sign_head_ms": sign_s * 1e3,
        "verify_entries_per_s": n / verify_s,
        "inclusion_proof_us": proof_s * 1e6,
        "mean_entry_bytes": sum(map(len, ledger.lines)) / n,
    }


def bench_proof_sizes() -> list[dict[str, int]]:
    out = []
    for k in (4, 8, 12, 16, 18):
        n = 2**k + 3
        ledger = Ledger()
        for i in range(n):
            ledger.append("e", 0.0, {"i": i})
        out.append(
            {
                "n": n,
                "log2_n_ceil": math.ceil(math.log2(n)),
                "inclusion_max": max(
                    len(ledger.inclusion_proof(i).path) for i in (0, n // 2, n - 1)
                ),
                "consistency_max": max(
                    len(ledger.consistency_proof(m)) for m in (1, n // 3, n - 1)
                ),
            }
        )
    return out


def bench_governance(days: float, sim: bool) -> dict[str, float]:
    from suanli.core.cost import CostModel
    from suanli.core.options import feasibility
    from suanli.governance import DEFAULT_POLICY, GovernanceEngine
    from suanli.scenario import load_scenario
    from suanli.workload import generate_workload

    scenario = load_scenario("china-edwc")
    jobs = generate_workload(scenario, seed=7, days=days)
    cost = CostModel(scenario)
    t = time.perf_counter()
    for j in jobs:
        feasibility(j, cost)
    interim_s = time.perf_counter() - t
    t = time.perf_counter()
    engine = GovernanceEngine.from_file(DEFAULT_POLICY, scenario)
    for j in jobs:
        feasibility(j, cost, engine)
    governed_s = time.perf_counter() - t
    sites = list(scenario.sites.values())
    t = time.perf_counter()
    for j in jobs:
        for s in sites:
            engine.check(j, s, scenario)
    check_s = time.perf_counter() - t
    out = {
        "jobs": len(jobs),
        "feasibility_interim_s": interim_s,
        "feasibility_governed_s": governed_s,
        "check_us_per_pair_warm": check_s / (len(jobs) * len(sites)) * 1e6,
    }
    if sim:
        from suanli.simulation import simulate

        t = time.perf_counter()
        simulate(workload=jobs, policies=["suanli"], bound=False, days=days)
        sim_s = time.perf_counter() - t
        out["simulation_s"] = sim_s
        out["governance_extra_pct_of_simulation"] = 100 * (governed_s - interim_s) / sim_s
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--days", type=float, default=1.0)
    ap.add_argument("--sim", action="store_true")
    args = ap.parse_args()
    result = {
        "ledger": bench_ledger(args.entries),
        "proof_sizes": bench_proof_sizes(),
        "governance": bench_governance(args.days, args.sim),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
