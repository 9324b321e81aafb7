"""The stint the voice assistant talks about starts when the car leaves pit road."""

from __future__ import annotations

from adapters.demo import DemoAdapter
from driver_app.pipeline import Pipeline, PipelineConfig, PipelineEvent
from driver_app.voice.commands import Command

RATE_HZ = 60


def test_the_stint_is_timed_from_the_last_pit_exit() -> None:
    block = DemoAdapter(seed=1, laps=3).generate_block(5 * 60 * RATE_HZ)
    block.frames["on_pit_road"][:] = False
    block.frames["on_pit_road"][60 * RATE_HZ : 2 * 60 * RATE_HZ] = True  # in the pits from minute 1 to 2
    frames = [block[i] for i in range(len(block))]
    events: list[PipelineEvent] = []
    pipeline = Pipeline(PipelineConfig(adapter="demo", adapter_options={"speed": None, "seed": 1}), events.append)

    pipeline._process(frames[: 100 * RATE_HZ])  # in the pits: the stint began with the first frame
    assert pipeline.handle_command(Command("stint_time_left")).text.startswith("2 minutes driven in this stint")
    for at in range(100 * RATE_HZ, len(frames), 600):  # the exit falls inside one of these reads
        pipeline._process(frames[at : at + 600])
    reply = pipeline.handle_command(Command("stint_time_left"))
    assert reply.text.startswith("3 minutes driven in this stint"), reply.text
