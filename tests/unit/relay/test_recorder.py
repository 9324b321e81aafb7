"""Session recording: a recorded session reads back through PitBox's own `.ibt` reader and replay adapter.

The demo race (seed 2, two laps, five opponents) is recorded once per module; every test reads that
file (or a copy) back with `adapters.ibt` and compares with the frames that went in.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.base import AdapterState, SessionChanged, create
from adapters.demo import DemoSim
from adapters.ibt import IbtFile, IbtReplayAdapter
from adapters.irsdk_layout import DiskSubHeader
from adapters.laps import split_laps
from adapters.model import (
    CAR_CHANNELS,
    CHANNELS,
    Channel,
    DriverEntry,
    FrameBlock,
    SessionInfo,
    SessionType,
    TrackSurface,
    empty_cars,
)
from relay.errors import RecorderError
from relay.protocol import TelemetryBatch, decode_batch, encode_batch
from relay.recorder import SessionRecorder, decoder_sources, record_batches, session_info_from_dict, variable_table
from tests.support.relay import make_block, within_half_precision

REPO = Path(__file__).resolve().parents[3]
BLOCK_SIZES = (1, 7, 59, 60, 61, 250, 600)
"""Block sizes cycled through while recording: single frames, around one second, and large blocks."""


@dataclass(frozen=True)
class Recording:
    path: Path
    block: FrameBlock
    info: SessionInfo
    blocks: tuple[FrameBlock, ...]


def _demo_blocks() -> tuple[SessionInfo, list[FrameBlock]]:
    sim = DemoSim(seed=2, laps=2, opponents=5)
    blocks = []
    i = 0
    while not sim.finished:
        block = sim.generate_block(BLOCK_SIZES[i % len(BLOCK_SIZES)])
        i += 1
        if len(block):
            blocks.append(block)
    return sim.session_info, blocks


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    info, blocks = _demo_blocks()
    path = tmp_path_factory.mktemp("recording") / "demo.ibt"
    with SessionRecorder(path, info) as recorder:
        for block in blocks:
            recorder.write(block)
    return Recording(path, FrameBlock.concatenate(blocks), info, tuple(blocks))


def _assert_channel(channel: Channel, original: np.ndarray, back: np.ndarray, what: str) -> None:
    assert back.shape == original.shape, what
    if original.dtype.kind == "f":
        ok = within_half_precision(original, back, channel.precision)
        assert ok.all(), f"{what}: {np.count_nonzero(~ok)} values off, first at {np.argwhere(~ok)[0].tolist()}"
    else:
        assert np.array_equal(original, back), f"{what} differs"


def _assert_frames_equal(original: FrameBlock, back: FrameBlock, *, cars: bool = True) -> None:
    assert len(back) == len(original)
    for channel in CHANNELS:
        _assert_channel(channel, original.frames[channel.name], back.frames[channel.name], channel.name)
    if cars:
        assert original.cars is not None and back.cars is not None
        for channel in CAR_CHANNELS:
            _assert_channel(channel, original.cars[channel.name], back.cars[channel.name], f"cars.{channel.name}")


# --------------------------------------------------------------------------- the demo session


def test_every_channel_reads_back_within_its_precision(demo: Recording) -> None:
    with IbtFile(demo.path) as ibt:
        assert ibt.record_count == len(demo.block) == 11_674
        assert ibt.decoder.has_cars
        back = ibt.read_block()
    _assert_frames_equal(demo.block, back)


def test_every_variable_written_is_one_the_decoder_reads() -> None:
    for cars in (False, True):
        written = {v.name for v in variable_table(cars=cars)[0]}
        # SessionNum picks the session in the YAML; PlayerCarIdx is for other iRacing tools.
        assert written - set(decoder_sources(cars=cars)) == {"SessionNum", "PlayerCarIdx"}
    assert not any(v.name.startswith("CarIdx") for v in variable_table(cars=False)[0])


def test_laps_split_the_same_with_the_same_times(demo: Recording) -> None:
    with IbtFile(demo.path) as ibt:
        back = ibt.read_block()
    original, recorded = split_laps(demo.block), split_laps(back)
    assert len(original) >= 1  # laps between two line crossings: the demo race has one
    assert [(lap.number, lap.kind, lap.start_index, lap.end_index) for lap in recorded] == [
        (lap.number, lap.kind, lap.start_index, lap.end_index) for lap in original
    ]
    for a, b in zip(original, recorded, strict=True):
        for field in ("time_s", "sim_time_s", "start_time_s", "end_time_s"):
            x, y = getattr(a, field), getattr(b, field)
            assert (x is None) == (y is None), field
            if x is not None:
                assert y == pytest.approx(x, abs=1e-3), f"lap {a.number} {field}"


def test_session_info_reads_back_equivalent(demo: Recording) -> None:
    with IbtFile(demo.path) as ibt:
        back = ibt.session_info
    info = demo.info
    assert back.track.name == info.track.name
    assert back.track.length_m == pytest.approx(info.track.length_m, abs=1e-3)
    assert back.player_car_idx == info.player_car_idx
    assert [d.driver_name for d in back.drivers] == [d.driver_name for d in info.drivers]
    assert back.drivers == info.drivers
    assert back.track == replace(info.track, length_m=back.track.length_m)
    assert (back.session_type, back.session_name, back.laps, back.time_limit_s) == (
        SessionType.RACE,
        "RACE",
        2,
        None,
    )
    assert (back.max_fuel_l, back.fuel_density_kg_per_l, back.update_count) == (100.0, 0.75, info.update_count)
    assert {**back.to_dict(), "sim": "demo"} == info.to_dict()


def test_disk_header_describes_the_recording(demo: Recording) -> None:
    with IbtFile(demo.path) as ibt:
        disk, header = ibt.disk_header, ibt.header
    block = demo.block
    assert disk.record_count == len(block)
    assert disk.session_start_time_s == block.session_time_s[0]
    assert disk.session_end_time_s == block.session_time_s[-1]
    assert disk.lap_count == len(np.unique(block.lap[block.in_world])) == 3
    assert abs(disk.session_start_date - os.path.getmtime(demo.path)) < 3600
    assert header.tick_rate == 60 and header.num_buf == 1


def test_replay_adapter_plays_the_recording(demo: Recording) -> None:
    adapter = create("ibt", path=demo.path, speed=None)
    assert isinstance(adapter, IbtReplayAdapter)
    assert adapter.connect(0.0)
    events = adapter.drain_events()
    changed = [e for e in events if isinstance(e, SessionChanged)]
    assert len(changed) == 1 and changed[0].info.track.name == demo.info.track.name
    assert adapter.state is AdapterState.CONNECTED
    frames = [adapter.read(0.01 * i) for i in range(120)]
    assert all(f is not None for f in frames)
    played = FrameBlock.from_frames([f for f in frames if f is not None])
    _assert_frames_equal(demo.block.slice(0, 120), played)
    start = adapter.seek_lap(2)
    frame = adapter.read(2.0)
    assert frame is not None and frame.lap == 2 and start == int(np.flatnonzero(demo.block.lap == 2)[0])
    adapter.close()


def test_real_time_replay_paces_by_the_recorded_clock(demo: Recording) -> None:
    adapter = IbtReplayAdapter(demo.path, speed=1.0)
    first = adapter.read(100.0)
    assert first is not None and first.session_time_s == 0.0
    assert adapter.read(100.0) is None  # the next frame is 1/60 s of session time later
    assert adapter.read(100.0 + 1 / 60 + 1e-9) is not None
    adapter.close()


# --------------------------------------------------------------------------- a writer that dies


def test_file_of_a_writer_killed_after_a_flush_is_readable(demo: Recording, tmp_path: Path) -> None:
    path = tmp_path / "live.ibt"
    recorder = SessionRecorder(path, demo.info, flush_interval_s=1000.0)  # flush only when asked
    written = 0
    for block in demo.blocks[:12]:
        recorder.write(block)
        written += len(block)
    assert recorder.flushed_count == 0
    recorder.flush()
    assert recorder.flushed_count == written
    recorder.write(demo.blocks[12])  # buffered, never flushed: the writer "dies" now
    copy = tmp_path / "copy.ibt"
    shutil.copyfile(path, copy)
    # Half a record the writer was in the middle of, past what the headers count.
    with copy.open("ab") as f:
        f.write(b"\x7f" * 1000)
    with IbtFile(copy) as ibt:
        assert ibt.record_count == written
        assert ibt.disk_header.session_end_time_s == demo.block.session_time_s[written - 1]
        back = ibt.read_block()
        assert ibt.session_info.player_car_idx == demo.info.player_car_idx
    _assert_frames_equal(demo.block.slice(0, written), back)
    recorder.close()


def test_file_of_a_sigkilled_writer_is_readable_up_to_its_last_flush(tmp_path: Path) -> None:
    if not hasattr(signal, "SIGKILL"):
        pytest.skip("no SIGKILL on this platform")
    path = tmp_path / "killed.ibt"
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from adapters.demo import DemoSim
        from relay.recorder import SessionRecorder

        sim = DemoSim(seed=2, laps=2, opponents=5)
        recorder = SessionRecorder(Path({str(path)!r}), sim.session_info)
        for _ in range(300):  # 300 ticks = 5 s of telemetry, one tick at a time
            recorder.write(sim.generate_block(1))
        print(recorder.flushed_count, recorder.record_count, flush=True)
        time.sleep(60)
        """
    )
    with subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            flushed, written = map(int, proc.stdout.readline().split())
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert written == 300 and written - 60 < flushed <= written
    _, blocks = _demo_blocks()
    original = FrameBlock.concatenate(blocks).slice(0, flushed)
    with IbtFile(path) as ibt:
        assert ibt.record_count == flushed
        _assert_frames_equal(original, ibt.read_block())


