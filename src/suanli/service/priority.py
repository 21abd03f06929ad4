"""CPU priority of the scheduler process: its planning yields to the API, its write
transactions do not.

The scheduler process plans at a lower CPU priority than the API process (``nice``), so a
submission's request is not kept waiting for the CPU behind a scheduling cycle. But the
scheduler's write transactions hold the database's write gate (on SQLite, the one writer at a
time), and a holder that is descheduled for being niced keeps every submission waiting for the
rest of its transaction: priority inversion through the gate (docs/service.md, "The write
path on SQLite"). So only the thread that plans is niced (on Linux a thread's id is a
``setpriority`` target of its own), and the transactions run in a `GateThread` started
before it, at the process's own priority; the planning thread waits for each transaction, so
the two never compete for the interpreter lock.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

#: whether a thread's niceness can be set apart from its process's (Linux)
PER_THREAD = sys.platform.startswith("linux")


class GateThread:
    """One thread, at the priority of the thread that made it, that runs write transactions
    for a thread niced below it (`run` waits for the answer)."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="suanli-gate")
        # started now: a thread inherits the niceness of the thread that starts it
        self._ident = self._pool.submit(threading.get_ident).result()

    def run(self, fn: Callable[[], T]) -> T:
        if threading.get_ident() == self._ident:
            return fn()  # already in it (a nested write is refused by the gate itself)
        return self._pool.submit(fn).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def nice_thread(increment: int) -> None:
    """Add ``increment`` to the niceness of the calling thread only (on Linux; elsewhere of
    the whole process)."""
    if increment <= 0:
        return
    if not PER_THREAD:
        os.nice(increment)
        return
    tid = threading.get_native_id()
    os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + increment))


def thread_nice() -> int:
    """The niceness of the calling thread."""
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id() if PER_THREAD else 0)
