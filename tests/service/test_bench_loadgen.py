"""The benchmark's load generator (benchmarks/loadgen.py) counts what it claims to count."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


def _loadgen() -> ModuleType:
    path = Path(__file__).parents[2] / "benchmarks" / "loadgen.py"
    spec = importlib.util.spec_from_file_location("loadgen", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["loadgen"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


loadgen = _loadgen()


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        pytest.param(b"HTTP/1.1 201 Created\r\ncontent-length: 12", (201, 12), id="lower-case"),
        pytest.param(b"HTTP/1.1 409 Conflict\r\nX: y\r\nContent-Length: 0", (409, 0), id="mixed"),
        pytest.param(b"HTTP/1.1 204 No Content\r\ndate: now", (204, 0), id="no-body-status"),
    ],
)
def test_a_response_head_gives_its_status_and_length(head: bytes, expected: tuple[int, int]):
    assert loadgen.parse_head(head) == expected


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked", id="chunked"),
        pytest.param(b"HTTP/1.1 200 OK\r\ndate: now", id="no-length"),
        pytest.param(b"garbage", id="no-status"),
    ],
)
def test_an_answer_the_client_cannot_frame_is_a_protocol_error(head: bytes):
    with pytest.raises(loadgen.ProtocolError):
        loadgen.parse_head(head)


def test_a_request_carries_its_headers_and_body_length():
    req = loadgen.build_request("http://h:1/v1/jobs?x=1", "POST", b"{}", {"A": "b"})
    assert req == b"POST /v1/jobs?x=1 HTTP/1.1\r\nHost: h:1\r\nA: b\r\nContent-Length: 2\r\n\r\n{}"


async def _serve_alternating(statuses: list[int]) -> tuple[asyncio.Server, int]:
    """A keep-alive server that answers 201 and 503 in turn, in two writes per answer."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        n = 0
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):  # the client is done
                writer.close()
                return
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            status = 201 if n % 2 == 0 else 503
            statuses.append(status)
            n += 1
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 5\r\n\r\nab".encode())
            await writer.drain()
            writer.write(b"cde")
            await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(
    "rate", [pytest.param(None, id="closed-loop"), pytest.param(400, id="rate")]
)
def test_the_tally_counts_every_answer_and_times_only_the_expected_status(rate: float | None):
    statuses: list[int] = []

    async def main() -> object:
        server, port = await _serve_alternating(statuses)
        async with server:
            return await loadgen.run(
                f"http://127.0.0.1:{port}/", b"{}", {}, seconds=0.3, concurrency=4, rate=rate
            )

    tally = asyncio.run(main())
    assert sum(tally.statuses.values()) == len(statuses) > 8
    assert tally.statuses[201] == len(tally.latencies) == statuses.count(201)
    assert tally.statuses[503] == statuses.count(503) > 0
    summary = tally.summary()
    assert summary["other_statuses"] == {"503": statuses.count(503)}
    assert summary["p50_ms"] <= summary["p99_ms"] <= summary["max_ms"]
    if rate is not None:  # at most the schedule's requests, give or take one per connection
        assert len(statuses) <= rate * 0.3 + 4