def test_records_are_flushed_at_least_once_a_second_of_telemetry(demo: Recording, tmp_path: Path) -> None:
    path = tmp_path / "tick.ibt"
    block = demo.block
    with SessionRecorder(path, demo.info) as recorder:
        for i in range(200):
            recorder.write(block.slice(i, i + 1))
            on_disk = DiskSubHeader.parse(path.read_bytes()[:144]).record_count
            assert on_disk == recorder.flushed_count
            unflushed = block.session_time_s[i] - (block.session_time_s[on_disk - 1] if on_disk else -1 / 60)
            assert unflushed <= 1.0 + 1e-9
        # A large block goes out at once.
        recorder.write(block.slice(200, 800))
        assert recorder.flushed_count == recorder.record_count == 800
    with IbtFile(path) as ibt:
        assert ibt.record_count == 800


# --------------------------------------------------------------------------- what the conversions keep


def _edge_block() -> FrameBlock:
    """Values the decoder converts or treats as sentinels, and frames out of the world."""
    block = make_block(120, cars=True)
    f = block.frames
    f["in_world"][10:20] = False
    f["track_surface"][10:20] = TrackSurface.NOT_IN_WORLD
    f["track_surface"][30:40] = TrackSurface.IN_PIT_STALL
    f["on_pit_road"][30:40] = True
    f["pit_limiter"][30:40] = True
    f["clutch"] = np.linspace(0.0, 1.0, len(f))
    f["gear"][50:55] = -1
    f["session_flags"][60:] |= 0x80000000  # start-go: the top bit of the bitfield
    f["session_time_remain_s"][:40] = np.nan  # unlimited
    f["session_laps_remain"][40:] = 7
    f["best_lap_time_s"][:5] = np.nan
    f["tyre_temp_c"][70:75, 2] = np.nan  # a tyre the sim does not report
    f["tyre_wear_frac"][70:75] = np.nan
    f["current_lap_time_s"][80:] = np.nan
    assert block.cars is not None
    block.cars["est_time_s"][:, 40] = np.nan
    return block


