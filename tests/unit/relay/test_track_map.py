"""Track maps: keys, track files, outlines from GPS and dead reckoning, alignment, learning, validation.

Laps come from the real demo sim (deterministic); its track file `assets/tracks/pitbox_park.json`
holds the true outline, so every learned outline is checked against the track itself.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adapters.demo import DemoSim
from adapters.laps import split_laps
from adapters.model import FrameBlock, LapKind
from relay.errors import RelayError
from relay.track_map import (
    TrackMap,
    TrackMapError,
    TrackMapLearner,
    align,
    align_rms_m,
    map_from_track_file,
    outline_from_lap,
    perimeter_m,
    track_key,
)

TRACK_FILE = Path(__file__).resolve().parents[3] / "assets" / "tracks" / "pitbox_park.json"
LENGTH_M = 4650.0
# Measured on seeds 1, 3, 5 and 8 (see the report): GPS outlines are 0.039 m RMS from the track
# file (resampling only), dead-reckoned ones 0.28..0.65 m. The limits leave a margin of ~5x.
GPS_LIMIT_M = 0.25
DEAD_RECKONING_LIMIT_M = 2.0


@pytest.fixture(scope="module")
def track_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(TRACK_FILE.read_text(encoding="utf-8"))
    return doc


@pytest.fixture(scope="module")
def truth(track_doc: dict[str, Any]) -> np.ndarray:
    return map_from_track_file(track_doc).points_m


@pytest.fixture(scope="module")
def flying_laps() -> list[FrameBlock]:
    """The frames of the flying laps of a 6-lap demo race (one pit stop after lap 3)."""
    block = DemoSim(seed=3, laps=6, pit_every_laps=3, opponents=0).generate_block(10**6, cars=False)
    laps = [block.slice(lap.start_index, lap.end_index) for lap in split_laps(block) if lap.kind is LapKind.FLYING]
    assert len(laps) >= 3
    return laps


def channels(lap: FrameBlock, *, gps: bool = True) -> tuple[np.ndarray, ...]:
    lat = lap.latitude_deg if gps else np.full(len(lap), np.nan)
    lon = lap.longitude_deg if gps else np.full(len(lap), np.nan)
    return lap.lap_dist_frac, lat, lon, lap.speed_mps, lap.yaw_rate_radps, lap.session_time_s


def rotated(points: np.ndarray, angle_rad: float, shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    moved: np.ndarray = points @ np.array([[c, s], [-s, c]]) + np.array(shift)
    return moved


# --------------------------------------------------------------------------- keys


@pytest.mark.parametrize(
    ("session", "key"),
    [
        ({"track": {"name": "pitbox_park", "config": "Grand Prix"}}, "pitbox_park-grand_prix"),
        (
            {"track": {"name": "sebring international", "config": "International"}},
            "sebring_international-international",
        ),
        ({"track": {"name": "martinsville", "config": ""}}, "martinsville"),
        ({"track": {"name": "Spa/Francorchamps", "config": "Endurance (24h)"}}, "spa_francorchamps-endurance_24h"),
        ({"track": {"name": "../../etc/passwd"}}, "etc_passwd"),
        ({"track": {"name": ""}}, "unknown"),
        ({"track": {"name": 12}}, "unknown"),
        ({"track": "monza"}, "unknown"),
        ({}, "unknown"),
    ],
)
def test_track_key_is_lowercase_and_safe_for_a_file_name(session: dict[str, Any], key: str) -> None:
    assert track_key(session) == key


# --------------------------------------------------------------------------- track files and documents


def test_track_file_outline_is_resampled_at_equal_lap_fractions(track_doc: dict[str, Any]) -> None:
    file_points = np.array([row[:2] for row in track_doc["outline"]["points"]])
    same = map_from_track_file(track_doc, points=len(file_points))
    np.testing.assert_allclose(same.points_m, file_points, atol=1e-9)

    track_map = map_from_track_file(track_doc)
    assert (track_map.track, track_map.source, track_map.length_m, track_map.laps_used) == (
        "pitbox_park-grand_prix",
        "file",
        LENGTH_M,
        0,
    )
    assert track_map.points_m.shape == (512, 2)
    # Point i is at lap distance i/512 of the lap; the file has a point every 10 m.
    distance = 100 * LENGTH_M / 512
    expected = file_points[int(distance // 10)] + (distance % 10) / 10 * np.diff(
        file_points[int(distance // 10) : int(distance // 10) + 2], axis=0
    )
    np.testing.assert_allclose(track_map.points_m[100], expected[0], atol=1e-9)
    assert perimeter_m(track_map.points_m) == pytest.approx(LENGTH_M, rel=0.005)


def test_map_document_round_trips_through_json_at_centimetre_precision(truth: np.ndarray) -> None:
    original = TrackMap("pitbox_park-grand_prix", "gps", truth + 0.004321, LENGTH_M, 3)
    document = json.loads(json.dumps(original.to_dict(), allow_nan=False))
    assert document["points"][0] == [round(float(v), 2) for v in original.points_m[0]]
    back = TrackMap.from_dict(document)
    assert (back.track, back.source, back.length_m, back.laps_used) == ("pitbox_park-grand_prix", "gps", LENGTH_M, 3)
    assert np.abs(back.points_m - original.points_m).max() <= 0.005 + 1e-9
    with pytest.raises(ValueError):
        back.points_m[0, 0] = 1.0  # read-only: a map is a value


def good_document() -> dict[str, Any]:
    return {"track": "x", "source": "gps", "length_m": 100.0, "laps_used": 1, "points": [[0, 0], [10, 0], [0, 10]]}


@pytest.mark.parametrize(
    "change",
    [
        {"points": [[0, 0], [1, 1]]},
        {"points": [[0, 0], [1, 1], [2]]},
        {"points": [[0, 0], [1, 1], [2, "3"]]},
        {"points": [[0, 0], [1, 1], [2, True]]},
        {"points": [[0, 0], [1, 1], [2, float("nan")]]},
        {"points": "0,0 1,1 2,2"},
        {"points": [[0, 0]] * 10_001},
        {"source": "guess"},
        {"length_m": 0},
        {"length_m": -5.0},
        {"length_m": "4650"},
        {"length_m": float("inf")},
        {"laps_used": -1},
        {"laps_used": 1.5},
        {"laps_used": True},
        {"track": ""},
        {"track": "../etc"},
        {"track": None},
    ],
)
def test_from_dict_rejects_a_malformed_document_with_a_typed_error(change: dict[str, Any]) -> None:
    TrackMap.from_dict(good_document())  # the base document is fine
    with pytest.raises(TrackMapError) as caught:
        TrackMap.from_dict({**good_document(), **change})
    assert isinstance(caught.value, RelayError)


@pytest.mark.parametrize("document", [None, [], "map", {"track": "x"}])
def test_from_dict_rejects_what_is_not_a_map_document(document: Any) -> None:
    with pytest.raises(TrackMapError):
        TrackMap.from_dict(document)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.pop("outline"),
        lambda d: d["outline"].update(columns=["a", "b"]),
        lambda d: d["outline"].update(points=d["outline"]["points"][:2]),
        lambda d: d["outline"]["points"].__setitem__(5, [1.0]),
        lambda d: d.update(length_m=None),
    ],
)
def test_a_damaged_track_file_raises_a_typed_error(track_doc: dict[str, Any], damage: Any) -> None:
    doc = json.loads(json.dumps(track_doc))
    damage(doc)
    with pytest.raises(TrackMapError):
        map_from_track_file(doc)


# --------------------------------------------------------------------------- outlines of laps


def test_gps_outline_of_a_lap_matches_the_track_file(flying_laps: list[FrameBlock], truth: np.ndarray) -> None:
    for lap in flying_laps:
        outline, source = outline_from_lap(*channels(lap))
        assert source == "gps" and outline.shape == (512, 2)
        assert align_rms_m(truth, outline) < GPS_LIMIT_M
        # GPS keeps north up: no rotation is needed, only the projection's origin differs.
        assert np.sqrt(np.mean(np.sum((align(truth, outline, rotate=False) - truth) ** 2, axis=1))) < GPS_LIMIT_M


def test_dead_reckoned_outline_matches_the_track_file_without_mirroring(
    flying_laps: list[FrameBlock], truth: np.ndarray
) -> None:
    for lap in flying_laps:
        outline, source = outline_from_lap(*channels(lap, gps=False))
        assert source == "dead_reckoning"
        assert align_rms_m(truth, outline) < DEAD_RECKONING_LIMIT_M
        mirrored = outline * np.array([1.0, -1.0])
        assert align_rms_m(truth, mirrored) > 100.0  # the turn direction is right, not mirrored
        assert perimeter_m(outline) == pytest.approx(LENGTH_M, rel=0.005)


def test_dead_reckoning_corrects_a_yaw_rate_bias_and_closes_the_lap(
    flying_laps: list[FrameBlock], truth: np.ndarray
) -> None:
    lap = flying_laps[0]
    frac, lat, lon, speed, yaw, time_s = channels(lap, gps=False)
    biased = yaw.astype(np.float64) + 0.01  # 0.01 rad/s: about 55 degrees over a 95 s lap
    dt = np.diff(time_s)
    heading = np.concatenate(([0.0], np.cumsum(biased[:-1] * dt)))
    naive_gap_m = math.hypot(
        np.sum(speed[:-1] * np.cos(heading[:-1]) * dt), np.sum(speed[:-1] * np.sin(heading[:-1]) * dt)
    )
    assert naive_gap_m > 100.0  # integrated as it comes, the lap does not close at all
    outline, _ = outline_from_lap(frac, lat, lon, speed, biased, time_s)
    assert align_rms_m(truth, outline) < DEAD_RECKONING_LIMIT_M


def test_dead_reckoning_closes_the_outline_when_the_speed_reads_wrong_on_part_of_the_lap(
    flying_laps: list[FrameBlock], truth: np.ndarray
) -> None:
    frac, lat, lon, speed, yaw, time_s = channels(flying_laps[0], gps=False)
    wrong = speed * np.where(frac < 0.5, 1.05, 1.0)  # 5 % fast on the first half only
    outline, _ = outline_from_lap(frac, lat, lon, wrong, yaw, time_s)
    steps = np.linalg.norm(np.diff(np.vstack((outline, outline[:1])), axis=0), axis=1)
    # The step across the line is like every other step: the closure error was spread along the lap.
    assert steps[-1] == pytest.approx(np.median(steps), rel=0.1)
    assert align_rms_m(truth, outline) < 0.01 * LENGTH_M


@pytest.mark.parametrize(("missing_share", "source"), [(0.04, "gps"), (0.06, "dead_reckoning")])
def test_gps_is_used_when_at_least_95_percent_of_samples_have_a_position(
    flying_laps: list[FrameBlock], truth: np.ndarray, missing_share: float, source: str
) -> None:
    frac, lat, lon, speed, yaw, time_s = channels(flying_laps[0])
    lat = lat.copy()
    lat[np.random.default_rng(1).random(len(lat)) < missing_share] = np.nan
    outline, used = outline_from_lap(frac, lat, lon, speed, yaw, time_s)
    assert used == source
    assert align_rms_m(truth, outline) < DEAD_RECKONING_LIMIT_M


def test_lap_fraction_glitches_at_the_line_and_repeats_do_not_break_the_outline(
    flying_laps: list[FrameBlock], truth: np.ndarray
) -> None:
    frac, lat, lon, speed, yaw, time_s = (np.asarray(a, dtype=np.float64).copy() for a in channels(flying_laps[0]))
    frac[0] = 0.9999  # the fraction wrapped one tick late
    frac[500] = frac[499]  # a repeated value
    frac[900] = frac[898]  # a step back
    for gps in (True, False):
        la, lo = (lat, lon) if gps else (np.full_like(lat, np.nan), np.full_like(lon, np.nan))
        outline, _ = outline_from_lap(frac, la, lo, speed, yaw, time_s)
        assert align_rms_m(truth, outline) < (GPS_LIMIT_M if gps else DEAD_RECKONING_LIMIT_M)


def test_too_few_samples_raise_a_typed_error(flying_laps: list[FrameBlock]) -> None:
    short = flying_laps[0].slice(0, 20)
    with pytest.raises(TrackMapError, match="at least"):
        outline_from_lap(*channels(short))
    with pytest.raises(TrackMapError):
        outline_from_lap([], [], [], [], [], [])


def test_part_of_a_lap_or_mismatched_channels_raise_a_typed_error(flying_laps: list[FrameBlock]) -> None:
    lap = flying_laps[0]
    with pytest.raises(TrackMapError, match="not a complete lap"):
        outline_from_lap(*channels(lap.slice(0, len(lap) // 2)))
    frac, lat, lon, speed, yaw, time_s = channels(lap)
    with pytest.raises(TrackMapError, match="same number"):
        outline_from_lap(frac, lat[:-1], lon, speed, yaw, time_s)
    with pytest.raises(TrackMapError, match="time order"):
        outline_from_lap(frac, lat, lon, speed, yaw, time_s[::-1])
    with pytest.raises(TrackMapError):
        outline_from_lap(frac, lat, lon, speed, yaw, time_s, points=2)


# --------------------------------------------------------------------------- alignment


def test_alignment_undoes_rotation_and_translation_but_not_a_mirror(truth: np.ndarray) -> None:
    moved = rotated(truth, 2.0, (350.0, -1200.0))
    assert align_rms_m(truth, moved) < 1e-6
    np.testing.assert_allclose(align(truth, moved), truth, atol=1e-6)
    assert align_rms_m(truth, truth * np.array([-1.0, 1.0])) > 100.0
    assert align_rms_m(truth, truth + 3.0) < 1e-9
    with pytest.raises(TrackMapError):
        align_rms_m(truth, truth[:-1])


# --------------------------------------------------------------------------- learning


def test_learner_has_no_map_before_a_lap_and_rejects_a_file_source(truth: np.ndarray) -> None:
    learner = TrackMapLearner()
    assert learner.map("pitbox_park-grand_prix", LENGTH_M) is None
    with pytest.raises(TrackMapError):
        learner.add_lap(truth, "file")


def test_learner_prefers_gps_to_dead_reckoning_and_averages_at_most_five_laps(
    flying_laps: list[FrameBlock], truth: np.ndarray
) -> None:
    learner = TrackMapLearner()
    dead = [outline_from_lap(*channels(lap, gps=False))[0] for lap in flying_laps]
    for outline in dead:
        learner.add_lap(outline, "dead_reckoning")
    first = learner.map("pitbox_park-grand_prix", LENGTH_M)
    assert first is not None and first.source == "dead_reckoning" and first.laps_used == len(dead)
    assert align_rms_m(truth, first.points_m) < DEAD_RECKONING_LIMIT_M

    gps = outline_from_lap(*channels(flying_laps[0]))[0]
    learner.add_lap(gps, "gps")
    second = learner.map("pitbox_park-grand_prix", LENGTH_M)
    assert second is not None and second.source == "gps" and second.laps_used == 1
    for _ in range(7):
        learner.add_lap(gps, "gps")
    third = learner.map("pitbox_park-grand_prix", 0.0)
    assert third is not None and third.laps_used == 5
    assert third.length_m == pytest.approx(perimeter_m(third.points_m))  # no lap length given: the perimeter


def test_learner_aligns_dead_reckoned_laps_before_averaging(flying_laps: list[FrameBlock], truth: np.ndarray) -> None:
    outline = outline_from_lap(*channels(flying_laps[0], gps=False))[0]
    learner = TrackMapLearner()
    for angle in (0.0, 1.5, 3.0, -2.0):
        learner.add_lap(rotated(outline, angle, (angle * 100, 5.0)), "dead_reckoning")
    learned = learner.map("t", LENGTH_M)
    assert learned is not None and learned.laps_used == 4
    # Averaged without alignment the four copies would shrink into a blob far from the track.
    naive = np.mean([rotated(outline, a) for a in (0.0, 1.5, 3.0, -2.0)], axis=0)
    assert align_rms_m(truth, naive) > 100.0
    assert align_rms_m(truth, learned.points_m) < DEAD_RECKONING_LIMIT_M


def test_learner_leaves_out_a_lap_that_disagrees_with_the_others(
    flying_laps: list[FrameBlock], truth: np.ndarray
) -> None:
    learner = TrackMapLearner()
    good = [outline_from_lap(*channels(lap, gps=False))[0] for lap in flying_laps]
    bad = good[0] * 0.8  # a lap whose speed was scaled: the wrong size
    learner.add_lap(bad, "dead_reckoning")
    for outline in good:
        learner.add_lap(outline, "dead_reckoning")
    learned = learner.map("t", LENGTH_M)
    assert learned is not None and learned.laps_used == len(good)
    assert align_rms_m(truth, learned.points_m) < DEAD_RECKONING_LIMIT_M
