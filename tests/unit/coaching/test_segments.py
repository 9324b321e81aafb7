"""Segments: corners found on one lap, and a segment map whose ids stay put from lap to lap."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from coaching.errors import SegmentStoreError
from coaching.segments import CornerName, DetectedCorner, Segment, SegmentMap, detect_corners
from coaching.trace import LapTrace
from tests.unit.coaching.helpers import along, grid, make_trace, pedal

LENGTH_M = 2000.0


def two_corner_lap(shift: float = 0.0) -> LapTrace:
    """Two braking zones (400 m and 1200 m), plus a lift that does not slow the car and a brake tap.

    Corner 1: brake 400..470, off throttle to the apex at 500 (24 m/s), part throttle to 560.
    Corner 2: brake 1200..1240, apex at 1270 (34 m/s), part throttle to 1310.
    """
    s = shift
    dist = grid(LENGTH_M)
    speed = along(
        dist,
        [
            (0, 60),
            (400 + s, 60),
            (480 + s, 25),
            (500 + s, 24),
            (700 + s, 60),
            (1200 + s, 60),
            (1250 + s, 35),
            (1270 + s, 34),
            (1400 + s, 60),
            (2000, 60),
        ],
    )
    throttle = pedal(
        dist,
        1.0,
        [
            (400 + s, 500 + s, 0.0),
            (500 + s, 560 + s, 0.5),
            (900 + s, 960 + s, 0.7),  # a lift at full speed: not a corner
            (1200 + s, 1270 + s, 0.0),
            (1270 + s, 1310 + s, 0.6),
        ],
    )
    brake = pedal(
        dist,
        0.0,
        [
            (400 + s, 470 + s, 0.9),
            (1200 + s, 1240 + s, 0.8),
            (1600 + s, 1605 + s, 0.3),  # a tap of 5 m at 60 m/s (0.08 s): not a corner
        ],
    )
    return make_trace(dist, speed, throttle, brake)


def lift_lap(drop_mps: float) -> LapTrace:
    """A lift (throttle 0.2 from 400 to 470 m, no brake) that slows the car by `drop_mps` at 450 m."""
    dist = grid(1000.0)
    speed = along(dist, [(0, 60), (400, 60), (450, 60 - drop_mps), (520, 60), (1000, 60)])
    throttle = pedal(dist, 1.0, [(400, 470, 0.2)])
    return make_trace(dist, speed, throttle, np.zeros(len(dist)))


def corner(start: float, end: float, apex: float, brake: tuple[float, float] | None = None) -> DetectedCorner:
    return DetectedCorner(
        start_m=start,
        end_m=end,
        apex_m=apex,
        min_speed_mps=20.0,
        brake_start_m=None if brake is None else brake[0],
        brake_end_m=None if brake is None else brake[1],
    )


def segment(id_: str, start: float, end: float, apex: float, brake_start: float | None = None) -> Segment:
    return Segment(id_, f"name of {id_}", start, end, apex, brake_start, None if brake_start is None else apex)


# --------------------------------------------------------------------------- detect_corners


def test_two_braking_zones_are_two_corners_and_a_lift_at_speed_and_a_tap_are_none() -> None:
    corners = detect_corners(two_corner_lap())
    assert corners == [
        DetectedCorner(
            start_m=400.0, end_m=560.0, apex_m=500.0, min_speed_mps=24.0, brake_start_m=400.0, brake_end_m=469.0
        ),
        DetectedCorner(
            start_m=1200.0, end_m=1310.0, apex_m=1270.0, min_speed_mps=34.0, brake_start_m=1200.0, brake_end_m=1239.0
        ),
    ]


@pytest.mark.parametrize(("drop_mps", "is_corner"), [(0.0, False), (1.5, False), (2.5, True), (10.0, True)])
def test_lift_is_a_corner_only_when_it_slows_the_car_by_two_metres_per_second(drop_mps: float, is_corner: bool) -> None:
    corners = detect_corners(lift_lap(drop_mps))
    if not is_corner:
        assert corners == []
        return
    (only,) = corners
    assert (only.start_m, only.end_m, only.apex_m) == (400.0, 470.0, 450.0)
    assert only.min_speed_mps == pytest.approx(60.0 - drop_mps)
    assert only.brake_start_m is None and only.brake_end_m is None


def test_light_braking_long_enough_is_a_corner_without_a_speed_drop() -> None:
    dist = grid(1000.0)
    speed = np.full(len(dist), 40.0)
    brake = pedal(dist, 0.0, [(500, 530, 0.2)])  # 30 m at 40 m/s: 0.73 s of braking
    (only,) = detect_corners(make_trace(dist, speed, np.ones(len(dist)), brake))
    assert (only.start_m, only.end_m, only.brake_start_m, only.brake_end_m) == (500.0, 530.0, 500.0, 529.0)


def close_corners_lap() -> LapTrace:
    """Two corners 20 m apart (full throttle from 600 to 620 m): one segment, an esses."""
    dist = grid(LENGTH_M)
    speed = along(dist, [(0, 55), (500, 55), (560, 30), (600, 40), (620, 42), (680, 28), (740, 55), (2000, 55)])
    throttle = pedal(dist, 1.0, [(500, 560, 0.0), (560, 600, 0.5), (620, 680, 0.0), (680, 720, 0.5)])
    brake = pedal(dist, 0.0, [(500, 540, 0.7), (620, 650, 0.6)])
    return make_trace(dist, speed, throttle, brake)


def test_corners_closer_than_the_merge_gap_are_one_segment() -> None:
    (merged,) = detect_corners(close_corners_lap())
    assert (merged.start_m, merged.end_m) == (500.0, 720.0)
    assert merged.apex_m == 680.0  # the slower of the two apexes
    assert merged.min_speed_mps == 28.0
    assert (merged.brake_start_m, merged.brake_end_m) == (500.0, 649.0)


def test_a_smaller_merge_gap_keeps_close_corners_apart() -> None:
    first, second = detect_corners(close_corners_lap(), merge_gap_m=15.0)
    assert (first.start_m, first.end_m, first.apex_m) == (500.0, 600.0, 560.0)
    assert (second.start_m, second.end_m, second.apex_m) == (620.0, 720.0, 680.0)


def test_straight_lap_has_no_corners() -> None:
    dist = grid(1000.0)
    trace = make_trace(dist, np.full(len(dist), 50.0), np.ones(len(dist)), np.zeros(len(dist)))
    assert detect_corners(trace) == []


# --------------------------------------------------------------------------- SegmentMap.learn


def test_learn_gives_new_corners_numbered_ids_and_names() -> None:
    segments = SegmentMap(LENGTH_M)
    ids = segments.learn(detect_corners(two_corner_lap()))
    assert ids == ["C1", "C2"]
    assert [s.name for s in segments.segments] == ["corner 1", "corner 2"]
    assert [s.laps_seen for s in segments.segments] == [1, 1]
    assert len(segments) == 2
    assert segments.get("C2") is segments.segments[1]
    assert segments.get("C9") is None


@pytest.mark.parametrize("shift", [4.0, -6.0, 12.0])
def test_learn_keeps_ids_when_corners_move_a_few_metres(shift: float) -> None:
    segments = SegmentMap(LENGTH_M)
    segments.learn(detect_corners(two_corner_lap()))
    ids = segments.learn(detect_corners(two_corner_lap(shift)))
    assert ids == ["C1", "C2"]
    first, second = segments.segments
    assert (first.laps_seen, second.laps_seen) == (2, 2)
    # Boundaries are the mean over the laps seen.
    assert first.start_m == pytest.approx(400.0 + shift / 2)
    assert first.apex_m == pytest.approx(500.0 + shift / 2)
    assert second.brake_start_m == pytest.approx(1200.0 + shift / 2)


def test_learn_weights_every_lap_seen_equally() -> None:
    segments = SegmentMap(LENGTH_M)
    for shift in (0.0, 3.0, -6.0):
        assert segments.learn(detect_corners(two_corner_lap(shift))) == ["C1", "C2"]
    assert segments.segments[0].start_m == pytest.approx(400.0 - 1.0)
    assert segments.segments[0].laps_seen == 3


def test_learn_creates_a_new_id_for_a_corner_the_map_lacks_and_keeps_distance_order() -> None:
    segments = SegmentMap(LENGTH_M)
    segments.learn([corner(400, 560, 500), corner(1200, 1310, 1270)])
    ids = segments.learn([corner(402, 561, 501), corner(800, 880, 850), corner(1199, 1311, 1270)])
    assert ids == ["C1", "C3", "C2"]
    assert [s.id for s in segments.segments] == ["C1", "C3", "C2"]
    assert segments.get("C3") is not None and segments.get("C3").laps_seen == 1  # type: ignore[union-attr]


def test_match_names_the_known_segment_or_none() -> None:
    segments = SegmentMap(LENGTH_M)
    segments.learn([corner(400, 560, 500), corner(1200, 1310, 1270)])
    assert segments.match([corner(1195, 1300, 1268), corner(800, 850, 820), corner(405, 570, 505)]) == [
        "C2",
        None,
        "C1",
    ]
    assert len(segments) == 2  # matching learns nothing


def test_new_corners_take_names_from_corner_names_near_their_apex() -> None:
    names = [CornerName(apex_m=505.0, name="Hairpin", id="T1"), CornerName(apex_m=1268.0, name="Chapel")]
    segments = SegmentMap(LENGTH_M, names=names)
    ids = segments.learn([corner(400, 560, 500), corner(900, 950, 930), corner(1200, 1310, 1270)])
    # A name with an id gives both; a name alone gives the name, with a numbered id.
    assert ids == ["T1", "C1", "C2"]
    assert [s.name for s in segments.segments] == ["Hairpin", "corner 1", "Chapel"]
    # The names stay with the segments on later laps.
    assert segments.learn([corner(404, 562, 502), corner(1203, 1312, 1271)]) == ["T1", "C2"]
    assert segments.get("T1").name == "Hairpin"  # type: ignore[union-attr]


def test_a_corner_name_is_used_once() -> None:
    names = [CornerName(apex_m=500.0, name="Hairpin", id="T1")]
    segments = SegmentMap(LENGTH_M, names=names, tolerance_m=25.0)
    segments.learn([corner(400, 480, 470)])
    # A second corner within reach of the same name does not take it again.
    assert segments.learn([corner(520, 600, 560)]) == ["C1"]
    assert [s.name for s in segments.segments] == ["Hairpin", "corner 1"]


def test_numbering_continues_after_the_stored_segments() -> None:
    segments = SegmentMap(LENGTH_M, [segment("C4", 400, 560, 500), segment("T2", 1200, 1310, 1270)])
    assert segments.learn([corner(800, 880, 850)]) == ["C5"]


def test_learned_segments_never_overlap() -> None:
    segments = SegmentMap(LENGTH_M)
    segments.learn([corner(400, 500, 450), corner(600, 700, 650)])
    # A lap on which the two corners ran into one reaches over both.
    segments.learn([corner(420, 690, 640)])
    starts_ends = [(s.start_m, s.end_m) for s in segments.segments]
    assert all(a_end < b_start for (_, a_end), (b_start, _) in zip(starts_ends, starts_ends[1:], strict=False))


# --------------------------------------------------------------------------- zones


def zone_map() -> SegmentMap:
    # C1: braking from 390 m, the corner from 400 to 560 m; C2: a lift from 1200 to 1310 m.
    return SegmentMap(LENGTH_M, [segment("C1", 400, 560, 500, brake_start=390), segment("C2", 1200, 1310, 1270)])


def test_zone_starts_at_the_braking_zone_or_the_corner_whichever_comes_first() -> None:
    first, second = zone_map().segments
    assert first.zone_start_m == 390.0
    assert second.zone_start_m == 1200.0


@pytest.mark.parametrize(
    ("lap_dist_m", "expected"),
    [
        (0.0, None),
        (389.0, None),
        (390.0, "C1"),
        (395.0, "C1"),
        (500.0, "C1"),
        (560.0, "C1"),
        (560.5, None),
        (1199.9, None),
        (1250.0, "C2"),
        (1310.0, "C2"),
        (1999.0, None),
    ],
)
def test_zone_at(lap_dist_m: float, expected: str | None) -> None:
    zone = zone_map().zone_at(lap_dist_m)
    assert (None if zone is None else zone.id) == expected


@pytest.mark.parametrize(
    ("lap_dist_m", "expected_m"),
    [
        (100.0, 290.0),
        (700.0, 500.0),
        (450.0, 750.0),  # inside C1: the next zone is C2's
        (1500.0, 890.0),  # past the last zone: wraps at the line to C1's braking zone
        (1999.0, 391.0),
    ],
)
def test_next_zone_start(lap_dist_m: float, expected_m: float) -> None:
    assert zone_map().next_zone_start_m(lap_dist_m) == pytest.approx(expected_m)


def test_empty_map_has_no_zones() -> None:
    segments = SegmentMap(LENGTH_M)
    assert segments.zone_at(100.0) is None
    assert segments.next_zone_start_m(100.0) == math.inf


def test_zones_follow_what_was_learned() -> None:
    segments = SegmentMap(LENGTH_M)
    segments.learn(detect_corners(two_corner_lap()))
    assert segments.zone_at(450.0) is not None
    assert segments.zone_at(800.0) is None
    assert segments.next_zone_start_m(800.0) == pytest.approx(400.0)


# --------------------------------------------------------------------------- persistence


def test_to_dict_from_dict_round_trip_through_json() -> None:
    names = [CornerName(apex_m=500.0, name="Hairpin", id="T1")]
    segments = SegmentMap(LENGTH_M, names=names)
    segments.learn([corner(400.25, 560.5, 500.0, brake=(400.25, 470.0)), corner(1200, 1310, 1270)])
    restored = SegmentMap.from_dict(json.loads(json.dumps(segments.to_dict())), names=names)
    assert restored.track_length_m == LENGTH_M
    assert restored.segments == segments.segments
    assert restored.names == tuple(names)
    # The restored map goes on numbering after the stored ids.
    assert restored.learn([corner(800, 880, 850)]) == ["C2"]


def test_to_dict_rounds_to_centimetres() -> None:
    segments = SegmentMap(LENGTH_M, [segment("C1", 400.123456, 560.0, 500.0)])
    (stored,) = segments.to_dict()["segments"]
    assert stored["start_m"] == 400.12
    assert stored["brake_start_m"] is None


def _valid() -> dict[str, Any]:
    return SegmentMap(LENGTH_M, [segment("C1", 400, 560, 500, brake_start=390)]).to_dict()


def _with(change: dict[str, Any], *, in_segment: bool = False) -> dict[str, Any]:
    data = _valid()
    target = data["segments"][0] if in_segment else data
    for key, value in change.items():
        if value is ...:
            del target[key]
        else:
            target[key] = value
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_with({"format": 2}), "format"),
        (_with({"format": ...}), "format"),
        ([], "format"),
        (None, "format"),
        ("segments", "format"),
        (_with({"segments": ...}), "malformed"),
        (_with({"segments": None}), "malformed"),
        (_with({"segments": [5]}), "malformed"),
        (_with({"track_length_m": ...}), "malformed"),
        (_with({"track_length_m": "long"}), "malformed"),
        (_with({"apex_m": ...}, in_segment=True), "malformed"),
        (_with({"start_m": "four hundred"}, in_segment=True), "malformed"),
        (_with({"brake_start_m": [1, 2]}, in_segment=True), "malformed"),
        (_with({"laps_seen": "many"}, in_segment=True), "malformed"),
    ],
)
def test_from_dict_rejects_bad_data_with_a_typed_error(data: Any, message: str) -> None:
    with pytest.raises(SegmentStoreError, match=message):
        SegmentMap.from_dict(data)