def test_converted_and_sentinel_values_read_back(tmp_path: Path, demo: Recording) -> None:
    block = _edge_block()
    path = tmp_path / "edges.ibt"
    with SessionRecorder(path, demo.info) as recorder:
        recorder.write(block)
    with IbtFile(path) as ibt:
        back = ibt.read_block()
    _assert_frames_equal(block, back)
    assert not back.in_world[10:20].any() and back.in_world[20:].all()
    assert back.pit_limiter[30:40].all() and np.array_equal(back.track_surface[30:40], np.full(10, 1))


def test_what_cannot_round_trip_is_what_the_docstring_says(tmp_path: Path, demo: Recording) -> None:
    block = make_block(6, cars=False)
    f = block.frames
    f["track_surface"][0] = TrackSurface.NOT_IN_WORLD  # in the world, surface unknown
    f["on_pit_road"][1] = True
    f["track_surface"][1] = TrackSurface.NOT_IN_WORLD
    f["last_lap_time_s"][2] = 0.0
    f["session_time_remain_s"][3] = -5.0
    f["session_laps_remain"][4] = 40_000
    f["latitude_deg"][5], f["longitude_deg"][5] = 0.0, 0.0
    path = tmp_path / "lossy.ibt"
    with SessionRecorder(path, demo.info) as recorder:
        recorder.write(block)
    with IbtFile(path) as ibt:
        back = ibt.read_block()
    assert back.cars is None
    assert back.in_world.all()
    assert back.track_surface[:2].tolist() == [TrackSurface.ON_TRACK, TrackSurface.APPROACHING_PITS]
    assert np.isnan(back.last_lap_time_s[2])
    assert np.isnan(back.session_time_remain_s[3])
    assert back.session_laps_remain[4] == -1
    assert np.isnan(back.latitude_deg[5]) and np.isnan(back.longitude_deg[5])


