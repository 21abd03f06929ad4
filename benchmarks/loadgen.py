"""A lean HTTP/1.1 load generator: keep-alive connections on raw asyncio sockets.

The async httpx generator this replaces cost about 1.2 ms of client CPU per request, more
than the server it measured; this one writes pre-built request bytes and parses only the
status line and ``Content-Length`` of each answer (tens of microseconds per request).

Closed loop: each of ``concurrency`` connections sends one request, waits for the whole
answer, records its latency and status, and sends the next, until ``seconds`` have passed.
With ``rate`` the connections share a fixed schedule of ``rate`` requests per second
instead (connection ``i`` sends its ``k``-th request at ``(k * concurrency + i) / rate``,
or at once when it is late), and a latency runs from the scheduled time, so a stalled server
is not hidden by the client waiting for it (no coordinated omission). Latency percentiles
are those of the answers with the expected status (201 for a submission); every other
status is counted, never hidden.

    python benchmarks/loadgen.py http://127.0.0.1:8600/v1/jobs --body job.json \\
        --header 'Authorization: Bearer sl_...' --seconds 10 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit


class ProtocolError(Exception):
    """The server answered something this client does not parse (chunked, no length)."""


@dataclass(slots=True)
class Tally:
    """What one run measured: latencies (s) of the expected status, counts of every status."""

    expected: int
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def record(self, status: int, latency: float) -> None:
        self.statuses[status] += 1
        if status == self.expected:
            self.latencies.append(latency)

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        ok = len(lat)

        def pct(p: float) -> float | None:
            if not lat:
                return None
            return round(lat[min(ok - 1, int(p / 100 * ok))] * 1000, 2)  # nearest rank

        return {
            "ok": ok,
            "other_statuses": {
                str(s): n for s, n in sorted(self.statuses.items()) if s != self.expected
            },
            "connection_failures": len(self.failures),
            "seconds": round(self.seconds, 3),
            "per_second": round(ok / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": pct(50),
            "p90_ms": pct(90),
            "p99_ms": pct(99),
            "p999_ms": pct(99.9),
            "max_ms": round(lat[-1] * 1000, 2) if lat else None,
        }


def build_request(url: str, method: str, body: bytes, headers: dict[str, str]) -> bytes:
    """The bytes of one HTTP/1.1 keep-alive request."""
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def parse_head(head: bytes) -> tuple[int, int]:
    """Status and ``Content-Length`` from a response head (status line and headers)."""
    status_line, _, rest = head.partition(b"\r\n")
    try:
        status = int(status_line.split(b" ", 2)[1])
    except (IndexError, ValueError):
        raise ProtocolError(f"bad status line {status_line[:80]!r}") from None
    for line in rest.split(b"\r\n"):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            return status, int(value)
        if name == b"transfer-encoding":
            raise ProtocolError("chunked answers are not supported; send Content-Length")
    if status in (204, 304) or 100 <= status < 200:
        return status, 0
    raise ProtocolError(f"status {status} without Content-Length")


class _Connection(asyncio.Protocol):
    """One keep-alive connection that sends ``request`` again after each full answer."""

    def __init__(
        self,
        request: bytes,
        tally: Tally,
        end: float,
        done: asyncio.Future[None],
        schedule: tuple[float, float] | None = None,
    ):
        self.request, self.tally, self.end, self.done = request, tally, end, done
        #: (first send time, interval) on a fixed schedule; None: closed loop
        self.schedule = schedule
        self.buf = b""
        self.need = -1  # bytes of the whole answer once its head is parsed
        self.status = 0
        self.sent = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self._send()

    def _send(self) -> None:
        if self.schedule is None:
            self.sent = time.perf_counter()
            self._write()
            return
        at, interval = self.schedule
        self.schedule = (at + interval, interval)
        self.sent = at
        if at >= self.end:
            self._finish()
        elif at <= time.perf_counter():
            self._write()
        else:
            loop = asyncio.get_running_loop()
            loop.call_at(loop.time() + at - time.perf_counter(), self._write)

    def _write(self) -> None:
        assert self.transport is not None
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        try:
            while True:
                if self.need < 0:
                    end = self.buf.find(b"\r\n\r\n")
                    if end < 0:
                        return
                    self.status, length = parse_head(self.buf[:end])
                    self.need = end + 4 + length
                if len(self.buf) < self.need:
                    return
                now = time.perf_counter()
                self.tally.record(self.status, now - self.sent)
                self.buf, self.need = self.buf[self.need :], -1
                if now >= self.end:
                    self._finish()
                    return
                self._send()
        except ProtocolError as exc:
            self.tally.failures.append(str(exc))
            self._finish()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.tally.failures.append(f"connection closed by the server: {exc or 'EOF'}")
            self.done.set_result(None)

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)
        if self.transport is not None:
            self.transport.close()


async def run(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    seconds: float,
    concurrency: int,
    method: str = "POST",
    expected: int = 201,
    rate: float | None = None,
) -> Tally:
    """Keep ``concurrency`` requests in flight for ``seconds`` (at most ``rate`` a second
    when given); answer the tally."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"{url}: only http://host:port/path URLs are supported")
    request = build_request(url, method, body, headers)
    loop = asyncio.get_running_loop()
    tally = Tally(expected)
    started = time.perf_counter()
    end = started + seconds
    dones: list[asyncio.Future[None]] = []
    for i in range(concurrency):
        done: asyncio.Future[None] = loop.create_future()
        dones.append(done)
        schedule = (started + i / rate, concurrency / rate) if rate else None
        await loop.create_connection(
            lambda d=done, s=schedule: _Connection(request, tally, end, d, s),  # type: ignore[misc]
            parts.hostname,
            parts.port or 80,
        )
    await asyncio.gather(*dones)
    tally.seconds = time.perf_counter() - started
    return tally


def run_blocking(*args: Any, **kwargs: Any) -> Tally:
    """`run` on uvloop where it is installed (cheaper per request), else asyncio's loop.

    The collector is paused for the run: in `bench_serve`, whose process has imported the
    service's libraries, one full collection stalled the generator for 137 ms (measured
    2026-12-01), and every request in flight was charged with it as server latency.
    """
    gc.freeze()  # what exists now is never scanned again (no collect first: it is CPU time)
    collecting = gc.isenabled()
    gc.disable()
    try:
        try:
            import uvloop
        except ImportError:
            return asyncio.run(run(*args, **kwargs))
        return uvloop.run(run(*args, **kwargs))
    finally:
        if collecting:
            gc.enable()
        gc.unfreeze()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("url")
    ap.add_argument("--body", type=Path, help="file whose bytes are the request body")
    ap.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    ap.add_argument("--method", default="POST")
    ap.add_argument("--expected", type=int, default=201, help="the status that counts as success")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rate", type=float, help="requests per second on a fixed schedule")
    args = ap.parse_args()
    headers = {"Content-Type": "application/json"}
    for h in args.header:
        name, sep, value = h.partition(":")
        if not sep:
            ap.error(f"--header {h!r}: expected 'Name: value'")
        headers[name.strip()] = value.strip()
    body = args.body.read_bytes() if args.body else b""
    cpu = sum(os.times()[:2])
    tally = run_blocking(
        args.url,
        body,
        headers,
        seconds=args.seconds,
        concurrency=args.concurrency,
        method=args.method,
        expected=args.expected,
        rate=args.rate,
    )
    out = tally.summary()
    n = max(1, sum(tally.statuses.values()))
    out["client_cpu_us_per_request"] = round((sum(os.times()[:2]) - cpu) / n * 1e6, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
