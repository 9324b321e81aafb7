"""The cloud HTTP sink against a real aiohttp server that fails, goes away and comes back.

Everything the spool holds arrives, in spool order once duplicates (same key) are dropped; the
circuit breaker opens during the outage and closes after it; the token never reaches the logs.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web

from adapters.model import FrameBlock, empty_frames
from relay.errors import CircuitOpenError, SinkError
from relay.forwarder import Forwarder
from relay.protocol import TelemetryBatch, decode_header, encode_batch
from relay.sinks.http import BreakerState, CircuitBreaker, HttpSink
from relay.spool import RecordKind, Spool, SpoolEntry, SpoolRecord, telemetry_key
from tests.support.mosquitto import free_port

pytestmark = pytest.mark.integration

TOKEN = "s3cret-token-do-not-log"
RECORDS = 3000


class RecordingServer:
    """An ingest endpoint: checks each request, records its records, or fails as told (`mode`)."""

    def __init__(self) -> None:
        self.mode = "ok"  # "ok" | "record_then_500" (once, then "503") | "503"
        self.received: list[tuple[str, bytes]] = []
        self.statuses: list[int] = []
        self.problems: list[str] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/ingest", self._handle)
        # auto_decompress off: the test sees the bytes on the wire and gunzips them itself.
        runner = web.AppRunner(app, auto_decompress=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        await site.start()
        self.port = int(runner.addresses[0][1])
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        status = await self._answer(request)
        self.statuses.append(status)
        return web.Response(status=status)

    async def _answer(self, request: web.Request) -> int:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.problems.append("missing or wrong bearer token")
            return 401
        raw = await request.read()
        if request.headers.get("Content-Encoding") != "gzip" or raw[:2] != b"\x1f\x8b":
            self.problems.append("body is not gzip")
            return 400
        if request.headers.get("Content-Type") != "application/json":
            self.problems.append("content type is not JSON")
            return 415
        records = json.loads(gzip.decompress(raw))["records"]
        keys = [r["key"] for r in records]
        if request.headers.get("Idempotency-Key") != f"{keys[0]}..{keys[-1]}":
            self.problems.append(f"idempotency key {request.headers.get('Idempotency-Key')} for {keys[0]}..{keys[-1]}")
        if self.mode == "503":
            return 503
        for record in records:
            payload = base64.b64decode(record["payload_b64"])
            header = decode_header(payload)
            if record["kind"] != "telemetry" or record["key"] != telemetry_key(header.car_id, header.seq):
                self.problems.append(f"record {record['key']} does not match its batch header")
            if record["car_id"] != header.car_id or not isinstance(record["created_s"], float):
                self.problems.append(f"record {record['key']} has bad metadata")
            self.received.append((record["key"], payload))
        if self.mode == "record_then_500":  # stored, but the answer says otherwise: a duplicate follows
            self.mode = "503"
            return 500
        return 200


def _entries(start: int, count: int) -> list[SpoolEntry]:
    entries = []
    for n in range(start, start + count):
        car_id = n % 3
        frames = empty_frames(2)
        frames["speed_mps"] = [40.0 + n % 50, 40.5 + n % 50]
        frames["lap_dist_m"] = [float(n), n + 0.5]
        batch = encode_batch(TelemetryBatch(car_id, n, FrameBlock(frames)))
        entries.append(SpoolEntry(telemetry_key(car_id, n), RecordKind.TELEMETRY, car_id, batch))
    return entries


async def _until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.mark.slow
def test_every_record_arrives_in_order_through_failures_and_an_outage(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> tuple[RecordingServer, HttpSink, Forwarder, list[str]]:
        server = RecordingServer()
        await server.start()
        spool = Spool(tmp_path / "spool.db", key=bytes(range(32)))
        sink = HttpSink(
            f"http://127.0.0.1:{server.port}/ingest",
            TOKEN,
            batch_records=200,
            timeout_s=2.0,
            backoff_initial_s=0.02,
            backoff_max_s=0.2,
            breaker_failures=3,
            breaker_reset_s=0.3,
        )
        forwarder = Forwarder(spool, "cloud", sink)
        appended: list[str] = []

        def append(start: int, count: int) -> None:
            seqs = spool.append_many(entries := _entries(start, count))
            assert seqs == sorted(seqs)
            appended.extend(e.key for e in entries)
            forwarder.notify()

        stop = asyncio.Event()
        task = asyncio.create_task(forwarder.run(stop))
        try:
            # 1. A healthy endpoint: the first third goes straight through.
            append(0, 1000)
            await _until(lambda: forwarder.pending == 0, 5, "the first 1000 records")
            # 2. The endpoint stores a batch but answers 500, then answers 503: the breaker opens.
            server.mode = "record_then_500"
            append(1000, 1000)
            await _until(lambda: sink.breaker.opened_count >= 1, 5, "the breaker to open")
            assert sink.state in (BreakerState.OPEN, BreakerState.HALF_OPEN)
            # 3. The endpoint goes away (connections refused) while the relay keeps appending.
            await server.stop()
            for start in range(2000, 3000, 250):
                append(start, 250)
                await asyncio.sleep(0.25)
            assert forwarder.last_error is not None and forwarder.pending > 1000
            # 4. It comes back on the same port and works: the spool drains.
            server.mode = "ok"
            await server.start()
            await _until(lambda: forwarder.pending == 0, 10, "the spool to drain")
            assert forwarder.last_error is None
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)
            await server.stop()
            left = len(spool)
            spool.close()
        assert left <= RECORDS - 2000  # the forwarder pruned what it had sent
        return server, sink, forwarder, appended

    started = time.monotonic()
    server, sink, forwarder, order = asyncio.run(scenario())
    elapsed = time.monotonic() - started

    assert server.problems == []
    assert len(order) == RECORDS
    keys = [key for key, _ in server.received]
    first_seen = list(dict.fromkeys(keys))
    assert first_seen == order  # every record, in spool order, once duplicates are removed by key
    assert len(keys) > RECORDS  # the batch stored-then-500 came again
    payloads: dict[str, bytes] = {}
    for key, payload in server.received:
        assert payloads.setdefault(key, payload) == payload  # a duplicate is the same record
    assert {500, 503, 200} <= set(server.statuses)
    assert sink.breaker.opened_count >= 1 and sink.state is BreakerState.CLOSED
    assert forwarder.sent_records == RECORDS and forwarder.failures >= 3
    assert TOKEN not in caplog.text and TOKEN not in repr(sink)
    assert elapsed < 15


def test_breaker_opens_half_opens_and_closes_on_a_fake_clock() -> None:
    now = [100.0]
    breaker = CircuitBreaker(3, 10.0, clock=lambda: now[0])
    assert breaker.state is BreakerState.CLOSED
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow() and breaker.seconds_until_trial() == 10.0
    now[0] += 9.9
    assert not breaker.allow()
    now[0] += 0.1
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.record_failure()  # a failed trial opens it again at once
    assert breaker.state is BreakerState.OPEN and breaker.opened_count == 2
    now[0] += 10.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()


def test_open_breaker_refuses_without_a_request_and_sets_the_retry_delay(tmp_path: Path) -> None:
    now = [0.0]
    with Spool(tmp_path / "spool.db") as spool:
        spool.append_many(_entries(0, 3))
        batch = spool.read("x", 3)

    async def scenario() -> None:
        # Nothing listens on a port just freed: every POST is refused.
        sink = HttpSink(
            f"http://127.0.0.1:{free_port()}/ingest",
            TOKEN,
            backoff_initial_s=0.5,
            backoff_max_s=4.0,
            breaker_failures=2,
            breaker_reset_s=30.0,
            clock=lambda: now[0],
        )
        async with sink:
            for failures in (1, 2):
                with pytest.raises(SinkError):
                    await sink.send(batch)
                assert sink.requests == failures
            assert sink.state is BreakerState.OPEN
            assert sink.retry_delay_s() == 30.0  # the breaker's wait dominates the backoff's 1 s
            with pytest.raises(CircuitOpenError):
                await sink.send(batch)
            assert sink.requests == 2  # no request while open
            now[0] += 30.0
            assert sink.state is BreakerState.HALF_OPEN and sink.retry_delay_s() == 1.0
            with pytest.raises(SinkError):
                await sink.send(batch)  # the half-open trial goes out, and fails
            assert sink.requests == 3 and sink.state is BreakerState.OPEN

    asyncio.run(scenario())


def test_request_body_has_the_documented_shape() -> None:
    entries = _entries(7, 2)
    records = [SpoolRecord(n, e.key, e.kind, e.car_id, 7 + n, 12.5, e.payload) for n, e in enumerate(entries)]
    body = json.loads(HttpSink._body(records))
    assert list(body) == ["records"]
    first = body["records"][0]
    assert list(first) == ["key", "kind", "car_id", "created_s", "payload_b64"]
    assert first["key"] == "t:1:7" and first["kind"] == "telemetry" and first["car_id"] == 1
    assert base64.b64decode(first["payload_b64"]) == entries[0].payload
    assert first["created_s"] == 12.5
