"""How calls are timed over whole sessions (demo sim with every kind of event, and a real .ibt).

The issue's bar: every non-urgent call starts before the corner it is about and none starts inside
a braking zone; a spotter call preempts within one frame; no message is delivered after its deadline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from adapters.ibt import IbtFile
from adapters.model import FrameBlock
from coaching.applications.base import CoachSettings
from coaching.copilot import Copilot
from coaching.messages import Call, Message, Priority, Verbosity
from coaching.segments import BRAKE_ON, SegmentMap
from driver_app.coach_files import copilot_files
from tests.support.coaching import coach_demo
from tests.support.reference import reference_path

pytestmark = pytest.mark.slow

FRAME_S = 1.0 / 60.0
CHATTY = CoachSettings(verbosity=Verbosity.COACHING, guide_laps=100)
"""The track guide on every lap: plenty of regular talk for the spotter to cut into."""


@dataclass
class Session:
    name: str
    calls: list[Call]
    submitted: list[Message]
    block: FrameBlock
    segments: SegmentMap


def _demo() -> Session:
    coached = coach_demo(seed=5, laps=8, settings=CHATTY)
    return Session("demo", coached.calls, coached.submitted, coached.block, coached.copilot.segments)


def _martinsville() -> Session:
    with IbtFile(reference_path("ibt", "skmodtour_martinsville_laps_2015.ibt")) as ibt:
        info, block = ibt.session_info, ibt.read_block()
    copilot = Copilot(info, settings=CHATTY, **copilot_files(None))
    submitted: list[Message] = []
    submit = copilot.arbiter.submit
    copilot.arbiter.submit = lambda m: (submitted.append(m), submit(m))[1]  # type: ignore[method-assign]
    calls = []
    for start in range(0, len(block), 60):
        calls += copilot.process(block.slice(start, min(start + 60, len(block))))
    copilot.finish()
    return Session("martinsville", calls, submitted, block, copilot.segments)


@pytest.fixture(scope="module", params=["demo", "martinsville"])
def session(request: pytest.FixtureRequest) -> Session:
    return _demo() if request.param == "demo" else _martinsville()


def _frame_at(session: Session, t: float) -> int:
    return int(np.searchsorted(session.block.session_time_s, t - 1e-6))


def test_no_call_starts_after_its_deadline_or_past_the_place_it_was_for(session: Session) -> None:
    assert session.calls
    for call in session.calls:
        assert call.start_s <= call.message.deadline_s, call.to_dict()
        if call.message.say_before is not None:
            lap, before_m = call.message.say_before
            assert (call.lap, call.lap_dist_m) <= (lap, before_m), call.to_dict()


def test_no_non_urgent_call_starts_in_a_braking_zone(session: Session) -> None:
    zones = [(s.brake_start_m, s.brake_end_m) for s in session.segments.segments if s.brake_start_m is not None]
    assert zones, "the session should have taught the copilot its braking zones"
    checked = 0
    for call in session.calls:
        if call.message.priority.urgent:
            continue
        checked += 1
        frame = session.block[_frame_at(session, call.start_s)]
        assert frame.brake <= BRAKE_ON, f"{call.line()} starts with the brake pedal at {frame.brake:.2f}"
        if frame.on_pit_road:
            continue  # the pit lane runs beside the track's braking zones, not through them
        inside = [z for z in zones if z[0] <= call.lap_dist_m <= z[1]]
        assert not inside, f"{call.line()} starts in the braking zone {inside}"
    assert checked >= 3


def test_calls_about_a_corner_start_before_it_not_in_it(session: Session) -> None:
    about_corners = [c for c in session.calls if c.message.segment_id is not None]
    for call in about_corners:
        segment = session.segments.get(call.message.segment_id or "")
        assert segment is not None, call.to_dict()
        assert not segment.zone_start_m <= call.lap_dist_m <= segment.end_m, f"{call.line()} starts in {segment.id}"
        ahead_m = (segment.zone_start_m - call.lap_dist_m) % session.segments.track_length_m
        assert ahead_m < session.segments.track_length_m / 2, f"{call.line()} is {ahead_m:.0f} m before {segment.id}"


def test_spotter_calls_go_out_on_the_frame_they_are_made_and_cut_other_calls(session: Session) -> None:
    spotter = [m for m in session.submitted if m.priority is Priority.SPOTTER]
    started = {id(c.message): c for c in session.calls}
    for message in spotter:
        call = started.get(id(message))
        assert call is not None, f"spotter call {message.text!r} at {message.created_s} never went out"
        assert call.start_s - message.created_s <= FRAME_S + 1e-9
    if session.name == "demo":
        assert len(spotter) >= 10
        cut = [c for c in session.calls if c.message.priority is Priority.SPOTTER and c.interrupts is not None]
        assert any(c.interrupts is not None and not c.interrupts.priority.urgent for c in cut)
