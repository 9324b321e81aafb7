"""The headless pipeline with real parts: the demo sim or pyirsdk on a memory image, a real relay on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.base import AdapterState
from adapters.iracing import IRacingAdapter
from coaching.messages import Priority, Verbosity
from driver_app.embedded_relay import DRIVER_CAR_ID, EmbeddedRelay
from driver_app.pipeline import (
    CallMade,
    HandoffPrompt,
    LapFinished,
    Pipeline,
    PipelineConfig,
    PipelineEvent,
    StatusChanged,
    StrategyUpdated,
    TeamMessageReceived,
)
from driver_app.speech import ConsoleSpeechSink
from relay.auth import TokenStore
from relay.client import RelayClient
from relay.protocol import Envelope, MessageType, Role
from relay.server import RelayServer, ServerOptions
from tests.support.irsdk_image import IrsdkImageWriter, ScriptedSession
from tests.support.pipeline import run_until
from tests.support.reference import reference_path

pytestmark = pytest.mark.integration
TIMEOUT_S = 30.0


def demo_config(relay: EmbeddedRelay | None = None, *, speed: float | None = None, laps: int = 3) -> PipelineConfig:
    return PipelineConfig(
        adapter="demo",
        adapter_options={"speed": speed, "seed": 4, "laps": laps},
        relay_url=None if relay is None else relay.url,
        relay_token="" if relay is None else relay.driver_token,
        verbosity=Verbosity.COACHING,
    )


def test_without_a_relay_the_pipeline_coaches_and_runs_strategy_on_every_lap() -> None:
    events: list[PipelineEvent] = []
    spoken: list[str] = []
    pipeline = Pipeline(demo_config(laps=3), events.append, speech=ConsoleSpeechSink(spoken.append))
    asyncio.run(run_until(pipeline, lambda: pipeline.stats.laps >= 2))
    laps = [e for e in events if isinstance(e, LapFinished)]
    strategy = [e for e in events if isinstance(e, StrategyUpdated)]
    calls = [e for e in events if isinstance(e, CallMade)]
    assert len(laps) == len(strategy) >= 2
    assert strategy[-1].snapshot.fuel_estimate is not None
    assert calls and len(spoken) == len(calls)  # every call reached the speech sink
    statuses = [e.summary for e in events if isinstance(e, StatusChanged)]
    assert statuses[0] == "waiting for sim" and "driving" in statuses
    assert pipeline.relay is None and pipeline.stats.frames_sent == 0


def test_team_messages_and_handoffs_from_the_relay_reach_the_driver_and_answers_go_back(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[PipelineEvent], list[Envelope], Pipeline]:
        relay = await EmbeddedRelay.start(tmp_path)
        store = TokenStore(tmp_path / "tokens.json")
        _, engineer_token = store.invite("Erin", Role.ENGINEER, now_s=0)
        engineer = RelayClient(relay.url, engineer_token)
        engineer.start()
        events: list[PipelineEvent] = []
        pipeline = Pipeline(demo_config(relay, speed=10.0), events.append, speech=ConsoleSpeechSink(lambda line: None))
        seen: list[Envelope] = []

        async def team() -> None:
            await asyncio.wait_for(engineer.connected.wait(), TIMEOUT_S)
            assert pipeline.relay is not None
            await asyncio.wait_for(pipeline.relay.connected.wait(), TIMEOUT_S)
            engineer.send_control(
                Envelope(MessageType.TEAM_MESSAGE, "m1", {"text": "Box this lap", "priority": "urgent"})
            )
            request = {"action": "request", "car_id": DRIVER_CAR_ID, "to_driver": "Sam", "reason": "stint over"}
            engineer.send_control(Envelope(MessageType.HANDOFF_REQUEST, "h1", request))
            while not any(isinstance(e, HandoffPrompt) for e in events):
                await asyncio.sleep(0.02)
            prompt = next(e for e in events if isinstance(e, HandoffPrompt))
            pipeline.answer_handoff(prompt.handoff_id, accept=True)
            while True:
                envelope = await asyncio.wait_for(engineer.incoming.get(), TIMEOUT_S)
                seen.append(envelope)
                if envelope.type is MessageType.HANDOFF_REQUEST and envelope.data.get("status") == "accepted":
                    break

        try:
            await asyncio.gather(
                run_until(pipeline, lambda: len(seen) > 0 and seen[-1].data.get("status") == "accepted"), team()
            )
            while not any(e.type is MessageType.TEAM_MESSAGE and e.data.get("read_by") for e in seen):
                seen.append(await asyncio.wait_for(engineer.incoming.get(), TIMEOUT_S))
        finally:
            await pipeline.close_relay(5)
            await engineer.close()
            await relay.stop()
        return events, seen, pipeline

    events, seen, pipeline = asyncio.run(scenario())
    received = [e for e in events if isinstance(e, TeamMessageReceived)]
    assert received and received[0].text == "Box this lap" and received[0].priority == "urgent"
    assert len(received) == 1  # the read receipt comes back to the driver too: not spoken twice
    team_calls = [e.call for e in events if isinstance(e, CallMade) and e.call.message.category == "team"]
    assert team_calls and team_calls[0].message.priority is Priority.CRITICAL  # urgent: spoken anywhere
    prompt = next(e for e in events if isinstance(e, HandoffPrompt))
    assert (prompt.status, prompt.to_driver, prompt.reason) == ("requested", "Sam", "stint over")
    read = next(e for e in seen if e.type is MessageType.TEAM_MESSAGE and e.data.get("read_by"))
    assert read.data["read_by"] == ["Driver"]  # the read receipt


def test_a_driver_who_reconnects_is_not_read_the_team_messages_already_heard(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[PipelineEvent], list[PipelineEvent]]:
        relay = await EmbeddedRelay.start(tmp_path)
        store = TokenStore(tmp_path / "tokens.json")
        _, engineer_token = store.invite("Erin", Role.ENGINEER, now_s=0)
        engineer = RelayClient(relay.url, engineer_token)
        engineer.start()
        try:
            await asyncio.wait_for(engineer.connected.wait(), TIMEOUT_S)
            first: list[PipelineEvent] = []
            pipeline = Pipeline(demo_config(relay, speed=10.0), first.append, speech=ConsoleSpeechSink(lambda _: None))

            async def send_and_wait_for_receipt() -> None:
                assert pipeline.relay is not None
                await asyncio.wait_for(pipeline.relay.connected.wait(), TIMEOUT_S)
                engineer.send_control(Envelope(MessageType.TEAM_MESSAGE, "m1", {"text": "Fuel is fine"}))
                while not any(m.read_by for m in relay.server.core.messages.values()):
                    await asyncio.sleep(0.02)

            waiting = asyncio.create_task(send_and_wait_for_receipt())
            await run_until(pipeline, waiting.done)
            await waiting
            await pipeline.close_relay(5)
            # The app starts again (a crash, a new stint): the relay catches it up on team messages.
            again: list[PipelineEvent] = []
            pipeline = Pipeline(demo_config(relay, speed=10.0), again.append, speech=ConsoleSpeechSink(lambda _: None))
            engineer.send_control(Envelope(MessageType.TEAM_MESSAGE, "m2", {"text": "Pit window opens"}))
            await run_until(pipeline, lambda: any(isinstance(e, TeamMessageReceived) for e in again))
            await pipeline.close_relay(5)
            return first, again
        finally:
            await engineer.close()
            await relay.stop()

    first, again = asyncio.run(scenario())
    assert [e.text for e in first if isinstance(e, TeamMessageReceived)] == ["Fuel is fine"]
    assert [e.text for e in again if isinstance(e, TeamMessageReceived)] == ["Pit window opens"]


def test_frames_produced_while_the_relay_is_down_arrive_after_it_comes_back(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, int]:
        relay = await EmbeddedRelay.start(tmp_path)
        port = relay.server.port
        pipeline = Pipeline(demo_config(relay, speed=20.0), speech=ConsoleSpeechSink(lambda line: None))
        stop = asyncio.Event()
        running = asyncio.create_task(pipeline.run(stop))
        assert pipeline.relay is not None
        await asyncio.wait_for(pipeline.relay.connected.wait(), TIMEOUT_S)
        await asyncio.sleep(1.0)
        await relay.server.stop()  # the relay goes away; the driver keeps driving
        await asyncio.sleep(2.0)
        assert pipeline.relay.unacked > 0
        options = ServerOptions(host="127.0.0.1", port=port)
        again = RelayServer(TokenStore(tmp_path / "tokens.json"), relay.spool, options=options)
        await again.start()  # the same relay machine, back on the same port
        await asyncio.sleep(1.0)
        stop.set()
        await running
        await pipeline.close_relay(TIMEOUT_S)
        await again.stop()
        relay.spool.close()
        return pipeline.stats.frames_produced, pipeline.relay.stats.frames_acked

    produced, acked = asyncio.run(scenario())
    assert produced > 0 and acked == produced


def test_the_pipeline_waits_for_iracing_and_survives_it_stopping_and_starting(tmp_path: Path) -> None:
    yaml_text = reference_path("session_yaml", "monza_offline_test_2016.yaml").read_text(encoding="utf-8")
    script = ScriptedSession()
    clock = [0.0]
    events: list[PipelineEvent] = []
    with IrsdkImageWriter(tmp_path / "irsdk.bin", yaml_text) as image:
        adapter = IRacingAdapter(image.path)
        pipeline = Pipeline(PipelineConfig(adapter="iracing"), events.append, adapter=adapter, clock=lambda: clock[0])
        image.zero_header()  # iRacing not running yet
        pipeline.step()
        assert pipeline.adapter.state is AdapterState.WAITING_FOR_SIM
        image.initialise(yaml_text)  # the sim starts; the adapter looks again after its retry interval
        clock[0] += 2.0
        pipeline.step()
        for _ in range(120):
            clock[0] += 1 / 60
            image.write_tick(script.values(image.last_tick + 1))
            pipeline.step()
        image.zero_header()  # the sim exits
        clock[0] += 1.0
        pipeline.step()
        image.initialise(yaml_text)  # and comes back; the adapter looks again after its retry interval
        clock[0] += 2.0
        pipeline.step()
        for _ in range(60):
            clock[0] += 1 / 60
            image.write_tick(script.values(image.last_tick + 1))
            pipeline.step()
        adapter.close()
    summaries = [e.summary for e in events if isinstance(e, StatusChanged)]
    assert summaries[0] == "waiting for sim"
    assert summaries.count("driving") == 2 and "waiting for sim" in summaries[1:]
    assert pipeline.stats.frames_produced == 180
    assert pipeline.session is not None and pipeline.session.track.name == "monza full"
