"""History: per-segment features of a lap (brake point, minimum speed, pickup, coasting, time) and the lap store."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adapters.model import Lap, LapKind
from coaching.history import MAX_LAPS_KEPT, History, SegmentFeatures, best_sectors, segment_features
from coaching.segments import Segment
from coaching.trace import LapTrace
from tests.unit.coaching.helpers import along, grid, make_trace, pedal, time_linear

# The corner studied: braking 300..350 m (0.3, then 0.9, then 0.5), off both pedals 350..370 m,
# the apex at 360 m (20 m/s), part throttle 0.3 then 0.6 from 380 m, full throttle from 390 m.
CORNER = Segment("C2", "corner 2", start_m=300.0, end_m=390.0, apex_m=360.0, brake_start_m=300.0, brake_end_m=349.0)
# A corner before it: braking 100..190 m, ending at 230 m.
EARLIER = Segment("C1", "corner 1", start_m=100.0, end_m=230.0, apex_m=150.0, brake_start_m=100.0, brake_end_m=189.0)

SPEED_POINTS = [(0, 50), (300, 50), (360, 20), (450, 45), (1000, 45)]
V_AT_390 = 20 + 25 * 30 / 90


def corner_lap(*, early_brake_m: float | None = None, start_m: float = 0.0) -> LapTrace:
    dist = grid(1000.0, start_m=start_m)
    speed = along(dist, SPEED_POINTS)
    throttle = pedal(dist, 1.0, [(300, 370, 0.0), (370, 380, 0.3), (380, 390, 0.6)])
    spans = [(300, 310, 0.3), (310, 330, 0.9), (330, 350, 0.5)]
    if early_brake_m is not None:
        spans.insert(0, (early_brake_m, 300, 0.2))
    brake = pedal(dist, 0.0, spans)
    return make_trace(dist, speed, throttle, brake, track_length_m=1000.0)


def two_corner_lap() -> LapTrace:
    dist = grid(1000.0)
    speed = along(dist, [(0, 50), (100, 50), (150, 30), (230, 50), (300, 50), (360, 20), (450, 45), (1000, 45)])
    throttle = pedal(dist, 1.0, [(100, 200, 0.0), (200, 230, 0.5), (300, 370, 0.0), (370, 380, 0.3), (380, 390, 0.6)])
    brake = pedal(dist, 0.0, [(100, 190, 0.6), (300, 310, 0.3), (310, 330, 0.9), (330, 350, 0.5)])
    return make_trace(dist, speed, throttle, brake, track_length_m=1000.0)


def test_features_of_a_corner() -> None:
    features = segment_features(corner_lap(), [CORNER])
    assert list(features) == ["C2"]
    f = features["C2"]
    assert f.segment_id == "C2"
    assert f.entry_speed_mps == pytest.approx(50.0)
    assert f.brake_point_m == 300.0
    assert f.peak_brake == pytest.approx(0.9)
    assert f.min_speed_mps == pytest.approx(20.0)
    assert f.min_speed_at_m == 360.0
    assert f.throttle_pickup_m == 380.0  # the first throttle of 0.5 or more after the apex
    assert f.coast_m == pytest.approx(20.0)  # 350..370 m: brake released, throttle not yet applied


def test_segment_time_runs_from_the_zone_start_to_the_segment_end() -> None:
    f = segment_features(corner_lap(), [CORNER])["C2"]
    expected = time_linear(60.0, 50.0, 20.0) + time_linear(30.0, 20.0, V_AT_390)
    assert f.time_s == pytest.approx(expected, rel=1e-3)
    # The sector of the first segment starts at the line: 300 m of straight at 50 m/s before it.
    assert f.sector_time_s == pytest.approx(300.0 / 50.0 + expected, rel=1e-3)


def test_early_brake_before_the_known_zone_is_still_found() -> None:
    f = segment_features(corner_lap(early_brake_m=260.0), [CORNER])["C2"]
    assert f.brake_point_m == 260.0
    assert f.peak_brake == pytest.approx(0.9)
    assert f.min_speed_at_m == 360.0
    # Entry speed is read where the segment's zone starts, whatever the driver did before it.
    assert f.entry_speed_mps == pytest.approx(50.0)


def test_brake_point_search_does_not_reach_into_the_previous_segment() -> None:
    features = segment_features(two_corner_lap(), [EARLIER, CORNER])
    # Corner 1's braking (100..190 m) lies within 120 m of corner 2's zone, but belongs to corner 1.
    assert features["C2"].brake_point_m == 300.0
    assert features["C1"].brake_point_m == 100.0
    assert features["C1"].min_speed_at_m == 150.0
    assert features["C1"].peak_brake == pytest.approx(0.6)


def test_sector_time_starts_where_the_previous_segment_ends() -> None:
    trace = two_corner_lap()
    f = segment_features(trace, [EARLIER, CORNER])["C2"]
    assert f.sector_time_s == pytest.approx(float(trace.time_at(390.0) - trace.time_at(230.0)))
    assert f.sector_time_s > f.time_s


def test_lift_without_braking_has_no_brake_point() -> None:
    dist = grid(1000.0)
    speed = along(dist, [(0, 60), (400, 60), (450, 52), (520, 60), (1000, 60)])
    trace = make_trace(dist, speed, pedal(dist, 1.0, [(400, 440, 0.0), (440, 470, 0.7)]), np.zeros(len(dist)))
    lift = Segment("C1", "corner 1", 400.0, 470.0, 450.0, None, None)
    f = segment_features(trace, [lift])["C1"]
    assert f.brake_point_m is None
    assert f.peak_brake == 0.0
    assert f.min_speed_mps == pytest.approx(52.0)
    assert f.throttle_pickup_m == 450.0  # 0.7 from 440 m, and the minimum is at 450 m
    assert f.coast_m == pytest.approx(40.0)


def test_no_pickup_inside_the_segment_is_none() -> None:
    dist = grid(1000.0)
    trace = make_trace(
        dist,
        along(dist, SPEED_POINTS),
        pedal(dist, 1.0, [(300, 420, 0.2)]),  # still part throttle 30 m past the segment end
        pedal(dist, 0.0, [(300, 350, 0.8)]),
    )
    assert segment_features(trace, [CORNER])["C2"].throttle_pickup_m is None


def test_segments_the_lap_does_not_cover_are_left_out() -> None:
    partial = corner_lap(start_m=350.0)  # the recording starts inside corner 2
    assert segment_features(partial, [EARLIER, CORNER]) == {}
    beyond = Segment("C9", "corner 9", 990.0, 1100.0, 1050.0, None, None)
    assert list(segment_features(corner_lap(), [CORNER, beyond])) == ["C2"]


def test_features_to_dict_rounds() -> None:
    f = segment_features(corner_lap(), [CORNER])["C2"]
    data = f.to_dict()
    assert data["segment"] == "C2"
    assert data["brake_point_m"] == 300.0
    assert data["time_s"] == round(f.time_s, 3)


# --------------------------------------------------------------------------- History


def lap(number: int, time_s: float = 90.0) -> Lap:
    return Lap(number, LapKind.FLYING, 0, 1, 0.0, time_s, time_s, None, 2.0, 50.0)


def features(segment_id: str, brake_point_m: float | None, sector_time_s: float = 10.0) -> SegmentFeatures:
    return SegmentFeatures(segment_id, 50.0, brake_point_m, 0.9, 20.0, 360.0, 380.0, 0.0, 3.0, sector_time_s)


def test_history_feature_over_laps_with_nan_where_missing() -> None:
    history = History()
    history.add(lap(1), {"C1": features("C1", 300.0)})
    history.add(lap(2), {})
    history.add(lap(3), {"C1": features("C1", None)})
    history.add(lap(4), {"C1": features("C1", 295.0)})
    values = history.feature("C1", "brake_point_m")
    assert values[0] == 300.0 and values[3] == 295.0
    assert math.isnan(values[1]) and math.isnan(values[2])
    assert history.feature("C1", "brake_point_m", laps=[1, 4]).tolist() == [300.0, 295.0]
    assert [x.number for x in history.laps()] == [1, 2, 3, 4]
    assert len(history) == 4


def test_history_keeps_the_most_recent_laps_only() -> None:
    history = History()
    for number in range(1, MAX_LAPS_KEPT + 3):
        history.add(lap(number), {})
    assert len(history) == MAX_LAPS_KEPT
    assert history.records[0].lap.number == 3
    assert history.records[-1].lap.number == MAX_LAPS_KEPT + 2


def test_best_sectors_takes_each_segment_from_the_lap_quickest_through_it() -> None:
    lap_a = {"C1": features("C1", 300.0, 10.0), "C2": features("C2", 500.0, 12.0)}
    lap_b = {"C1": features("C1", 310.0, 9.5), "C2": features("C2", 505.0, 12.5)}
    best = best_sectors([lap_a, lap_b])
    assert best["C1"] is lap_b["C1"]
    assert best["C2"] is lap_a["C2"]
