"""CoachStore: segment maps and personal bests per track and car, written atomically, corrupt files set aside."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from coaching.errors import SegmentStoreError
from coaching.reference import PERSONAL_BEST, ReferenceLap
from coaching.segments import CornerName, Segment, SegmentMap
from coaching.trace import CHANNELS, LapTrace
from driver_app.coach_files import CoachStore
from tests.unit.coaching.helpers import Drive, along, grid, make_trace, pedal


def segment_map() -> SegmentMap:
    return SegmentMap(
        2000.0,
        [
            Segment("T1", "Hairpin", 400.0, 560.0, 500.0, 390.5, 470.25, laps_seen=3),
            Segment("C2", "corner 2", 1200.0, 1310.0, 1270.0, None, None),
        ],
    )


def lap_trace(lap_time_s: float | None = 41.5) -> LapTrace:
    dist = grid(2000.0, step_m=2.0)  # already on the storage grid
    speed = along(dist, [(0, 55), (400, 55), (500, 24), (700, 55), (2000, 55)])
    throttle = pedal(dist, 1.0, [(400, 560, 0.0)])
    brake = pedal(dist, 0.0, [(400, 470, 0.9)])
    return make_trace(dist, speed, throttle, brake, lap=7, lap_time_s=lap_time_s)


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_segments_round_trip(tmp_path: Path) -> None:
    store = CoachStore(tmp_path, "pitbox_park Grand Prix", "Test Car GT3")
    assert store.load_segments() is None
    store.save_segments(segment_map())
    loaded = store.load_segments()
    assert loaded is not None
    assert loaded.track_length_m == 2000.0
    assert loaded.segments == segment_map().segments


def test_loaded_segments_carry_the_corner_names_given(tmp_path: Path) -> None:
    store = CoachStore(tmp_path, "t", "c")
    store.save_segments(segment_map())
    names = (CornerName(900.0, "Kink", "T5"),)
    loaded = store.load_segments(names)
    assert loaded is not None and loaded.names == names


def test_personal_best_round_trip(tmp_path: Path) -> None:
    store = CoachStore(tmp_path, "t", "c")
    assert store.load_personal_best() is None
    trace = lap_trace()
    store.save_personal_best(ReferenceLap(trace, PERSONAL_BEST, "Test Driver"))
    loaded = store.load_personal_best()
    assert loaded is not None
    assert (loaded.source, loaded.driver, loaded.lap_time_s) == (PERSONAL_BEST, "Test Driver", 41.5)
    got = loaded.trace
    assert (got.lap, got.track_length_m) == (7, 2000.0)
    np.testing.assert_allclose(got.dist_m, trace.dist_m, atol=0.005)
    np.testing.assert_allclose(got.t_s, trace.t_s, atol=5e-5)
    for name in CHANNELS:
        np.testing.assert_allclose(getattr(got, name), getattr(trace, name), atol=5e-4, err_msg=name)


def test_saving_again_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    store = CoachStore(tmp_path, "t", "c")
    store.save_segments(segment_map())
    store.save_segments(SegmentMap(2000.0))
    loaded = store.load_segments()
    assert loaded is not None and len(loaded) == 0
    assert files_under(tmp_path) == {store.segments_path}


def test_corrupt_json_is_moved_aside_and_reported(tmp_path: Path) -> None:
    store = CoachStore(tmp_path, "t", "c")
    store.directory.mkdir(parents=True)
    store.segments_path.write_text('{"format": 1, "segm', encoding="utf-8")
    with pytest.raises(SegmentStoreError, match="not valid JSON"):
        store.load_segments()
    aside = store.segments_path.with_name("segments.json.corrupt")
    assert not store.segments_path.exists()
    assert aside.read_text(encoding="utf-8") == '{"format": 1, "segm'
    assert store.load_segments() is None  # the next session starts afresh


def test_valid_json_of_the_wrong_shape_is_moved_aside(tmp_path: Path) -> None:
    store = CoachStore(tmp_path, "t", "c")
    store.directory.mkdir(parents=True)
    store.segments_path.write_text(json.dumps({"format": 99, "segments": []}))
    with pytest.raises(SegmentStoreError, match="moved aside"):
        store.load_segments()
    assert store.segments_path.with_name("segments.json.corrupt").exists()
    assert not store.segments_path.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"source": "personal best"},  # no trace
        {"trace": {"lap": 1}},  # trace without arrays
        "a string",
    ],
)
def test_unreadable_personal_best_is_moved_aside(tmp_path: Path, data: object) -> None:
    store = CoachStore(tmp_path, "t", "c")
    store.directory.mkdir(parents=True)
    store.personal_best_path.write_text(json.dumps(data))
    with pytest.raises(SegmentStoreError):
        store.load_personal_best()
    assert store.personal_best_path.with_name("personal_best.json.corrupt").exists()


def test_personal_best_without_a_lap_time_is_rejected(tmp_path: Path) -> None:
    store = CoachStore(tmp_path, "t", "c")
    store.save_personal_best(ReferenceLap(lap_trace(lap_time_s=None), PERSONAL_BEST))
    with pytest.raises(SegmentStoreError, match="lap time"):
        store.load_personal_best()


def test_personal_best_with_unordered_distances_is_rejected(tmp_path: Path) -> None:
    store = CoachStore(tmp_path, "t", "c")
    store.save_personal_best(ReferenceLap(lap_trace(), PERSONAL_BEST))
    data = json.loads(store.personal_best_path.read_text())
    data["trace"]["dist_m"][5] = data["trace"]["dist_m"][4]
    store.personal_best_path.write_text(json.dumps(data))
    with pytest.raises(SegmentStoreError, match="unordered"):
        store.load_personal_best()


def test_file_that_is_not_utf8_is_moved_aside_and_reported(tmp_path: Path) -> None:
    store = CoachStore(tmp_path, "t", "c")
    store.directory.mkdir(parents=True)
    store.segments_path.write_bytes(b"\xff\xfe{garbage")  # e.g. a file half-written when the power went
    with pytest.raises(SegmentStoreError):
        store.load_segments()
    assert store.segments_path.with_name("segments.json.corrupt").exists()


def test_track_and_car_names_make_one_directory_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "data"
    store = CoachStore(root, "Road America (Full)", "Ferrari 296 / GT3")
    assert store.directory == root / "coaching" / "road_america_full" / "ferrari_296_gt3"
    escaping = CoachStore(root, "../../etc", "..")
    assert escaping.directory.resolve().is_relative_to((root / "coaching").resolve())
    assert escaping.directory.parent.name == "etc"
    assert escaping.directory.name == "unknown"


def test_nothing_is_written_outside_the_store_directory(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (tmp_path / "neighbour.txt").write_text("untouched")
    before = files_under(tmp_path)
    store = CoachStore(root, "../../Track", "../Car")
    store.save_segments(segment_map())
    store.save_personal_best(ReferenceLap(lap_trace(), PERSONAL_BEST))
    store.save_segments(segment_map())
    new = files_under(tmp_path) - before
    assert new == {store.segments_path, store.personal_best_path}
    assert all(path.resolve().is_relative_to(store.directory.resolve()) for path in new)
    assert store.directory.resolve().is_relative_to(root.resolve())
    assert (tmp_path / "neighbour.txt").read_text() == "untouched"


# --------------------------------------------------------------------------- through the Copilot


def session_store(root: Path) -> CoachStore:
    """The store the copilot uses for `helpers.make_session()`: track name, and the player's car path."""
    return CoachStore(root, "test_track", "testcar")


