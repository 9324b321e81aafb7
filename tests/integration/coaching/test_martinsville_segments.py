"""Segments learned from the real Martinsville .ibt: both braking zones found, same ids on every lap and session."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.ibt import IbtFile
from adapters.laps import split_laps
from adapters.model import FrameBlock, LapKind, SessionInfo
from coaching.copilot import Copilot
from coaching.segments import SegmentMap, detect_corners
from coaching.trace import LapTrace
from driver_app.coach_files import copilot_files
from tests.support.reference import reference_path


@pytest.fixture(scope="module")
def recording() -> tuple[SessionInfo, FrameBlock]:
    with IbtFile(reference_path("ibt", "skmodtour_martinsville_laps_2015.ibt")) as ibt:
        return ibt.session_info, ibt.read_block()


def _flying_traces(info: SessionInfo, block: FrameBlock) -> list[LapTrace]:
    laps = [lap for lap in split_laps(block) if lap.kind is LapKind.FLYING]
    return [LapTrace.from_block(block.slice(lap.start_index, lap.end_index), lap, info.track.length_m) for lap in laps]


def test_both_braking_zones_are_found_on_each_complete_lap_with_the_same_ids(
    recording: tuple[SessionInfo, FrameBlock],
) -> None:
    info, block = recording
    traces = _flying_traces(info, block)
    assert [t.lap for t in traces] == [32, 33]
    segments = SegmentMap(info.track.length_m)
    ids_per_lap = [segments.learn(detect_corners(trace)) for trace in traces]
    # Re-matching each lap against the finished map gives the same ids again.
    assert ids_per_lap == [["C1", "C2"], ["C1", "C2"]]
    assert [segments.match(detect_corners(trace)) for trace in traces] == ids_per_lap
    length = info.track.length_m
    first, second = segments.segments
    # Turns 1-2 are in the first half of the lap, turns 3-4 in the second: a braking zone at each end.
    assert first.brake_start_m is not None and second.brake_start_m is not None
    assert 0 < first.brake_start_m < 0.25 * length < first.end_m < 0.5 * length
    assert 0.5 * length < second.brake_start_m < 0.6 * length < second.end_m <= length
    for trace in traces:
        zones = [c for c in detect_corners(trace) if c.brake_start_m is not None]
        assert len(zones) == 2


def test_segment_ids_survive_into_the_next_session_through_the_store(
    recording: tuple[SessionInfo, FrameBlock], tmp_path: Path
) -> None:
    info, block = recording
    first = Copilot(info, **copilot_files(tmp_path))
    first.process(block)
    first.finish()
    learned = {s.id: (s.brake_start_m, s.name) for s in first.segments.segments}
    assert set(learned) == {"C1", "C2"}
    assert {name for _, name in learned.values()} == {"Turns 1 and 2", "Turns 3 and 4"}  # from the track notes

    second = Copilot(info, **copilot_files(tmp_path))
    assert {s.id for s in second.segments.segments} == {"C1", "C2"}
    assert second.personal_best is not None and second.personal_best.lap_time_s == pytest.approx(19.30, abs=0.02)
    second.process(block)
    second.finish()
    for segment in second.segments.segments:
        start, _ = learned[segment.id]
        assert segment.brake_start_m == pytest.approx(start, abs=5.0)
    assert len(second.segments) == 2
