"""The `.ibt` reader and lap splitting on real recordings written by iRacing (see PROVENANCE.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import irsdk
import numpy as np
import pytest
from tests.support.reference import reference_path

from adapters.errors import SimNotFoundError, TelemetryFormatError
from adapters.ibt import IbtFile, IbtReplayAdapter
from adapters.laps import LapKind, split_laps
from adapters.model import SessionType

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def martinsville() -> Path:
    return reference_path("ibt", "skmodtour_martinsville_laps_2015.ibt")


@pytest.fixture(scope="module")
def sebring() -> Path:
    return reference_path("ibt", "gt4_sebring_outlap_reset_2025.ibt")


@pytest.fixture(scope="module")
def redbullring() -> Path:
    return reference_path("ibt", "w13_redbullring_pitstall_2024.ibt")


def test_martinsville_laps_32_and_33_match_the_sims_own_times(martinsville: Path) -> None:
    with IbtFile(martinsville) as ibt:
        assert ibt.header.version == 1 and ibt.record_count == 4954
        laps = {lap.number: lap for lap in split_laps(ibt.read_block())}
    assert laps[32].kind is LapKind.FLYING and laps[33].kind is LapKind.FLYING
    assert laps[32].time_s == pytest.approx(19.300, abs=0.02)
    assert laps[33].time_s == pytest.approx(19.550, abs=0.02)
    for number in (32, 33):
        lap = laps[number]
        assert lap.sim_time_s is not None and lap.time_s is not None
        assert lap.time_s == pytest.approx(lap.sim_time_s, abs=0.02)
        assert lap.fuel_used_l is not None and 0.3 < lap.fuel_used_l < 0.6
    assert laps[31].kind is LapKind.OUT and laps[31].time_s is None
    assert 34 not in laps  # unfinished when the recording stops


def test_martinsville_fuel_per_lap_equals_the_measured_drop(martinsville: Path) -> None:
    with IbtFile(martinsville) as ibt:
        block = ibt.read_block()
    for lap in split_laps(block):
        if lap.kind is LapKind.FLYING:
            drop = float(block.fuel_level_l[lap.start_index] - block.fuel_level_l[lap.end_index - 1])
            assert lap.fuel_used_l == pytest.approx(drop, rel=0.02)


def test_pit_stall_and_reset_recordings_yield_no_spurious_lap(sebring: Path, redbullring: Path) -> None:
    for path in (sebring, redbullring):
        with IbtFile(path) as ibt:
            assert split_laps(ibt.read_block()) == []


def test_not_in_world_frame_is_flagged_not_passed_on_as_driving(sebring: Path) -> None:
    with IbtFile(sebring) as ibt:
        block = ibt.read_block()
    glitch = block[2405]
    assert glitch.in_world is False and glitch.track_surface == -1
    assert np.isnan(glitch.latitude_deg)
    assert block[2404].in_world and block[2406].in_world and block[2406].on_pit_road
    assert int((~block.in_world).sum()) == 2  # record 0 and record 2405


def test_old_2015_file_zero_record_is_flagged(martinsville: Path) -> None:
    with IbtFile(martinsville) as ibt:
        block = ibt.read_block(0, 3)
    assert block.in_world.tolist() == [False, True, True]


def test_no_negative_zero_survives_decoding(redbullring: Path) -> None:
    with IbtFile(redbullring) as ibt:
        frames = ibt.read_block().frames
    for name in frames.dtype.names or ():
        column = frames[name]
        if column.dtype.kind == "f":
            assert not (np.signbit(column) & (column == 0)).any(), name


def test_values_agree_with_pyirsdk_reading_the_same_records(sebring: Path) -> None:
    with IbtFile(sebring) as ibt:
        block = ibt.read_block()
    reference = irsdk.IBT()
    reference.open(str(sebring))
    try:
        for index in (1, 443, 1500, 2682):
            assert block.speed_mps[index] == pytest.approx(reference.get(index, "Speed"), abs=1e-6)
            assert block.session_time_s[index] == pytest.approx(reference.get(index, "SessionTime"))
            assert block.lap_dist_m[index] == pytest.approx(reference.get(index, "LapDist"), abs=1e-4)
            assert block.gear[index] == reference.get(index, "Gear")
            assert block.on_pit_road[index] == reference.get(index, "OnPitRoad")
            assert block.fuel_level_l[index] == pytest.approx(reference.get(index, "FuelLevel"), abs=1e-5)
            assert block.tick[index] == reference.get(index, "SessionTick")
    finally:
        reference.close()


def test_session_info_comes_from_the_file(sebring: Path, redbullring: Path, martinsville: Path) -> None:
    with IbtFile(sebring) as ibt:
        info = ibt.session_info
    assert info.track.display_name == "Sebring International Raceway"
    assert info.track.length_m == pytest.approx(5793.8, abs=1.0)
    assert info.player is not None and info.player.car_path == "mercedesamggt4"
    assert info.session_type is SessionType.PRACTICE
    with IbtFile(redbullring) as ibt:
        assert ibt.session_info.track.name == "spielberg gp"
        assert ibt.session_info.session_type is SessionType.TESTING
    with IbtFile(martinsville) as ibt:
        assert ibt.session_info.track.length_m == pytest.approx(850, rel=0.1)


def test_chunked_reading_equals_reading_at_once(martinsville: Path) -> None:
    with IbtFile(martinsville) as ibt:
        whole = ibt.read_block()
        parts = list(ibt.iter_blocks(chunk_records=1000))
    assert len(parts) == 5
    joined = np.concatenate([p.frames for p in parts])
    assert joined.tobytes() == whole.frames.tobytes()


def test_truncated_copy_is_a_clear_error(martinsville: Path, tmp_path: Path) -> None:
    data = martinsville.read_bytes()
    for keep in (len(data) - 1000, 30_000, 5000, 50):
        cut = tmp_path / f"cut_{keep}.ibt"
        cut.write_bytes(data[:keep])
        with pytest.raises(TelemetryFormatError, match="truncated|too short|not iRacing"):
            IbtFile(cut)


def test_not_an_ibt_file_and_missing_file(tmp_path: Path) -> None:
    text = tmp_path / "notes.ibt"
    text.write_text("these are not telemetry records\n" * 100)
    with pytest.raises(TelemetryFormatError, match="not iRacing"):
        IbtFile(text)
    empty = tmp_path / "empty.ibt"
    empty.write_bytes(b"")
    with pytest.raises(TelemetryFormatError, match="empty"):
        IbtFile(empty)
    with pytest.raises(SimNotFoundError, match="no such file"):
        IbtFile(tmp_path / "absent.ibt")


def test_live_memory_dump_is_not_mistaken_for_an_ibt() -> None:
    dump = reference_path("irsdk_memmap", "w13_monza_garage_2024.bin")
    with pytest.raises(TelemetryFormatError, match="live memory image"):
        IbtFile(dump)


def test_replay_adapter_paces_by_session_time(martinsville: Path) -> None:
    adapter = IbtReplayAdapter(martinsville, speed=2.0)
    assert adapter.connect(now_s=50.0)
    events = adapter.drain_events()
    assert any(type(e).__name__ == "SessionChanged" for e in events)
    first = adapter.read(50.0)
    assert first is not None
    released = 1
    while adapter.read(51.0) is not None:  # one wall second at 2x = two recorded seconds
        released += 1
    assert released == pytest.approx(121, abs=2)
    assert adapter.read(51.0) is None


def test_replay_adapter_as_fast_as_possible_and_seek_by_lap(martinsville: Path) -> None:
    adapter = IbtReplayAdapter(martinsville, speed=None)
    adapter.connect(0.0)
    index = adapter.seek_lap(33)
    frame = adapter.read(0.0)
    assert frame is not None and frame.lap == 33 and adapter.position == index + 1
    count = 1
    while adapter.read(0.0) is not None:
        count += 1
    assert count == adapter.frame_count - index
    with pytest.raises(ValueError, match="lap 99"):
        adapter.seek_lap(99)


def test_replay_of_a_copied_file_is_independent_of_the_original(martinsville: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.ibt"
    shutil.copyfile(martinsville, copy)
    adapter = IbtReplayAdapter(copy, speed=None)
    adapter.connect(0.0)
    copy.unlink()  # the decoded block owns its memory
    assert adapter.read(0.0) is not None
