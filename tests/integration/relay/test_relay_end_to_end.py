"""The relay end to end on loopback: real TLS, real tokens, real spool, driver/engineer/viewer clients."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from adapters.model import FrameBlock, empty_frames
from relay.auth import TokenStore
from relay.client import RelayClient
from relay.protocol import Envelope, MessageType, Role
from relay.server import RelayServer, ServerOptions
from relay.spool import Spool
from relay.tls import ensure_certificate, server_ssl_context

pytestmark = pytest.mark.integration
TIMEOUT_S = 20.0


def frames(start: int, count: int) -> FrameBlock:
    block = empty_frames(count)
    index = np.arange(start, start + count)
    block["in_world"] = True
    block["session_time_s"] = index / 60.0
    block["speed_mps"] = 40.0 + np.sin(index / 30.0)
    block["lap_dist_m"] = (index * 0.7) % 4650.0
    block["lap"] = 1 + index // 6000
    block["gear"] = 4
    return FrameBlock(block)


@dataclass
class Relay:
    server: RelayServer
    tokens: dict[str, str]
    fingerprint: str
    spool: Spool

    def client(self, who: str, **options: object) -> RelayClient:
        return RelayClient(self.server.url, self.tokens[who], fingerprint_sha256=self.fingerprint, **options)  # type: ignore[arg-type]


@asynccontextmanager
async def running_relay(tmp_path: Path) -> AsyncIterator[Relay]:
    store = TokenStore(tmp_path / "tokens.json")
    tokens = {
        "driver": store.invite("Alex", Role.DRIVER, 7, now_s=0)[1],
        "driver2": store.invite("Sam", Role.DRIVER, 8, now_s=0)[1],
        "engineer": store.invite("Erin", Role.ENGINEER, now_s=0)[1],
        "viewer": store.invite("Vic", Role.VIEWER, now_s=0)[1],
    }
    files = ensure_certificate(tmp_path / "tls", ["127.0.0.1", "localhost"])
    spool = Spool(tmp_path / "spool.sqlite3")
    # These tests follow every frame to the viewers, so a viewer slowed by a busy machine must not
    # have older batches conflated away (the relay's slow-client policy, tested on its own).
    options = ServerOptions(
        host="127.0.0.1",
        port=0,
        ssl_context=server_ssl_context(files),
        state_path=tmp_path / "state.json",
        max_telemetry_per_car=1000,
    )
    server = RelayServer(store, spool, options=options)
    await server.start()
    try:
        yield Relay(server, tokens, files.fingerprint_sha256, spool)
    finally:
        await server.stop()
        spool.close()


async def next_of(client: RelayClient, kind: MessageType, **match: object) -> Envelope:
    while True:
        envelope = await asyncio.wait_for(client.incoming.get(), TIMEOUT_S)
        if envelope.type is kind and all(envelope.data.get(k) == v for k, v in match.items()):
            return envelope


def test_driver_telemetry_reaches_viewers_and_the_spool(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_relay(tmp_path) as relay:
            viewer = relay.client("viewer", subscribe={"cars": [7], "codec": "deflate"})
            slow = relay.client("viewer", subscribe={"cars": [7], "rate_hz": 5.0})
            driver = relay.client("driver", car_id=7)
            for client in (viewer, slow, driver):
                client.start()
            # Telemetry reaches a viewer once the relay has taken its subscription in.
            await asyncio.wait_for(asyncio.gather(viewer.subscribed.wait(), slow.subscribed.wait()), TIMEOUT_S)
            for k in range(50):  # 300 frames at 10 Hz batches
                driver.send_frames(frames(k * 6, 6))
                await asyncio.sleep(0.005)
            await asyncio.wait_for(driver.wait_acked(), TIMEOUT_S)
            received: list[float] = []
            deadline = time.monotonic() + TIMEOUT_S
            while len(received) < 300 and time.monotonic() < deadline:
                batch = await asyncio.wait_for(viewer.telemetry.get(), TIMEOUT_S)
                assert batch.car_id == 7
                received += batch.block.session_time_s.tolist()
            assert np.allclose(received, np.arange(300) / 60.0, atol=1e-3)
            assert slow.telemetry.qsize() <= 10  # 5 Hz of the newest frame, not every batch
            assert relay.spool.last_batch_seq(7) == 49
            assert len(relay.spool) == 50
            for client in (viewer, slow, driver):
                await client.close()

    asyncio.run(scenario())


def test_handoff_from_request_to_completion_is_seen_by_every_party(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_relay(tmp_path) as relay:
            engineer, driver, viewer = (
                relay.client("engineer"),
                relay.client("driver", car_id=7),
                relay.client("viewer"),
            )
            for client in (engineer, driver, viewer):
                client.start()
            await asyncio.wait_for(
                asyncio.gather(engineer.connected.wait(), driver.connected.wait(), viewer.connected.wait()), TIMEOUT_S
            )
            session = {"driver": "Alex", "track": "pitbox_park"}
            driver.send_control(Envelope(MessageType.SESSION_INFO, "s1", {"car_id": 7, "session": session}))
            await next_of(viewer, MessageType.SESSION_INFO, car_id=7)
            engineer.send_control(
                Envelope(
                    MessageType.HANDOFF_REQUEST,
                    "h1",
                    {"action": "request", "car_id": 7, "to_driver": "Sam", "reason": "stint over"},
                )
            )
            request = await next_of(driver, MessageType.HANDOFF_REQUEST, status="requested")
            assert request.data["from_driver"] == "Alex"
            handoff_id = request.data["handoff_id"]
            driver.send_control(
                Envelope(MessageType.HANDOFF_REQUEST, "a1", {"action": "accept", "handoff_id": handoff_id})
            )
            for client in (engineer, viewer):
                await next_of(client, MessageType.HANDOFF_REQUEST, status="accepted")
            # The sim reports the new driver in the car: the handoff completes by itself.
            driver.send_control(
                Envelope(MessageType.SESSION_INFO, "s2", {"car_id": 7, "session": {**session, "driver": "Sam"}})
            )
            done = await next_of(engineer, MessageType.HANDOFF_REQUEST, status="completed")
            assert [event["status"] for event in done.data["history"]] == ["requested", "accepted", "completed"]
            for client in (engineer, driver, viewer):
                await client.close()
        state = (tmp_path / "state.json").read_text()
        assert '"completed"' in state

    asyncio.run(scenario())


def test_a_client_with_the_wrong_fingerprint_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_relay(tmp_path) as relay:
            impostor = RelayClient(relay.server.url, relay.tokens["viewer"], fingerprint_sha256="0" * 64)
            impostor.start()
            await asyncio.sleep(1.0)
            assert not impostor.connected.is_set()
            assert impostor.stats.connects == 0
            await impostor.close()
            genuine = relay.client("viewer")
            genuine.start()
            await asyncio.wait_for(genuine.connected.wait(), TIMEOUT_S)
            await genuine.close()

    asyncio.run(scenario())


def test_the_driver_resends_what_was_not_acknowledged_after_the_relay_restarts(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_relay(tmp_path) as relay:
            port = relay.server.port
            driver = relay.client("driver", car_id=7)
            driver.start()
            await asyncio.wait_for(driver.connected.wait(), TIMEOUT_S)
            for k in range(20):
                driver.send_frames(frames(k * 6, 6))
            await asyncio.wait_for(driver.wait_acked(), TIMEOUT_S)
            await relay.server.stop()
            for k in range(20, 40):  # produced while the relay is down
                driver.send_frames(frames(k * 6, 6))
            assert driver.unacked == 20
            store = TokenStore(tmp_path / "tokens.json")
            files = ensure_certificate(tmp_path / "tls", ["127.0.0.1"])
            options = ServerOptions(host="127.0.0.1", port=port, ssl_context=server_ssl_context(files))
            again = RelayServer(store, relay.spool, options=options)
            await again.start()
            try:
                await asyncio.wait_for(driver.wait_acked(), TIMEOUT_S)
                assert relay.spool.last_batch_seq(7) == 39
                assert len(relay.spool) == 40
                assert driver.stats.connects >= 2
            finally:
                await driver.close()
                await again.stop()

    asyncio.run(scenario())


def test_the_relay_records_each_cars_session_to_a_file_the_replay_adapter_reads(tmp_path: Path) -> None:
    from adapters.ibt import IbtFile

    async def scenario() -> None:
        store = TokenStore(tmp_path / "tokens.json")
        _, token = store.invite("Alex", Role.DRIVER, 7, now_s=0)
        spool = Spool(tmp_path / "spool.sqlite3")
        options = ServerOptions(host="127.0.0.1", port=0, record_dir=tmp_path / "recordings")
        server = RelayServer(store, spool, options=options)
        await server.start()
        driver = RelayClient(server.url, token, car_id=7)
        driver.start()
        await asyncio.wait_for(driver.connected.wait(), TIMEOUT_S)
        session = {
            "driver": "Alex",
            "track": {"name": "pitbox_park", "display_name": "PitBox Park", "length_m": 4650.0},
        }
        driver.send_control(Envelope(MessageType.SESSION_INFO, "s", {"car_id": 7, "session": session}))
        await asyncio.sleep(0.2)
        for k in range(30):
            driver.send_frames(frames(k * 6, 6))
        await asyncio.wait_for(driver.wait_acked(), TIMEOUT_S)
        await driver.close()
        await server.stop()
        spool.close()

    asyncio.run(scenario())
    (recording,) = (tmp_path / "recordings").glob("car7-*.ibt")
    with IbtFile(recording) as ibt:
        block = ibt.read_block()
        assert ibt.session_info.track.name == "pitbox_park"
    assert len(block) == 180
    assert np.allclose(block.session_time_s, np.arange(180) / 60.0, atol=1e-3)
    assert np.allclose(block.speed_mps, frames(0, 180).speed_mps, atol=0.01)


def test_a_driver_faster_than_the_relay_allows_is_slowed_down_and_loses_nothing(tmp_path: Path) -> None:
    from relay.core import RelayLimits

    async def scenario() -> tuple[int, int | None, int, int]:
        store = TokenStore(tmp_path / "tokens.json")
        _, token = store.invite("Alex", Role.DRIVER, 7, now_s=0)
        spool = Spool(tmp_path / "spool.sqlite3")
        limits = RelayLimits(batch_rate_per_s=80.0, batch_burst=20.0)  # well below the client's pace
        server = RelayServer(store, spool, options=ServerOptions(host="127.0.0.1", port=0, limits=limits))
        await server.start()
        driver = RelayClient(server.url, token, car_id=7)
        for k in range(300):  # a backlog, as after an outage: sent as fast as the client paces
            driver.send_frames(frames(k * 6, 6))
        driver.start()
        try:
            await asyncio.wait_for(driver.wait_acked(), 60)
        finally:
            await driver.close()
            await server.stop()
        stored, last = len(spool), spool.last_batch_seq(7)
        spool.close()
        return stored, last, driver.stats.frames_acked, driver.stats.rewinds

    stored, last, acked, rewinds = asyncio.run(scenario())
    assert rewinds > 0  # the relay did refuse batches for going too fast
    assert (stored, last, acked) == (300, 299, 1800)
