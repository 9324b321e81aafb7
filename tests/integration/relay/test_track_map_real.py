"""Track maps and lap history on real recordings (see ../shared/data/PROVENANCE.md).

* Martinsville (.ibt, 2015): two complete flying laps with GPS. The map learned from GPS and the
  map dead-reckoned from the same laps (latitude/longitude removed, as live iRacing gives them)
  must agree. Measured: 1.76 m RMS after rigid alignment (single laps 1.52 and 2.03 m, at most
  3.9 m at any point); the two GPS laps differ from each other by 0.94 m (the driven line). The
  limit, 4 m, is 0.5 % of the 790 m lap and a quarter of the track's width.
* Sebring (.ibt, 2025) completes no lap (an out-lap, then a reset to the pits), so no flying lap
  can be learned from it. Instead VRKit's recorded Sebring lap (a `.trackmap` from another tool)
  is made into a GPS outline, and the Sebring car's own GPS must lie on it at the same lap
  fractions. Measured: 1.67 m RMS (4.8 m at most) once the pit-exit lane has joined the track at
  lap fraction 0.10; before that the car drives beside the racing line (15-19 m apart, the
  surface reads "approaching pits" up to 0.07), so those samples are left out. Limit: 4 m.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adapters.ibt import IbtFile
from adapters.laps import split_laps
from adapters.model import FrameBlock, LapKind
from relay.car_history import CarHistory
from relay.track_map import align_rms_m, outline_from_lap, perimeter_m
from tests.support.reference import reference_path
from tests.support.trackmap import read_trackmap

pytestmark = pytest.mark.integration

MARTINSVILLE_LENGTH_M = 790.0
GPS_VS_DEAD_RECKONING_LIMIT_M = 4.0
SEBRING_LIMIT_M = 4.0
PIT_EXIT_JOINS_FRAC = 0.10
EARTH_RADIUS_M = 6_371_008.8


@pytest.fixture(scope="module")
def martinsville() -> tuple[FrameBlock, dict[str, Any]]:
    with IbtFile(reference_path("ibt", "skmodtour_martinsville_laps_2015.ibt")) as ibt:
        return ibt.read_block(), ibt.session_info.to_dict()


@pytest.fixture(scope="module")
def sebring() -> tuple[FrameBlock, dict[str, Any]]:
    with IbtFile(reference_path("ibt", "gt4_sebring_outlap_reset_2025.ibt")) as ibt:
        return ibt.read_block(), ibt.session_info.to_dict()


def history_of(block: FrameBlock, session: dict[str, Any]) -> tuple[CarHistory, list[dict[str, Any]]]:
    history = CarHistory(1)
    history.on_session(session)
    rows: list[dict[str, Any]] = []
    for start in range(0, len(block), 6):
        rows += history.feed(block.slice(start, start + 6))
    return history, rows


def test_martinsville_laps_are_found_as_split_laps_finds_them(martinsville: tuple[FrameBlock, dict[str, Any]]) -> None:
    block, session = martinsville
    history, rows = history_of(block, session)
    expected = [lap.to_dict() for lap in split_laps(block)]
    assert [(r["lap"], r["kind"], r["time_s"]) for r in rows] == [(e["lap"], e["kind"], e["time_s"]) for e in expected]
    assert [(r["lap"], r["kind"], r["stint"], r["pit"]) for r in rows] == [
        (31, "out", 1, True),
        (32, "flying", 1, False),
        (33, "flying", 1, False),
    ]
    assert rows[-1]["driver"] == "Loren Roberts2"
    assert rows[-1]["position"] is None and rows[-1]["incidents"] is None  # the 2015 file has neither
    view = history.laps_view()
    assert (view["best_lap"], view["best_time_s"]) == (32, pytest.approx(19.301, abs=0.002))
    losses = history.segment_losses()
    assert losses is not None and (losses["lap"], losses["best_lap"]) == (33, 32)
    assert sum(losses["loss_s"]) == pytest.approx(rows[2]["time_s"] - rows[1]["time_s"], abs=0.005)


def test_martinsville_map_is_learned_from_gps(martinsville: tuple[FrameBlock, dict[str, Any]]) -> None:
    history, _ = history_of(*martinsville)
    learned = history.learned_map()
    assert learned is not None
    assert (learned.track, learned.source, learned.laps_used, learned.length_m) == (
        "martinsville",
        "gps",
        2,
        MARTINSVILLE_LENGTH_M,
    )
    assert perimeter_m(learned.points_m) == pytest.approx(MARTINSVILLE_LENGTH_M, rel=0.01)
    # An oval about 190 m by 320 m, its long axis north-south.
    width, height = learned.points_m.max(axis=0) - learned.points_m.min(axis=0)
    assert 150 < width < 250 and 280 < height < 360


def test_martinsville_dead_reckoned_map_agrees_with_the_gps_map(
    martinsville: tuple[FrameBlock, dict[str, Any]],
) -> None:
    block, session = martinsville
    frames = block.frames.copy()
    frames["latitude_deg"] = np.nan
    frames["longitude_deg"] = np.nan
    gps, _ = history_of(block, session)
    dead, _ = history_of(FrameBlock(frames), session)
    gps_map, dead_map = gps.learned_map(), dead.learned_map()
    assert gps_map is not None and dead_map is not None
    assert (dead_map.source, dead_map.laps_used) == ("dead_reckoning", 2)
    assert align_rms_m(gps_map.points_m, dead_map.points_m) < GPS_VS_DEAD_RECKONING_LIMIT_M
    assert perimeter_m(dead_map.points_m) == pytest.approx(MARTINSVILLE_LENGTH_M, rel=0.01)


def test_sebring_recording_completes_no_lap_so_there_is_no_trace_or_map(
    sebring: tuple[FrameBlock, dict[str, Any]],
) -> None:
    history, rows = history_of(*sebring)
    assert rows == [] and split_laps(sebring[0]) == []
    assert history.best_trace() is None and history.learned_map() is None
    # It left the pit box (stint 1 begins) and was towed back; a stint starts only when it leaves again.
    assert history.laps_view()["stint"] == 1


@pytest.fixture(scope="module")
def vrkit_sebring_outline() -> np.ndarray:
    lap = read_trackmap(reference_path("trackmap", "sebring_international.trackmap"))
    assert lap.lap == 6 and len(lap.lap_frac) == 6437
    no_value = np.full(len(lap.lap_frac), np.nan)
    outline, source = outline_from_lap(
        lap.lap_frac, lap.latitude_deg, lap.longitude_deg, no_value, no_value, np.arange(len(lap.lap_frac)) / 60.0
    )
    assert source == "gps"
    return outline


def test_vrkit_sebring_lap_makes_an_outline_as_long_as_the_track(
    vrkit_sebring_outline: np.ndarray, sebring: tuple[FrameBlock, dict[str, Any]]
) -> None:
    _, session = sebring
    assert perimeter_m(vrkit_sebring_outline) == pytest.approx(session["track"]["length_m"], rel=0.01)


def test_recorded_sebring_car_lies_on_the_vrkit_outline_at_the_same_lap_fraction(
    vrkit_sebring_outline: np.ndarray, sebring: tuple[FrameBlock, dict[str, Any]]
) -> None:
    block, _ = sebring
    frac = block.lap_dist_frac.astype(np.float64)
    on_track = block.in_world & ~block.on_pit_road & (block.speed_mps > 5.0) & (frac >= PIT_EXIT_JOINS_FRAC)
    assert on_track.sum() > 1000
    frac = frac[on_track]
    lat, lon = np.radians(block.latitude_deg[on_track]), np.radians(block.longitude_deg[on_track])
    # The car's GPS in local metres (its own frame; the rigid alignment removes the offset).
    car = np.column_stack(
        (EARTH_RADIUS_M * np.cos(lat.mean()) * (lon - lon.mean()), EARTH_RADIUS_M * (lat - lat.mean()))
    )
    grid = np.arange(len(vrkit_sebring_outline)) / len(vrkit_sebring_outline)
    on_map = np.column_stack([np.interp(frac, grid, vrkit_sebring_outline[:, k], period=1.0) for k in (0, 1)])
    assert np.hypot(*np.ptp(car, axis=0)) > 500  # a long stretch of track, not a point
    assert align_rms_m(on_map, car) < SEBRING_LIMIT_M


def test_trackmap_reader_rejects_a_truncated_file(tmp_path: Path) -> None:
    data = reference_path("trackmap", "sebring_international.trackmap").read_bytes()
    broken = tmp_path / "broken.trackmap"
    broken.write_bytes(data[: len(data) // 2 + 3])
    with pytest.raises(ValueError):
        read_trackmap(broken)


def test_martinsville_flying_laps_each_dead_reckon_close_to_their_gps(
    martinsville: tuple[FrameBlock, dict[str, Any]],
) -> None:
    block, _ = martinsville
    flying = [lap for lap in split_laps(block) if lap.kind is LapKind.FLYING]
    assert [lap.number for lap in flying] == [32, 33]
    for lap in flying:
        part = block.slice(lap.start_index, lap.end_index)
        gps, _ = outline_from_lap(
            part.lap_dist_frac,
            part.latitude_deg,
            part.longitude_deg,
            part.speed_mps,
            part.yaw_rate_radps,
            part.session_time_s,
        )
        no_value = np.full(len(part), np.nan)
        dead, source = outline_from_lap(
            part.lap_dist_frac, no_value, no_value, part.speed_mps, part.yaw_rate_radps, part.session_time_s
        )
        assert source == "dead_reckoning"
        assert align_rms_m(gps, dead) < GPS_VS_DEAD_RECKONING_LIMIT_M