def test_per_car_layout_is_decided_by_the_first_block(tmp_path: Path, demo: Recording) -> None:
    with_cars, without = make_block(30, cars=True), make_block(30, start_s=2000.0, cars=False)
    path = tmp_path / "cars.ibt"
    with SessionRecorder(path, demo.info) as recorder:
        recorder.write(with_cars)
        recorder.write(without)
        assert recorder.has_cars
    with IbtFile(path) as ibt:
        back = ibt.read_block()
    assert back.cars is not None
    _assert_frames_equal(with_cars, back.slice(0, 30))
    missing = empty_cars(30)
    for channel in CAR_CHANNELS:
        _assert_channel(channel, missing[channel.name], back.cars[channel.name][30:], channel.name)

    path = tmp_path / "nocars.ibt"
    with SessionRecorder(path, demo.info, cars=False) as recorder:
        recorder.write(with_cars)
    with IbtFile(path) as ibt:
        assert ibt.read_block().cars is None


# --------------------------------------------------------------------------- session info


def test_session_given_as_its_dict_form(tmp_path: Path, demo: Recording) -> None:
    path = tmp_path / "dict.ibt"
    with SessionRecorder(path, demo.info.to_dict()) as recorder:
        recorder.write(demo.blocks[0])
    with IbtFile(path) as ibt:
        back = ibt.session_info
    assert back.track.name == demo.info.track.name
    assert back.track.length_m == pytest.approx(demo.info.track.length_m, abs=0.05)
    assert back.player_car_idx == demo.info.player_car_idx
    assert back.player is not None and back.player.car_path == "pitbox_gt3"
    # to_dict leaves pace cars out and does not say who the player is: both as documented.
    assert [d.driver_name for d in back.drivers] == [d.driver_name for d in demo.info.drivers if not d.is_pace_car]
    assert session_info_from_dict({**demo.info.to_dict(), "player_car_idx": 4}).player_car_idx == 4
    assert session_info_from_dict({"track": {"name": "x"}, "driver": "nobody"}).player_car_idx == -1


