"""CPU per submission of the service's two halves, in one process, without HTTP or sockets.

The API half: ``accept_job`` (checks, group commit of the job, its first event) for
``--jobs`` submissions, ``--per-tick`` at a time. The scheduler half: one tick of the
scheduling loop after each group (intake, cycle, admission, launch on the fake backend,
ledger sealing), then ticks until every job ran. Both are process CPU time (user + system),
so the figures compare variants on a shared machine where wall time does not.

    .venv/bin/python benchmarks/bench_intake.py [--jobs 5000] [--per-tick 100] [--db URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_serve import JOB  # benchmarks/bench_serve.py, next to this script

from suanli.service import Service, ServiceConfig
from suanli.service.routes import accept_job
from suanli.service.schemas import JobDocument
from suanli.service.writer import SubmissionWriter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    ap.add_argument("--jobs", type=int, default=5000)
    ap.add_argument("--per-tick", type=int, default=100, help="submissions between two ticks")
    ap.add_argument("--policy", default="suanli")
    args = ap.parse_args()
    db = args.db or f"sqlite:///{Path(tempfile.mkdtemp(prefix='suanli-intake-')) / 'i.db'}"
    svc = Service(ServiceConfig(db_url=db, backend="fake", scheduler="off", policy=args.policy))
    svc.writer = SubmissionWriter(svc.store)
    who = svc.auth("Bearer " + svc.store.create_token("tenant", "fin-bank", "bench"))
    deadline = datetime.now(UTC) + timedelta(minutes=45)
    job = {**JOB, "spec": {**JOB["spec"], "deadline": deadline.strftime("%Y-%m-%dT%H:%M:%SZ")}}
    body = json.dumps(job)
    api = scheduler = 0.0

    async def submit(n: int) -> None:
        docs = [JobDocument.model_validate_json(body) for _ in range(n)]
        await asyncio.gather(*(accept_job(svc, who, d, None) for d in docs))

    loop = asyncio.new_event_loop()
    done = 0
    while done < args.jobs:
        n = min(args.per_tick, args.jobs - done)
        t = time.process_time()
        loop.run_until_complete(submit(n))
        api += time.process_time() - t
        done += n
        t = time.process_time()
        svc.loop.step()
        scheduler += time.process_time() - t
    t = time.process_time()
    ticks = 0
    while svc.store.state_counts().get("queued", 0) or svc.store.state_counts().get("admitted", 0):
        svc.loop.step()
        ticks += 1
        if ticks > 10_000:
            raise SystemExit("bench_intake: the queue did not drain in 10,000 ticks")
    svc.loop.step()  # seal the last events
    scheduler += time.process_time() - t
    counts = svc.store.state_counts()
    loop.close()
    svc.writer.close()
    svc.engine.dispose()
    print(
        json.dumps(
            {
                "jobs": args.jobs,
                "per_tick": args.per_tick,
                "database": db.split(":")[0],
                "policy": args.policy,
                "api_cpu_us_per_submission": round(api / args.jobs * 1e6),
                "scheduler_cpu_us_per_submission": round(scheduler / args.jobs * 1e6),
                "ticks_after_the_last_submission": ticks,
                "states": counts,
                "load_average_1m": os.getloadavg()[0],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
