"""Benchmark: the full default `suanli simulate` (all four policies, the generated week).

Runs the command as a user would, in a child process, and reports its wall time, its CPU time
(user + sys of the child and the worker processes it forks, `RUSAGE_CHILDREN`), the load
average before and after, and the cross-site decision rate of each policy from the command's
own JSON. Targets (issue 2): <= 120 s and < 2 GiB on a 2-core machine. On a shared machine
wall time is stretched by other processes: read the CPU time beside it.

Memory, with several processes (`suanli simulate --workers`, default the CPU count), is read
three ways from /proc, sampling the child and all its descendants every second (reading a
large process's smaps_rollup takes tens of milliseconds: sampled more often, the sampler
would take CPU from the command it measures):

- ``peak_pss_total_mib``: the largest sampled sum of their proportional set sizes (PSS:
  each shared page split between the processes sharing it), i.e. the physical memory the
  command held at once. Sampled: a peak shorter than the interval can be missed.
- ``peak_rss_sum_mib``: the sum of every process's own peak RSS (its VmHWM, last read before
  it ended). Pages a worker shares with its parent after the fork count once per process,
  and peaks at different times are added, so this is an upper bound.
- ``peak_rss_largest_mib``: the largest single process's peak RSS (`ru_maxrss` of the
  children), the only figure earlier runs of this script reported.

    .venv/bin/python benchmarks/bench_simulate.py [--days 7] [--workers N] [--report /tmp/r.html]
        [--json-out /tmp/out.json]
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
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

#: seconds between two samples of the process tree's memory
SAMPLE_S = 1.0


def _kib(text: str, field: str) -> int | None:
    """A ``Field:   123 kB`` line's number, or None."""
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def _descendants(root: int) -> list[int]:
    """``root`` and every live process below it (from each process's parent in /proc)."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name may hold spaces: the fields after its closing parenthesis
        parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, todo = [root], [root]
    while todo:
        pid = todo.pop()
        kids = [p for p, pp in parent.items() if pp == pid]
        tree += kids
        todo += kids
    return tree


class MemorySampler(threading.Thread):
    """Samples the PSS and peak RSS of a process tree until stopped."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.hwm_kib: dict[int, int] = {}
        self.peak_pss_kib = 0
        self.processes: set[int] = set()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(SAMPLE_S)

    def sample(self) -> None:
        total = 0
        for pid in _descendants(self.root):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            except OSError:
                continue  # ended meanwhile
            hwm, pss = _kib(status, "VmHWM"), _kib(rollup, "Pss")
            if hwm is None or pss is None:
                continue  # a zombie: its memory is gone
            self.processes.add(pid)
            self.hwm_kib[pid] = max(self.hwm_kib.get(pid, 0), hwm)
            total += pss
        self.peak_pss_kib = max(self.peak_pss_kib, total)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--workers", type=int, default=None, help="passed on (default: the CPUs)")
    ap.add_argument("--report", default=None, help="keep the HTML report here")
    ap.add_argument("--json-out", default=None, help="keep the command's JSON here")
    args = ap.parse_args()
    report = args.report or os.path.join(tempfile.mkdtemp(), "report.html")
    cmd = [sys.executable, "-m", "suanli", "simulate", "--json", "--days", str(args.days),
           "--report", report]  # fmt: skip
    if args.workers is not None:
        cmd += ["--workers", str(args.workers)]
    load0 = [round(x, 2) for x in os.getloadavg()]
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = MemorySampler(child.pid)
    sampler.start()
    stdout, stderr = child.communicate()
    wall = time.perf_counter() - t0
    sampler.stop()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if child.returncode != 0:
        sys.exit(f"suanli simulate failed ({child.returncode}):\n{stderr}")
    out = json.loads(stdout)
    if args.json_out:
        Path(args.json_out).write_text(stdout)
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "command": " ".join(["suanli", *cmd[3:]]),
        "jobs": out["jobs"],
        "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "user_s": round(usage.ru_utime, 1),
        "sys_s": round(usage.ru_stime, 1),
        "load_average_before": load0,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "processes": len(sampler.processes),
        "peak_pss_total_mib": round(sampler.peak_pss_kib / 1024, 1),
        "peak_rss_sum_mib": round(sum(sampler.hwm_kib.values()) / 1024, 1),
        "peak_rss_largest_mib": round(usage.ru_maxrss / 1024, 1),
        "memory_note": "PSS total: sampled every 1 s; RSS sum: each process's own peak, "
        "shared pages counted per process (an upper bound)",
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
