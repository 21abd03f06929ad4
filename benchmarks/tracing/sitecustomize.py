"""Statement and collector timings of every process of a `trace_serve` run (not product code).

Python imports ``sitecustomize`` at start-up from the path; `trace_serve` puts this folder on
``PYTHONPATH`` with ``SUANLI_TRACE_DIR`` set, so the API process and its scheduler process
load it too. Each finished transaction becomes one JSON line in ``<dir>/<pid>.jsonl``: its
thread, monotonic start and end (one clock for all processes), and each statement's kind
(``x`` execute, ``m`` executemany, ``commit``, ``rollback``), milliseconds and first words.
On SQLite, a write transaction's first statement is where it waits for the lock. Collections
of 2 ms or more are lines of their own (thread ``gc0``/``gc1``/``gc2``).
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import threading
import time
from typing import Any

OUT = os.environ.get("SUANLI_TRACE_DIR")


def install(out_dir: str) -> None:
    from sqlalchemy.engine import default

    local = threading.local()
    records: list[dict[str, Any]] = []
    lock = threading.Lock()

    def flush() -> None:
        with lock:
            lines, records[:] = list(records), []
        if lines:
            with open(os.path.join(out_dir, f"{os.getpid()}.jsonl"), "a") as f:
                f.writelines(json.dumps(r) + "\n" for r in lines)

    def add(kind: str, t0: float, t1: float, statement: str = "") -> None:
        tx = getattr(local, "tx", None)
        if tx is None:
            name = threading.current_thread().name
            tx = local.tx = {"pid": os.getpid(), "th": name, "t0": t0, "stmts": []}
        tx["stmts"].append((kind, round((t1 - t0) * 1e3, 3), statement[:40]))
        if kind in ("commit", "rollback"):
            tx["t1"] = t1
            local.tx = None
            with lock:
                records.append(tx)

    def timed(kind: str, method: Any, with_statement: bool) -> Any:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            t0 = time.monotonic()
            try:
                return method(self, *args, **kwargs)
            finally:
                add(kind, t0, time.monotonic(), args[1] if with_statement else "")

        return wrapper

    dialect = default.DefaultDialect
    dialect.do_execute = timed("x", dialect.do_execute, True)  # type: ignore[method-assign]
    dialect.do_executemany = timed("m", dialect.do_executemany, True)  # type: ignore[method-assign]
    dialect.do_commit = timed("commit", dialect.do_commit, False)  # type: ignore[method-assign]
    dialect.do_rollback = timed("rollback", dialect.do_rollback, False)  # type: ignore[method-assign]

    started: dict[str, float] = {}

    def collector(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started["t"] = time.monotonic()
            return
        t0, t1 = started.get("t", time.monotonic()), time.monotonic()
        if t1 - t0 >= 0.002:
            ms = round((t1 - t0) * 1e3, 3)
            with lock:
                records.append(
                    {
                        "pid": os.getpid(),
                        "th": f"gc{info['generation']}",
                        "t0": t0,
                        "t1": t1,
                        "stmts": [("gc", ms, "")],
                    }
                )

    gc.callbacks.append(collector)

    def every_half_second() -> None:
        while True:
            time.sleep(0.5)
            flush()

    threading.Thread(target=every_half_second, name="trace-flush", daemon=True).start()
    atexit.register(flush)


if OUT:
    install(OUT)
