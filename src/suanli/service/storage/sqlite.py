"""SQLite's write path for the service: one writer at a time, woken at once, and checkpoints
kept off it.

SQLite lets one write transaction run at a time. A writer that finds the lock taken does not
wait in a queue: its busy handler sleeps 1, 2, 5, 10, 15, 20, 25, 25 ... ms and tries again,
so a submission that arrives while the scheduler process commits waits for the scheduler's
transaction *and* then for the rest of the current sleep. Measured on 2026-12-01 at 1,000
submissions/s (docs/benchmarks.md): the API's writer waited 53.7, 79 and 104 ms (sums of
those sleeps) behind scheduler transactions of 48-111 ms, which was most of the p99 tail.

So every write transaction of the service goes through `write_transaction`:

* **`WriteGate`**: writers queue on a kernel lock (``flock`` of ``<db>-writelock``, behind a
  thread lock for the threads of one process); the kernel wakes a waiter the moment the
  holder lets go, and the transaction starts with ``BEGIN IMMEDIATE`` under the gate, so
  writers of the service never meet SQLite's busy handler (it stays for anything else that
  writes the file, e.g. the ``suanli admin`` commands). The kernel drops the lock of a process
  that dies, so a SIGKILL cannot leave it taken. The collector is paused while the gate is
  held: a full collection of the scheduler process took 160-250 ms (measured, 2026-12-01),
  and one that falls inside a transaction makes every submission wait for it.
* **`Checkpointer`**: the service's connections do not checkpoint when they commit
  (``wal_autocheckpoint=0``): an automatic checkpoint runs inside the ``COMMIT`` of whichever
  connection crosses 1,000 pages of log, i.e. in a submission's commit, or in the
  scheduler's while it holds the gate. A thread of the API process checkpoints every
  `CHECKPOINT_EVERY_S` instead (`Checkpointer.checkpoint`): a ``PASSIVE`` pass, which takes
  no write lock and never waits, copies the bulk beside the writers; a second one with the
  gate held copies what they appended meanwhile once the log is over `RESTART_FRAMES`, so
  the checkpoint is complete and the next writer starts the log over. The file is cut back
  to `JOURNAL_SIZE_LIMIT` bytes.

Durability is unchanged: a commit still syncs the log (``synchronous=FULL``, `make_engine`),
and a checkpoint only copies committed pages into the database file.
"""

from __future__ import annotations

import fcntl
import gc
import logging
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine

log = logging.getLogger("suanli.service")

CHECKPOINT_EVERY_S = 0.25
#: log frames (pages) past which a checkpoint finishes with the gate held: SQLite's own
#: threshold for its automatic checkpoints (about 4 MB of log)
RESTART_FRAMES = 1000
JOURNAL_SIZE_LIMIT = 64 * 2**20


class WriteGate:
    """One write transaction at a time across the threads and processes of one SQLite file."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + "-writelock")
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0
        self._owner: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        if self._owner == threading.get_ident():
            # a second write transaction inside the first would wait for itself forever
            raise RuntimeError("a write transaction was begun inside another one")
        with self._lock:
            self._owner = threading.get_ident()
            fd = self._file()
            fcntl.flock(fd, fcntl.LOCK_EX)
            collecting = gc.isenabled()
            gc.disable()
            try:
                yield
            finally:
                if collecting:
                    gc.enable()
                fcntl.flock(fd, fcntl.LOCK_UN)
                self._owner = None

    def _file(self) -> int:
        # one descriptor per process: flock excludes open files, not threads
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd


_GATES: weakref.WeakKeyDictionary[Engine, WriteGate] = weakref.WeakKeyDictionary()


def attach_gate(engine: Engine, db_path: Path) -> None:
    _GATES[engine] = WriteGate(db_path)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A write transaction, committed on leaving: through the gate on SQLite, plain
    ``engine.begin()`` on PostgreSQL (whose writers queue on row locks)."""
    gate = _GATES.get(engine)
    if gate is None:
        with engine.begin() as conn:
            yield conn
        return
    with gate.held(), engine.begin() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


class Checkpointer:
    """A thread that checkpoints the log of a SQLite database (PASSIVE) every few tenths of a
    second, so that commits never do."""

    def __init__(self, engine: Engine, every_s: float = CHECKPOINT_EVERY_S) -> None:
        self.engine = engine
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: (busy, log frames, frames checkpointed) of the last pass
        self.last: tuple[int, int, int] | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="suanli-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def checkpoint(self) -> tuple[int, int, int]:
        """Copy the log into the database: the bulk beside the writers, then, once the log
        is over `RESTART_FRAMES`, the frames they appended meanwhile with the gate held.

        The log is only started over (by the next writer) once a checkpoint has copied all
        of it, which under a steady stream of commits a checkpoint beside them never does:
        at 1,000 submissions/s the log grew by about 10 MB/s to 100 MB (measured). The
        second pass copies what was committed during the first, a few milliseconds of work.
        """
        busy, frames, copied = self._passive()
        gate = _GATES.get(self.engine)
        if gate is None or frames < RESTART_FRAMES:
            return busy, frames, copied
        # even a pass that copied everything may have run beside a writer's transaction,
        # whose commit then leaves the log unfinished again: only with the gate held is
        # there none
        with gate.held():
            return self._passive()

    def _passive(self) -> tuple[int, int, int]:
        with self.engine.connect() as conn:
            row = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
            conn.rollback()
        self.last = (int(row[0]), int(row[1]), int(row[2]))
        return self.last

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.checkpoint()
            except Exception:  # the next round tries again; commits never depend on it
                log.exception("WAL checkpoint failed")
