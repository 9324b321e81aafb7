"""Run the coaching copilot over a whole demo-sim session, as the driver app would, for the tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.base import SessionChanged
from adapters.demo import DemoSim
from adapters.model import FrameBlock
from coaching.applications.base import CoachSettings
from coaching.copilot import Copilot
from coaching.messages import Call, Message, Verbosity
from driver_app.coach_files import copilot_files


@dataclass
class CoachedSession:
    sim: DemoSim
    copilot: Copilot
    calls: list[Call]
    submitted: list[Message]
    """Every message the arbiter was given, in order."""
    block: FrameBlock
    call_frames: list[int]
    """Index (in `block`) of the frame each call started on."""


def coach_demo(*, chunk_frames: int = 60, settings: CoachSettings | None = None, **sim_options: Any) -> CoachedSession:
    """A whole demo session (`sim_options` go to DemoSim; pass `laps`) through a Copilot."""
    sim = DemoSim(**sim_options)
    settings = settings if settings is not None else CoachSettings(verbosity=Verbosity.COACHING)
    copilot = Copilot(sim.session_info, settings=settings, **copilot_files(None))
    submitted: list[Message] = []
    original_submit = copilot.arbiter.submit

    def recording_submit(message: Message) -> None:
        submitted.append(message)
        original_submit(message)

    copilot.arbiter.submit = recording_submit  # type: ignore[method-assign]
    blocks: list[FrameBlock] = []
    calls: list[Call] = []
    call_frames: list[int] = []
    offset = 0
    while not sim.finished:
        block = sim.generate_block(chunk_frames)
        for event in sim.drain_events():
            if isinstance(event, SessionChanged):
                copilot.on_session(event.info)
        new_calls = copilot.process(block)
        times = block.session_time_s
        for call in new_calls:
            calls.append(call)
            call_frames.append(offset + int((times <= call.start_s).sum()) - 1)
        blocks.append(FrameBlock(block.frames))
        offset += len(block)
    copilot.finish()
    return CoachedSession(sim, copilot, calls, submitted, FrameBlock.concatenate(blocks), call_frames)
