"""Where the latency of `bench_serve` goes: its run, with every statement, commit and
collection of every process timed (`tracing/sitecustomize.py`), then a summary.

For the submissions' write transactions (the API's writer): how long the first statement
took (on SQLite, the wait for the write lock) and how long the commit took; the durations of
the scheduler's write transactions; collections of 10 ms or more per process; and every
episode of answers slower than ``--slow-ms``, with what overlapped it. The tracing costs CPU,
so compare latencies from `bench_serve` itself; this tells where a tail comes from.

    .venv/bin/python benchmarks/trace_serve.py --seconds 10 --concurrency 32 --rate 1000
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], add_help=False)
    ap.add_argument("--trace-dir", type=Path, help="where the traces go (default: a new one)")
    ap.add_argument("--slow-ms", type=float, default=50.0)
    args, rest = ap.parse_known_args()
    out = args.trace_dir or Path(tempfile.mkdtemp(prefix="suanli-trace-"))
    out.mkdir(parents=True, exist_ok=True)
    os.environ["SUANLI_TRACE_DIR"] = str(out)
    tracing = str(HERE / "tracing")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (tracing, os.environ.get("PYTHONPATH", "")) if p
    )
    spec = importlib.util.spec_from_file_location(
        "suanli_trace", HERE / "tracing" / "sitecustomize.py"
    )
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))  # traces this process too
    sys.path.insert(0, str(HERE))
    import bench_serve
    import loadgen

    stamps: list[tuple[float, float]] = []  # (answered at, latency), monotonic seconds
    record = loadgen.Tally.record

    def stamped(self: Any, status: int, latency: float) -> None:
        stamps.append((time.monotonic(), latency))
        record(self, status, latency)

    loadgen.Tally.record = stamped  # type: ignore[method-assign]
    sys.argv = [sys.argv[0], *rest]
    bench_serve.main()
    time.sleep(1.0)  # the processes flush their traces every 0.5 s
    (out / "client.json").write_text(json.dumps(stamps))
    summarize(out, stamps, args.slow_ms / 1000)


def _pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return round(v[min(len(v) - 1, int(p / 100 * len(v)))], 2) if v else float("nan")


def _dist(name: str, values: list[float]) -> None:
    if values:
        print(
            f"  {name}: n={len(values)} p50 {_pct(values, 50)} p99 {_pct(values, 99)} "
            f"max {max(values):.2f} ms"
        )


def summarize(out: Path, stamps: list[tuple[float, float]], slow_s: float) -> None:
    start = min(t - lat for t, lat in stamps)
    end = max(t for t, _ in stamps)
    txs, role = [], {}
    for f in out.glob("*.jsonl"):
        rows = [json.loads(line) for line in f.read_text().splitlines()]
        threads = {r["th"] for r in rows}
        role[int(f.stem)] = (
            "api"
            if any(t.startswith(("uvloop", "asyncio", "suanli-writer")) for t in threads)
            else "scheduler"
            if "suanli-scheduler" in threads
            else "client"
        )
        txs += [r for r in rows if start <= r["t0"] <= end]

    def writes(r: dict[str, Any]) -> bool:
        return r["stmts"][-1][0] == "commit" and any(
            s[0] in "xm" and not s[2].lstrip().startswith("SELECT") for s in r["stmts"]
        )

    submit = [r for r in txs if writes(r) and any("INSERT INTO jobs" in s[2] for s in r["stmts"])]
    sched = [r for r in txs if writes(r) and role[r["pid"]] == "scheduler"]
    print(f"traces in {out}, load window {end - start:.1f} s")
    print("submission transactions (ms):")
    _dist("first statement (lock wait on SQLite)", [r["stmts"][0][1] for r in submit])
    _dist("commit", [r["stmts"][-1][1] for r in submit])
    print("scheduler write transactions (ms):")
    _dist("duration", [(r["t1"] - r["t0"]) * 1e3 for r in sched])
    for pid, who in sorted(role.items()):
        pauses = [r["stmts"][0][1] for r in txs if r["pid"] == pid and r["th"].startswith("gc")]
        _dist(f"collections of {who} >= 10 ms", [p for p in pauses if p >= 10])
    slow = sorted((t - lat, t) for t, lat in stamps if lat > slow_s)
    episodes: list[list[float]] = []
    for sent, answered in slow:
        if episodes and sent - episodes[-1][1] < 0.02:
            episodes[-1][1:] = [sent, max(episodes[-1][2], answered), episodes[-1][3] + 1]
        else:
            episodes.append([sent, sent, answered, 1])
    print(
        f"{len(slow)} of {len(stamps)} answers over {slow_s * 1e3:.0f} ms, {len(episodes)} episodes"
    )
    for first, _, last, n in episodes:
        print(
            f"- from {first - start:.3f} s: {int(n)} slow answers, first sent to last answered "
            f"{(last - first) * 1e3:.0f} ms"
        )
        for r in sorted(txs, key=lambda r: r["t0"]):
            ms = (r["t1"] - r["t0"]) * 1e3
            if ms >= 5 and r["t1"] >= first - 0.03 and r["t0"] <= last:
                steps = " ".join(f"{s[0]}:{s[1]:.1f}" for s in r["stmts"][:8])
                print(
                    f"    {r['t0'] - start:7.3f} {role[r['pid']]:9s} {r['th'][:16]:16s} "
                    f"{ms:6.1f} ms  {steps}"
                )


if __name__ == "__main__":
    main()