def stored_lap_time(store: CoachStore) -> float:
    return float(json.loads(store.personal_best_path.read_text())["trace"]["lap_time_s"])


def drive_one_lap_of_40_s(root: Path) -> Drive:
    d = Drive(start_m=900.0, data_dir=root)
    d.run_for(50.0, speed=25.0)  # the line at 4 s, a 40 s lap, analysed after the next line
    assert [(lap.number, lap.time_s) for lap in d.copilot.laps] == [(2, pytest.approx(40.0))]
    return d


def test_copilot_keeps_a_quicker_stored_personal_best(tmp_path: Path) -> None:
    store = session_store(tmp_path)
    store.save_personal_best(ReferenceLap(lap_trace(lap_time_s=30.0), PERSONAL_BEST, "Test Driver"))
    d = drive_one_lap_of_40_s(tmp_path)
    assert d.copilot.personal_best is not None and d.copilot.personal_best.lap_time_s == 30.0
    assert stored_lap_time(store) == 30.0
    assert store.load_segments() is not None  # the segment map learned on the lap was saved


def test_copilot_stores_a_quicker_lap_as_the_personal_best(tmp_path: Path) -> None:
    store = session_store(tmp_path)
    store.save_personal_best(ReferenceLap(lap_trace(lap_time_s=50.0), PERSONAL_BEST, "Test Driver"))
    drive_one_lap_of_40_s(tmp_path)
    assert stored_lap_time(store) == pytest.approx(40.0)


def test_corrupt_segment_map_does_not_cost_the_stored_personal_best(tmp_path: Path) -> None:
    store = session_store(tmp_path)
    store.save_personal_best(ReferenceLap(lap_trace(lap_time_s=30.0), PERSONAL_BEST, "Test Driver"))
    store.segments_path.write_text("{broken", encoding="utf-8")
    drive_one_lap_of_40_s(tmp_path)
    assert store.segments_path.with_name("segments.json.corrupt").exists()
    # The personal best file was readable: a slower lap must not replace it.
    assert stored_lap_time(store) == 30.0
