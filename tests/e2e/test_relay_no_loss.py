"""No loss end to end: a driver streams at 60 Hz while the relay is SIGKILLed and restarted, the HTTP
sink is down for 60 s and the MQTT broker (a real mosquitto) is restarted. Every frame the driver
produced must arrive at both sinks, in order, with duplicates removable by id.

The relay runs as `pitbox-relay serve` in its own process (so it can be killed for real); the HTTP
endpoint and the MQTT subscriber run in the test. Takes about two minutes.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiomqtt
import numpy as np
import pytest
from aiohttp import web

from adapters.model import FrameBlock, empty_frames
from relay.auth import decode_pairing
from relay.client import RelayClient
from relay.protocol import decode_batch, decode_header
from tests.support.mosquitto import Mosquitto

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CAR = 3
HTTP_DOWN_S = 60.0
STREAM_S = 85.0
BATCH_FRAMES = 6  # 10 Hz batches of 60 Hz frames
TEAM, SESSION = "team", "session"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _frames(start: int, count: int) -> FrameBlock:
    block = empty_frames(count)
    index = np.arange(start, start + count)
    block["in_world"] = True
    block["session_time_s"] = index / 60.0  # the frame's identity: exact at the codec's 1 ms precision
    block["speed_mps"] = 50.0 + 10.0 * np.sin(index / 90.0)
    block["lap_dist_m"] = (index * 0.8) % 4650.0
    block["gear"] = 4
    return FrameBlock(block)


class HttpEndpoint:
    """The cloud endpoint: stores what it is sent, checks the token, can go down and come back."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.records: list[dict[str, object]] = []
        self.requests = 0
        self._runner: web.AppRunner | None = None

    async def _ingest(self, request: web.Request) -> web.Response:
        self.requests += 1
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.Response(status=401)
        if request.headers.get("Content-Encoding") != "gzip":
            return web.Response(status=415)
        raw = await request.read()  # aiohttp inflates a gzip request body itself
        body = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
        self.records += body["records"]
        return web.Response(status=204)

    async def up(self) -> None:
        app = web.Application()
        app.router.add_post("/ingest", self._ingest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def down(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class MqttCollector:
    """Subscribes at QoS 1 with a persistent session, reconnecting across broker restarts."""

    def __init__(self, broker: Mosquitto) -> None:
        self.broker = broker
        self.payloads: list[bytes] = []

    async def run(self, stop: asyncio.Event) -> None:
        topic = f"pitbox/{TEAM}/{CAR}/{SESSION}/telemetry"
        while not stop.is_set():
            try:
                async with aiomqtt.Client(
                    self.broker.host, self.broker.port, identifier="no-loss-test", clean_session=False
                ) as client:
                    await client.subscribe(topic, qos=1)
                    async for message in client.messages:
                        self.payloads.append(bytes(message.payload))  # type: ignore[arg-type]
            except aiomqtt.MqttError:
                await asyncio.sleep(0.5)


def _start_relay(data_dir: Path, port: int, http_port: int, broker: Mosquitto, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PITBOX_HTTP_TOKEN": "cloud-secret"}
    command = [
        sys.executable,
        "-m",
        "relay.cli",
        "--data-dir",
        str(data_dir),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--http-url",
        f"http://127.0.0.1:{http_port}/ingest",
        "--mqtt",
        f"{broker.host}:{broker.port}",
        "--mqtt-team",
        TEAM,
        "--mqtt-session",
        SESSION,
    ]
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def _invite(data_dir: Path, port: int) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "relay.cli", "--data-dir", str(data_dir), "invite", "--role", "driver"]
        + ["--name", "Alex", "--car", str(CAR), "--host", "127.0.0.1", "--port", str(port), "--no-qr"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return next(line for line in done.stdout.splitlines() if line.startswith("pitbox://"))


def _frame_times(batches: list[bytes]) -> tuple[list[float], int]:
    """Frame times of the distinct batches in first-arrival order, and how many duplicates there were."""
    seen: set[int] = set()
    times: list[float] = []
    duplicates = 0
    for data in batches:
        seq = decode_header(data).seq
        if seq in seen:
            duplicates += 1
            continue
        seen.add(seq)
        times += decode_batch(data).block.session_time_s.tolist()
    return times, duplicates


def test_every_frame_reaches_both_sinks_in_order_through_a_relay_kill_and_sink_outages(tmp_path: Path) -> None:
    data_dir = tmp_path / "relay"
    port, http_port = _free_port(), _free_port()
    relay_log = tmp_path / "relay.log"
    pairing = decode_pairing(_invite(data_dir, port))
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    relay = _start_relay(data_dir, port, http_port, broker, relay_log)
    produced = 0
    events: list[str] = []

    async def scenario() -> tuple[HttpEndpoint, MqttCollector, RelayClient]:
        nonlocal relay, produced
        endpoint = HttpEndpoint(http_port, "cloud-secret")
        await endpoint.up()
        collector = MqttCollector(broker)
        stop = asyncio.Event()
        collecting = asyncio.create_task(collector.run(stop))
        driver = RelayClient(
            f"wss://127.0.0.1:{port}",
            pairing.token,
            car_id=CAR,
            fingerprint_sha256=pairing.fingerprint_sha256,
            spill_dir=tmp_path / "spill",
            memory_batches=100,
        )
        driver.start()
        start = time.monotonic()
        schedule = [
            (5.0, "http down"),
            (15.0, "kill relay"),
            (18.0, "start relay"),
            (30.0, "restart broker"),
            (5.0 + HTTP_DOWN_S, "http up"),
        ]
        next_batch_at = start
        while time.monotonic() - start < STREAM_S:
            now = time.monotonic() - start
            while schedule and now >= schedule[0][0]:
                _, what = schedule.pop(0)
                events.append(f"{now:.1f}s {what}")
                if what == "http down":
                    await endpoint.down()
                elif what == "http up":
                    await endpoint.up()
                elif what == "kill relay":
                    relay.send_signal(signal.SIGKILL)
                    relay.wait(10)
                elif what == "start relay":
                    relay = _start_relay(data_dir, port, http_port, broker, relay_log)
                elif what == "restart broker":
                    await asyncio.to_thread(broker.restart, 2.0)
            driver.send_frames(_frames(produced, BATCH_FRAMES))
            produced += BATCH_FRAMES
            next_batch_at += BATCH_FRAMES / 60.0
            await asyncio.sleep(max(0.0, next_batch_at - time.monotonic()))
        await asyncio.wait_for(driver.wait_acked(), 60)
        # Drain: both sinks have every batch (the HTTP sink retries with backoff after its outage).
        batches = produced // BATCH_FRAMES
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            http_seqs = {r["key"] for r in endpoint.records if r["kind"] == "telemetry"}
            mqtt_seqs = {decode_header(p).seq for p in collector.payloads}
            if len(http_seqs) >= batches and len(mqtt_seqs) >= batches:
                break
            await asyncio.sleep(0.5)
        stop.set()
        collecting.cancel()
        await asyncio.gather(collecting, return_exceptions=True)
        await driver.close()
        await endpoint.down()
        return endpoint, collector, driver

    try:
        endpoint, collector, driver = asyncio.run(scenario())
    finally:
        relay.send_signal(signal.SIGTERM)
        try:
            relay.wait(20)
        except subprocess.TimeoutExpired:
            relay.kill()
        broker.stop()

    expected = (np.arange(produced) / 60.0).tolist()
    http_batches = [base64.b64decode(str(r["payload_b64"])) for r in endpoint.records if r["kind"] == "telemetry"]
    http_times, http_duplicates = _frame_times(http_batches)
    mqtt_times, mqtt_duplicates = _frame_times(collector.payloads)
    report = (
        f"events {events}; produced {produced} frames in {produced // BATCH_FRAMES} batches; "
        f"http {len(http_times)} frames (+{http_duplicates} duplicate batches, {endpoint.requests} requests); "
        f"mqtt {len(mqtt_times)} frames (+{mqtt_duplicates} duplicate batches); "
        f"driver resent {driver.stats.batches_resent}, connects {driver.stats.connects}"
    )
    assert driver.stats.connects >= 2, report  # the kill really cut the driver off
    for name, times in (("http", http_times), ("mqtt", mqtt_times)):
        assert len(times) == produced, f"{name}: {len(times)} of {produced} frames; {report}"
        wrong = np.flatnonzero(np.abs(np.asarray(times) - np.asarray(expected)) > 1e-3)
        assert len(wrong) == 0, f"{name}: frame {wrong[0]} is {times[wrong[0]]}, not {expected[wrong[0]]}; {report}"