def test_timed_unlimited_practice_with_extras(tmp_path: Path, demo: Recording) -> None:
    info = replace(
        demo.info,
        session_type=SessionType.PRACTICE,
        session_name="OPEN PRACTICE",
        laps=None,
        time_limit_s=5400.0,
        team_racing=True,
        session_num=2,
        fuel_density_kg_per_l=0.742,
        track=replace(demo.info.track, length_m=5793.123456, sector_starts_frac=(0.0, 0.25, 0.5, 0.75)),
        extra={"track_id": 341, "series_id": 228, "pit_speed_limit_mps": 60 / 3.6, "est_lap_time_s": 98.5},
    )
    path = tmp_path / "practice.ibt"
    block = make_block(60, cars=False)
    with SessionRecorder(path, info) as recorder:
        recorder.write(block)
    with IbtFile(path) as ibt:
        back = ibt.session_info
        frames = ibt.read_block()
    assert (back.session_type, back.session_name, back.laps, back.time_limit_s) == (
        SessionType.PRACTICE,
        "OPEN PRACTICE",
        None,
        5400.0,
    )
    assert back.team_racing and back.session_num == 2
    assert back.track.length_m == pytest.approx(5793.123456, abs=1e-3)
    assert back.track.sector_starts_frac == (0.0, 0.25, 0.5, 0.75)
    assert back.fuel_density_kg_per_l == pytest.approx(0.742)
    assert (back.extra["track_id"], back.extra["series_id"]) == (341, 228)
    assert back.extra["pit_speed_limit_mps"] == pytest.approx(60 / 3.6)
    assert back.extra["est_lap_time_s"] == pytest.approx(98.5)
    _assert_frames_equal(block, frames, cars=False)  # fuel use went through kg/h at 0.742 kg/l


printable_names = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\ufffe\uffff"),
    max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(printable_names, printable_names, printable_names)
def test_any_printable_name_reads_back_exactly(driver: str, team: str, track: str) -> None:
    info, blocks = _demo_session_head()
    player = info.player
    assert player is not None
    drivers = tuple(replace(d, driver_name=driver, team_name=team) if d is player else d for d in info.drivers)
    info = replace(info, drivers=drivers, track=replace(info.track, name=track, display_name=track))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "names.ibt"
        with SessionRecorder(path, info) as recorder:
            recorder.write(blocks)
        with IbtFile(path) as ibt:
            back = ibt.session_info
    assert back.player is not None
    assert (back.player.driver_name, back.player.team_name, back.track.name) == (driver, team, track)
    assert back.drivers == info.drivers


def test_line_breaks_in_names_become_spaces(tmp_path: Path) -> None:
    info, block = _demo_session_head()
    drivers = tuple(replace(d, driver_name="A\nB\tC\u2028D") if d.car_idx == 2 else d for d in info.drivers)
    path = tmp_path / "breaks.ibt"
    with SessionRecorder(path, replace(info, drivers=drivers)) as recorder:
        recorder.write(block)
    with IbtFile(path) as ibt:
        assert ibt.session_info.drivers[2].driver_name == "A B C D"


_HEAD: list[tuple[SessionInfo, FrameBlock]] = []


def _demo_session_head() -> tuple[SessionInfo, FrameBlock]:
    if not _HEAD:
        sim = DemoSim(seed=2, laps=2, opponents=5)
        _HEAD.append((sim.session_info, sim.generate_block(3)))
    return _HEAD[0]


def test_update_session_rewrites_the_yaml(tmp_path: Path, demo: Recording) -> None:
    path = tmp_path / "swap.ibt"
    info = demo.info
    swapped = tuple(
        replace(d, driver_name="Sam Second", driver_id=100_002) if d.car_idx == info.player_car_idx else d
        for d in info.drivers
    )
    with SessionRecorder(path, info) as recorder:
        recorder.write(demo.blocks[0])
        recorder.update_session(replace(info, drivers=swapped, update_count=2))
        recorder.write(demo.blocks[1])
        huge = replace(info, drivers=tuple(replace(d, team_name="x" * 5000) for d in info.drivers))
        with pytest.raises(RecorderError, match="does not fit"):
            recorder.update_session(huge)
    with IbtFile(path) as ibt:
        back = ibt.session_info
        assert ibt.record_count == len(demo.blocks[0]) + len(demo.blocks[1])
    assert back.player is not None and back.player.driver_name == "Sam Second"
    assert back.update_count == 2


# --------------------------------------------------------------------------- life cycle and errors


