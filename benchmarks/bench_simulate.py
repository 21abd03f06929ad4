"""Benchmark: the full default `suanli simulate` (all four policies, the generated week).

Runs the command as a user would, in a child process, and reports its wall time, its CPU time
(user + sys of the child), its peak resident memory (the child's ru_maxrss), the load average
before and after, and the cross-site decision rate of each policy from the command's own JSON.
Targets (issue 2): <= 120 s and < 2 GiB on a 2-core machine. On a shared machine wall time
is stretched by other processes: read the CPU time beside it.

    .venv/bin/python benchmarks/bench_simulate.py [--days 7] [--report /tmp/r.html]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--report", default=None, help="keep the HTML report here")
    args = ap.parse_args()
    report = args.report or os.path.join(tempfile.mkdtemp(), "report.html")
    cmd = [sys.executable, "-m", "suanli", "simulate", "--json", "--days", str(args.days),
           "--report", report]  # fmt: skip
    load0 = [round(x, 2) for x in os.getloadavg()]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_kib = child.ru_maxrss
    if done.returncode != 0:
        sys.exit(f"suanli simulate failed ({done.returncode}):\n{done.stderr}")
    out = json.loads(done.stdout)
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "command": " ".join(["suanli", *cmd[3:]]),
        "jobs": out["jobs"],
        "wall_s": round(wall, 1),
        "cpu_s": round(child.ru_utime + child.ru_stime, 1),
        "user_s": round(child.ru_utime, 1),
        "sys_s": round(child.ru_stime, 1),
        "load_average_before": load0,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "decisions_per_s": {k: v["decisions_per_s"] for k, v in out["policies"].items()},
        "objective_yuan": {k: round(v["objective_yuan"]) for k, v in out["policies"].items()},
        "lower_bound_objective_yuan": out["lower_bound_objective_yuan"],
        "gap_to_lower_bound": {k: v["gap_to_lower_bound"] for k, v in out["policies"].items()},
        "carbon_t": {k: v["carbon_t"] for k, v in out["policies"].items()},
        "deadline_miss_rate": {k: v["deadline_miss_rate"] for k, v in out["policies"].items()},
        "report_mib": round(os.path.getsize(report) / 2**20, 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
