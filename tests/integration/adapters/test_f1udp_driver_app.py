"""The driver app's side of F1: "auto" picks F1 when its packets arrive, the listen setting is checked, and
the pipeline listens on the configured UDP port and drives on what arrives there."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from adapters import base
from adapters.base import AdapterState
from adapters.f1udp import frame_kinds
from driver_app.pipeline import LiveValues, Pipeline, PipelineConfig, PipelineEvent, SessionUpdated, StatusChanged
from driver_app.qt.app import choose_adapter
from driver_app.settings import SettingsError, validate
from driver_app.speech import ConsoleSpeechSink
from driver_app.udp_listener import UdpListener, f1_adapter_options
from tests.support.f1_session import f1_session, packet_kind_and_frame
from tests.support.reference import reference_path

pytestmark = pytest.mark.integration
TIMEOUT_S = 30.0


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_auto_picks_f1_only_while_f1_telemetry_arrives() -> None:
    packet = (reference_path("udp", "f1_2021") / "car_telemetry.bin").read_bytes()
    port = free_udp_port()
    listen = f"127.0.0.1:{port}"
    assert choose_adapter("auto", "linux", f1_listen=listen) == "demo"
    assert choose_adapter("f1", "linux", f1_listen=listen) == "f1"  # configured: no listening needed

    async def choose_while_sending() -> str:
        async def keep_sending() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                while True:
                    sender.sendto(packet, ("127.0.0.1", port))
                    await asyncio.sleep(0.02)

        sending = asyncio.create_task(keep_sending())
        try:
            return await asyncio.to_thread(choose_adapter, "auto", "win32", f1_listen=listen)
        finally:
            sending.cancel()

    assert asyncio.run(choose_while_sending()) == "f1"  # even on Windows, where "auto" would wait for iRacing


def test_the_f1_listen_setting_is_checked_when_it_is_set() -> None:
    assert validate({"adapter": "f1", "f1_listen": "127.0.0.1:20800"}).f1_listen == "127.0.0.1:20800"
    with pytest.raises(SettingsError) as raised:
        validate({"f1_listen": "my-pc:20777"})
    assert "not an IP address" in raised.value.problems["f1_listen"]


def test_the_pipeline_listens_on_the_configured_port_and_drives_on_what_arrives(tmp_path: Path) -> None:
    session = f1_session(2023, laps=1, step=3)
    datagrams = [payload for payload, _ in session.datagrams[:3000]]
    frames = {frame for packet_id, frame in map(packet_kind_and_frame, datagrams) if packet_id in frame_kinds(2023)}
    events: list[PipelineEvent] = []

    async def scenario() -> Pipeline:
        sim = base.create("f1", **f1_adapter_options("127.0.0.1:0"))  # as the app builds it from its setting
        listener = sim.source  # type: ignore[attr-defined]
        assert isinstance(listener, UdpListener)
        config = PipelineConfig(adapter="f1", poll_s=0.005)
        pipeline = Pipeline(config, events.append, speech=ConsoleSpeechSink(lambda line: None), adapter=sim)
        stop = asyncio.Event()
        running = asyncio.create_task(pipeline.run(stop))
        deadline = time.monotonic() + TIMEOUT_S
        while listener.address[1] == 0:  # the pipeline's first step binds the port
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for start in range(0, len(datagrams), 50):
                for payload in datagrams[start : start + 50]:
                    sender.sendto(payload, listener.address)
                await asyncio.sleep(0.005)
        while pipeline.stats.frames_produced < len(frames) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        stop.set()
        await running
        return pipeline

    pipeline = asyncio.run(scenario())
    assert pipeline.stats.frames_produced == len(frames), pipeline.adapter.stats.to_dict()  # type: ignore[attr-defined]
    assert pipeline.adapter.state is AdapterState.WAITING_FOR_SIM  # closed with the pipeline, port released
    sessions = [e.info for e in events if isinstance(e, SessionUpdated)]
    assert sessions and sessions[-1].sim == "f1" and len(sessions[-1].drivers) == 20
    assert "driving" in [e.summary for e in events if isinstance(e, StatusChanged)]
    assert any(isinstance(e, LiveValues) and e.speed_mps > 0 for e in events)
