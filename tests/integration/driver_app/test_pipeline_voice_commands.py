"""Voice commands in the running pipeline: each is answered aloud, pit requests reach the pit
commander, and a handoff answered by voice reaches the engineer through a real relay."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.pit import PitAction, RecordingPitCommander
from coaching.messages import Verbosity
from driver_app.embedded_relay import DRIVER_CAR_ID, EmbeddedRelay
from driver_app.pipeline import (
    ClipRequested,
    HandoffPrompt,
    Pipeline,
    PipelineConfig,
    PipelineEvent,
    VoiceCommandHandled,
)
from driver_app.speech import ConsoleSpeechSink
from driver_app.voice.commands import parse_command
from relay.auth import TokenStore
from relay.client import RelayClient
from relay.protocol import Envelope, MessageType, Role

pytestmark = pytest.mark.integration
TIMEOUT_S = 30.0


def test_voice_commands_are_answered_and_act_on_the_pit_menu_the_verbosity_and_a_handoff(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[PipelineEvent], list[str], RecordingPitCommander, list[Envelope], Pipeline]:
        relay = await EmbeddedRelay.start(tmp_path)
        store = TokenStore(tmp_path / "tokens.json")
        _, engineer_token = store.invite("Erin", Role.ENGINEER, now_s=0)
        engineer = RelayClient(relay.url, engineer_token)
        engineer.start()
        events: list[PipelineEvent] = []
        spoken: list[str] = []
        config = PipelineConfig(
            adapter="demo",
            adapter_options={"speed": 10.0, "seed": 4, "laps": 3},
            relay_url=relay.url,
            relay_token=relay.driver_token,
        )
        pipeline = Pipeline(config, events.append, speech=ConsoleSpeechSink(spoken.append))
        pit = RecordingPitCommander()
        pipeline.pit = pit
        seen: list[Envelope] = []
        stop = asyncio.Event()

        async def driver() -> None:
            await asyncio.wait_for(engineer.connected.wait(), TIMEOUT_S)
            assert pipeline.relay is not None
            await asyncio.wait_for(pipeline.relay.connected.wait(), TIMEOUT_S)
            await asyncio.sleep(0.5)  # frames flowing
            for said in (
                "pit stop add thirty five liters",
                "how's my fuel",
                "change all the tyres",
                "quiet please",
                "clip that",
            ):
                pipeline.handle_command(parse_command(said), heard=said)
            pipeline.handle_command(None, heard="lovely weather")
            request = {"action": "request", "car_id": DRIVER_CAR_ID, "to_driver": "Sam", "reason": "stint over"}
            engineer.send_control(Envelope(MessageType.HANDOFF_REQUEST, "h1", request))
            while not any(isinstance(e, HandoffPrompt) for e in events):
                await asyncio.sleep(0.02)
            pipeline.handle_command(parse_command("accept driver swap"), heard="accept driver swap")
            async with asyncio.timeout(TIMEOUT_S):
                while True:
                    envelope = await engineer.incoming.get()
                    seen.append(envelope)
                    if envelope.type is MessageType.HANDOFF_REQUEST and envelope.data.get("status") == "accepted":
                        break
            stop.set()

        try:
            await asyncio.gather(pipeline.run(stop), driver())
        finally:
            await pipeline.close_relay(5)
            await engineer.close()
            await relay.stop()
        return events, spoken, pit, seen, pipeline

    events, spoken, pit, seen, pipeline = asyncio.run(scenario())
    handled = [e for e in events if isinstance(e, VoiceCommandHandled)]
    assert [e.intent for e in handled] == [
        "pit_add_fuel",
        "fuel_status",
        "pit_change_tyres",
        "quiet",
        "clip_that",
        None,
        "accept_handoff",
    ]
    replies = [e.reply for e in handled]
    assert replies[0] == "Adding 35 litres at the stop."
    assert replies[5] == "Sorry, say again?"
    assert replies[6] == "Driver change accepted."
    assert all(any(reply in line for line in spoken) for reply in replies)  # every answer was spoken
    assert pit.sent[0].action is PitAction.ADD_FUEL and pit.sent[0].fuel_l == 35
    assert sum(c.action is PitAction.CHANGE_TYRE for c in pit.sent) == 4
    assert pipeline.copilot.verbosity is Verbosity.QUIET
    assert any(isinstance(e, ClipRequested) and e.source == "voice" for e in events)
    accepted = [e for e in seen if e.type is MessageType.HANDOFF_REQUEST and e.data.get("status") == "accepted"]
    assert accepted and accepted[0].data["history"][-1]["by"] == "Driver"
