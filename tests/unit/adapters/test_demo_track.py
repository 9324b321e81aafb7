"""The demo circuit's track model file: it loads, it is consistent, and bad files fail clearly."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adapters import demo
from adapters.demo_track import (
    DEFAULT_TRACK_FILE,
    EARTH_RADIUS_M,
    TrackModel,
    load_track,
    parse_track,
    track_path,
    track_to_json,
)
from adapters.errors import AdapterError, TrackModelError


@pytest.fixture(scope="module")
def track() -> TrackModel:
    return load_track()


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(track_path().read_text(encoding="utf-8"))
    return data


def test_the_shipped_file_is_found_from_the_package_and_is_small() -> None:
    path = track_path()
    assert path.name == DEFAULT_TRACK_FILE
    assert path.parent.name == "tracks" and path.parent.parent.name == "assets"
    assert path.is_file()
    assert path.stat().st_size < 200_000


def test_the_circuit_has_a_real_scale_and_sectors(track: TrackModel) -> None:
    assert 4000.0 <= track.length_m <= 5000.0
    assert track.sector_starts_frac[0] == 0.0
    assert len(track.sector_starts_frac) == 3
    info = track.track_info()
    assert info.length_m == track.length_m and info.display_name == "PitBox Park"
    assert track.sector_of(np.array([0.0, 0.2, 0.5, 0.99])).tolist() == [0, 0, 1, 2]


def test_corners_are_named_ordered_and_have_braking_zones(track: TrackModel) -> None:
    assert len(track.corners) >= 8
    assert track.corner_ids == tuple(f"T{i}" for i in range(1, len(track.corners) + 1))
    assert track.corner("T1").label == "Turn 1 'Hairpin'"
    for corner in track.corners:
        assert corner.brake_m < corner.brake_end_m <= corner.apex_m <= corner.throttle_m < corner.exit_m
        assert corner.braking_zone.length_m >= 20.0
        assert 10.0 < corner.min_speed_mps < 70.0
        # The radius is consistent with the speed: lateral acceleration of 1.5 to 2.5 g at the apex.
        assert 1.5 * 9.81 < corner.min_speed_mps**2 / corner.radius_m < 2.5 * 9.81
    zones = track.braking_zones
    for before, after in zip(zones, zones[1:], strict=False):
        assert before.end_m < after.start_m
    with pytest.raises(KeyError):
        track.corner("T99")


def test_pit_lane_sits_around_the_line_clear_of_the_corners(track: TrackModel) -> None:
    pit = track.pit_lane
    assert track.corners[-1].exit_m < pit.entry_frac * track.length_m - pit.entry_lane_m
    assert pit.exit_frac * track.length_m < track.corners[0].brake_m
    assert pit.speed_limit_mps == pytest.approx(80 / 3.6, abs=0.01)


def test_outline_is_closed_and_as_long_as_the_lap(track: TrackModel) -> None:
    outline = track.outline
    assert len(outline) >= 300
    assert outline.perimeter_m == pytest.approx(track.length_m, rel=0.01)
    closing_gap_m = math.hypot(outline.x_m[0] - outline.x_m[-1], outline.y_m[0] - outline.y_m[-1])
    assert closing_gap_m == pytest.approx(outline.spacing_m, rel=0.05)
    steps = np.hypot(np.diff(outline.x_m), np.diff(outline.y_m))
    assert steps.max() < 1.05 * outline.spacing_m


def test_outline_turns_where_and_as_much_as_the_corners_say(track: TrackModel) -> None:
    outline = track.outline
    d = track.outline_distance_m
    heading = np.unwrap(np.arctan2(np.diff(outline.closed(outline.y_m)), np.diff(outline.closed(outline.x_m))))
    assert heading[-1] - heading[0] == pytest.approx(-2 * math.pi, abs=0.1)  # one clockwise turn
    for corner in track.corners:
        before = np.interp(corner.turn_in_m - 15.0, d, heading)
        after = np.interp(corner.exit_m + 15.0, d, heading)
        assert math.degrees(after - before) == pytest.approx(corner.sign * corner.angle_deg, abs=3.0)


def test_latitude_and_longitude_are_projected_from_the_origin(track: TrackModel) -> None:
    o, origin = track.outline, track.origin
    north_m = np.radians(o.latitude_deg - origin.latitude_deg) * EARTH_RADIUS_M
    east_m = (
        np.radians(o.longitude_deg - origin.longitude_deg)
        * EARTH_RADIUS_M
        * math.cos(math.radians(origin.latitude_deg))
    )
    assert np.abs(north_m - o.y_m).max() < 0.05
    assert np.abs(east_m - o.x_m).max() < 0.05
    assert (o.latitude_deg[0], o.longitude_deg[0]) == pytest.approx((origin.latitude_deg, origin.longitude_deg))


def test_the_committed_file_is_what_the_generator_writes(track: TrackModel) -> None:
    designed = demo.design_track()
    assert designed.corner_ids == track.corner_ids
    for a, b in zip(designed.corners, track.corners, strict=True):
        assert (a.brake_m, a.apex_m, a.exit_m, a.angle_deg) == pytest.approx(
            (b.brake_m, b.apex_m, b.exit_m, b.angle_deg), abs=0.11
        )
    assert np.abs(designed.outline.x_m - track.outline.x_m).max() < 0.05


def test_generate_track_file_round_trips(tmp_path: Path, track: TrackModel) -> None:
    written = demo.generate_track_file(tmp_path / "tracks" / "copy.json")
    loaded = load_track(tmp_path / "tracks" / "copy.json")
    assert loaded.corner_ids == written.corner_ids
    assert loaded.outline.perimeter_m == pytest.approx(track.length_m, rel=1e-4)
    again = parse_track(json.loads(track_to_json(loaded)))
    assert again.corners == loaded.corners


def test_a_missing_file_is_a_track_model_error(tmp_path: Path) -> None:
    with pytest.raises(TrackModelError, match="not found"):
        load_track(tmp_path / "nope.json")


def test_invalid_json_is_a_track_model_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"format": 1, "name": ', encoding="utf-8")
    with pytest.raises(TrackModelError, match="not valid JSON"):
        load_track(path)


def _broken(raw: dict[str, Any], change: str) -> Any:
    data = json.loads(json.dumps(raw))
    if change == "format":
        data["format"] = 99
    elif change == "no length":
        del data["length_m"]
    elif change == "length is text":
        data["length_m"] = "4650"
    elif change == "corner order":
        data["corners"][2]["apex_m"] = data["corners"][2]["exit_m"] + 1.0
    elif change == "overlapping corners":
        data["corners"][1]["brake_m"] = data["corners"][0]["exit_m"] - 1.0
    elif change == "duplicate id":
        data["corners"][1]["id"] = data["corners"][0]["id"]
    elif change == "direction":
        data["corners"][0]["direction"] = "up"
    elif change == "outline points":
        data["outline"]["points"][3] = [1.0, 2.0]
    elif change == "outline length":
        data["outline"]["points"] = [[x * 2.0, y * 2.0, z, la, lo] for x, y, z, la, lo in data["outline"]["points"]]
    elif change == "sectors":
        data["sector_starts_frac"] = [0.0, 0.7, 0.3]
    elif change == "pit lane":
        data["pit_lane"]["entry_frac"] = 0.2
    elif change == "not an object":
        return [data]
    return data


@pytest.mark.parametrize(
    "change",
    [
        "format",
        "no length",
        "length is text",
        "corner order",
        "overlapping corners",
        "duplicate id",
        "direction",
        "outline points",
        "outline length",
        "sectors",
        "pit lane",
        "not an object",
    ],
)
def test_malformed_models_are_track_model_errors(tmp_path: Path, raw: dict[str, Any], change: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_broken(raw, change)), encoding="utf-8")
    with pytest.raises(TrackModelError) as caught:
        load_track(path)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, AdapterError)


def test_the_demo_sim_reports_a_bad_track_file(tmp_path: Path) -> None:
    with pytest.raises(TrackModelError):
        demo.DemoSim(track_file=tmp_path / "missing.json")
