"""Load benchmark of `suanli serve`: job submissions per second and their latency.

Starts `suanli serve` (fake backend, the scheduler running) on a fresh database, then the
load generator of `loadgen` (raw asyncio keep-alive sockets, a few tens of microseconds of
CPU per request) keeps ``--concurrency`` submissions in flight on loopback for ``--seconds``
and reports submissions per second, latency percentiles of the 201s, the count of every
other status, and CPU time per submission of the API process, of the scheduler process and
of the load generator. Results in docs/benchmarks.md (section "Control plane").

    .venv/bin/python benchmarks/bench_serve.py                       # SQLite
    .venv/bin/python benchmarks/bench_serve.py --db postgresql://... # PostgreSQL
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import loadgen  # benchmarks/loadgen.py, next to this script

JOB = {
    "apiVersion": "suanli/v1",
    "kind": "Job",
    "metadata": {"name": "bench"},
    "spec": {
        "kind": "finetune",
        # 18,000 accelerators of these types in china-edwc; the suanli policy placed 14,400
        # of these jobs at once (measured) and planned the rest for later hours, since it
        # plans each run for its full half hour: keep a run under about 14,000 submissions
        "accelerators": {
            "count": 1,
            "types": ["A800", "Ascend910B", "H800", "A100", "H20", "H100"],
        },
        "durationHours": 0.5,
        "command": ["python", "train.py"],
        "data": {"site": "guian", "sizeGB": 0, "classification": "general"},
        # within the hour: the suanli policy starts it now rather than at a cheaper hour
        "deadline": "",
    },
}


async def empty_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ceiling: an ASGI app that reads the body and answers 201 with ``{}``."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _token(db: str) -> str:
    from suanli.scenario import load_scenario
    from suanli.service.storage import Store, make_engine, migrate

    engine = make_engine(db)
    migrate(engine)
    store = Store(engine)
    store.seed(load_scenario("china-edwc"))
    token = store.create_token("tenant", "fin-bank", "bench")
    engine.dispose()
    return token


def _load(url: str, token: str, args: argparse.Namespace, pid: int) -> dict[str, Any]:
    """``--concurrency`` keep-alive connections of `loadgen` (raw asyncio sockets) submitting
    the same document, after a short warm-up; CPU per request of client and server ``pid``."""
    seconds, concurrency = args.seconds, args.concurrency
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    deadline = datetime.now(UTC) + timedelta(minutes=45)
    job = {**JOB, "spec": {**JOB["spec"], "deadline": deadline.strftime("%Y-%m-%dT%H:%M:%SZ")}}
    body = json.dumps(job).encode()
    loadgen.run_blocking(f"{url}/v1/jobs", body, headers, seconds=0.5, concurrency=concurrency)
    api0, sched0 = _cpu_seconds(pid)
    client0 = sum(os.times()[:2])
    tally = loadgen.run_blocking(
        f"{url}/v1/jobs", body, headers, seconds=seconds, concurrency=concurrency, rate=args.rate
    )
    client1 = sum(os.times()[:2])
    api1, sched1 = _cpu_seconds(pid)
    out = tally.summary()
    n = out["requests"] = sum(tally.statuses.values())
    n = max(1, n)
    out["client_cpu_us_per_submission"] = round((client1 - client0) / n * 1e6)
    out["api_cpu_us_per_submission"] = round((api1 - api0) / n * 1e6)
    out["scheduler_cpu_us_per_submission"] = round((sched1 - sched0) / n * 1e6)
    out["server_cpu_us_per_submission"] = round((api1 - api0 + sched1 - sched0) / n * 1e6)
    out["_scheduler_cpu_before"] = sched0
    if tally.failures:
        out["first_failure"] = tally.failures[0]
    return out


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """User + system CPU (s) of a process and of its children (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    own = children = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu = (int(fields[11]) + int(fields[12])) / tick
        if int(stat.parent.name) == pid:
            own += cpu
        elif int(fields[1]) == pid:  # fields[1]: parent pid
            children += cpu
    return own, children


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument(
        "--rate", type=float, help="submissions/s on a fixed schedule (default: closed loop)"
    )
    ap.add_argument("--policy", default="suanli")
    ap.add_argument("--scheduler", default="process", help="process (default), thread or off")
    ap.add_argument(
        "--scheduler-nice", type=int, help="passed to `suanli serve` (default: its default, 5)"
    )
    ap.add_argument(
        "--ceiling",
        action="store_true",
        help="load an empty ASGI app under uvicorn instead: what the machine and client allow",
    )
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="suanli-bench-")
    db = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
    token = _token(db)
    port = _free_port()
    if args.ceiling:
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "bench_serve:empty_app",
            "--app-dir",
            str(Path(__file__).parent),
            "--port",
            str(port),
            "--log-level",
            "error",
            "--no-access-log",
        ]
    else:
        cmd = [
            sys.executable,
            "-c",
            "from suanli.cli import main; main()",
            "serve",
            "--port",
            str(port),
            "--db",
            db,
            "--backend",
            "fake",
            "--policy",
            args.policy,
            "--fake-seconds-per-hour",
            "2",
            "--scheduler",
            args.scheduler,
        ]
        if args.scheduler_nice is not None:
            cmd += ["--scheduler-nice", str(args.scheduler_nice)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/v1/health").status_code in (200, 201):
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        result = _load(url, token, args, server.pid)
        result["load_average_1m"] = os.getloadavg()[0]
        ended = time.perf_counter()
        drained = None
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
            while (
                not args.ceiling and args.scheduler != "off" and time.perf_counter() - ended < 120
            ):
                q = c.get("/v1/jobs", params={"state": "queued", "limit": 1}).json()["items"]
                if not q:
                    drained = round(time.perf_counter() - ended, 1)
                    break
                time.sleep(0.5)
            sched_cpu = _cpu_seconds(server.pid)[1] - result.pop("_scheduler_cpu_before")
            result["scheduler_cpu_us_per_submission_until_drained"] = round(
                sched_cpu / max(1, result["requests"]) * 1e6
            )
            time.sleep(2.5)  # the scheduler process exports its metrics every 2 s
            metrics = c.get("/metrics").text
        admitted = sum(
            float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith('suanli_decisions_total{outcome="admitted"}')
        )
        result.update(
            {
                "database": "none (empty app)" if args.ceiling else db.split(":")[0],
                "concurrency": args.concurrency,
                "policy": args.policy,
                "scheduler": args.scheduler,
                "scheduler_nice": args.scheduler_nice,
                "admitted_by_scheduler": int(admitted),
                "queue_drained_after_load_s": drained,
                "cpus": os.cpu_count(),
            }
        )
        print(json.dumps(result, indent=2))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