def test_an_empty_recording_is_a_valid_file(tmp_path: Path, demo: Recording) -> None:
    path = tmp_path / "empty.ibt"
    SessionRecorder(path, demo.info).close()
    with IbtFile(path) as ibt:
        assert ibt.record_count == 0
        assert ibt.session_info.track.name == demo.info.track.name


def test_write_after_close_and_bad_arguments_raise(tmp_path: Path, demo: Recording) -> None:
    recorder = SessionRecorder(tmp_path / "closed.ibt", demo.info)
    recorder.close()
    recorder.close()  # idempotent
    with pytest.raises(RecorderError, match="closed"):
        recorder.write(demo.blocks[0])
    with (
        SessionRecorder(tmp_path / "x.ibt", demo.info) as open_recorder,
        pytest.raises(RecorderError, match="FrameBlock"),
    ):
        open_recorder.write(demo.block.frames)  # type: ignore[arg-type]
    with pytest.raises(RecorderError, match="SessionInfo"):
        SessionRecorder(tmp_path / "y.ibt", "race")  # type: ignore[arg-type]
    with pytest.raises(RecorderError, match="cannot create"):
        SessionRecorder(tmp_path, demo.info)  # a directory
    with pytest.raises(ValueError, match="tick_rate_hz"):
        SessionRecorder(tmp_path / "z.ibt", demo.info, tick_rate_hz=0)


# --------------------------------------------------------------------------- relay batches


def _batches(block: FrameBlock, car_id: int, size: int = 120) -> list[TelemetryBatch]:
    return [
        TelemetryBatch(car_id, seq, block.slice(start, start + size))
        for seq, start in enumerate(range(0, len(block), size), start=1)
    ]


def test_record_batches_from_spooled_payloads(tmp_path: Path, demo: Recording) -> None:
    head = demo.block.slice(0, 1200)
    mine = [encode_batch(b, include_cars=True) for b in _batches(head, car_id=7)]
    other = [encode_batch(b) for b in _batches(head.slice(0, 240), car_id=9)]
    payloads = [mine[0], other[0], mine[1], mine[1], *mine[2:], other[1]]  # interleaved, one resend
    path = tmp_path / "car7.ibt"
    count = record_batches(payloads, path, demo.info, car_id=7)
    assert count == 1200
    expected = FrameBlock.concatenate([decode_batch(p).block for p in mine])  # quantised on the wire
    with IbtFile(path) as ibt:
        back = ibt.read_block()
        assert ibt.session_info.player_car_idx == demo.info.player_car_idx
    _assert_frames_equal(expected, back)
    assert len(split_laps(back)) == len(split_laps(expected))


def test_record_batches_refuses_mixed_cars_and_garbage(tmp_path: Path, demo: Recording) -> None:
    head = demo.block.slice(0, 240)
    decoded = _batches(head, car_id=3) + _batches(head, car_id=4)
    with pytest.raises(RecorderError, match="several cars"):
        record_batches(decoded, tmp_path / "mixed.ibt", demo.info)
    assert record_batches(decoded[:2], tmp_path / "one.ibt", demo.info) == 240
    with pytest.raises(RecorderError, match="decode"):
        record_batches([b"PB not a batch"], tmp_path / "bad.ibt", demo.info)


def test_driver_entry_fields_all_survive_the_yaml(tmp_path: Path, demo: Recording) -> None:
    entry = DriverEntry(
        car_idx=9,
        driver_name='Jo "Fast" O\'Neil \\ #1: yes',
        driver_id=42,
        car_number="007",
        car_name='Car: the "best"',
        car_path="car path/with spaces",
        class_id=5,
        class_name="- GT3",
        team_id=77,
        team_name=",leading comma",
        is_pace_car=False,
        is_spectator=True,
        is_ai=True,
        irating=1234,
        incident_count=17,
    )
    info = replace(demo.info, drivers=(*demo.info.drivers, entry))
    path = tmp_path / "entry.ibt"
    with SessionRecorder(path, info) as recorder:
        recorder.write(demo.blocks[0])
    with IbtFile(path) as ibt:
        assert ibt.session_info.drivers[-1] == entry
