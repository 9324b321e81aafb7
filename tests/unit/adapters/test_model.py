"""The canonical model: channel table, typed frame views, session description."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from adapters.model import (
    CAR_CHANNELS,
    CHANNELS,
    FRAME_DTYPE,
    MAX_CARS,
    ChannelKind,
    DriverEntry,
    FrameBlock,
    SessionInfo,
    SessionType,
    TelemetryFrame,
    TrackInfo,
    empty_cars,
    empty_frames,
    json_ready,
)

REQUIRED = {
    "session_time_s",
    "lap",
    "lap_dist_m",
    "lap_dist_frac",
    "speed_mps",
    "rpm",
    "gear",
    "throttle",
    "brake",
    "clutch",
    "steering_angle_rad",
    "lat_accel_mps2",
    "long_accel_mps2",
    "yaw_rate_radps",
    "fuel_level_l",
    "fuel_use_rate_lps",
    "on_pit_road",
    "track_surface",
    "session_flags",
    "car_left_right",
    "incident_count",
    "position",
    "last_lap_time_s",
    "best_lap_time_s",
    "current_lap_time_s",
    "tyre_temp_c",
    "tyre_wear_frac",
    "track_temp_c",
    "air_temp_c",
}


def test_channel_table_covers_what_every_package_needs() -> None:
    names = {c.name for c in CHANNELS}
    assert names >= REQUIRED
    assert {"lap_dist_frac", "lap", "position", "class_position", "on_pit_road", "last_lap_time_s"} <= {
        c.name for c in CAR_CHANNELS
    }


def test_every_channel_declares_unit_kind_precision_and_description() -> None:
    for channel in CHANNELS + CAR_CHANNELS:
        assert channel.unit and channel.description.endswith(".")
        assert isinstance(channel.kind, ChannelKind)
        assert channel.precision > 0
        np.dtype(channel.dtype)  # a valid numpy dtype


def test_units_are_named_in_channel_names() -> None:
    suffix_units = {
        "_s": "s",
        "_m": "m",
        "_mps": "m/s",
        "_rad": "rad",
        "_radps": "rad/s",
        "_mps2": "m/s^2",
        "_c": "degC",
        "_l": "l",
        "_lps": "l/s",
        "_kpa": "kPa",
        "_deg": "deg",
    }
    for channel in CHANNELS:
        for suffix, unit in suffix_units.items():
            if channel.name.endswith(suffix):
                assert channel.unit == unit, channel.name


def test_frame_and_block_expose_every_channel_as_typed_attribute() -> None:
    block = FrameBlock(empty_frames(3))
    frame = block[0]
    for channel in CHANNELS:
        assert hasattr(TelemetryFrame, channel.name), channel.name
        column = getattr(block, channel.name)
        assert column.shape[0] == 3
        value = getattr(frame, channel.name)
        if channel.shape:
            assert value.shape == channel.shape
        else:
            assert isinstance(value, float | int | bool)


def test_missing_values_are_nan_for_floats_and_minus_one_for_counters() -> None:
    frame = TelemetryFrame.empty()
    assert math.isnan(frame.speed_mps)
    assert frame.lap == -1
    assert frame.on_pit_road is False
    assert np.isnan(frame.tyre_temp_c).all()
    cars = empty_cars(2)
    assert cars.shape == (2, MAX_CARS)
    assert np.isnan(cars["lap_dist_frac"]).all()


def test_block_columns_are_views_not_copies() -> None:
    frames = empty_frames(4)
    block = FrameBlock(frames)
    frames["speed_mps"][2] = 42.0
    assert block.speed_mps[2] == pytest.approx(42.0)
    assert block[-2].speed_mps == pytest.approx(42.0)


def test_block_rejects_wrong_dtype_and_mismatched_cars() -> None:
    with pytest.raises(ValueError):
        FrameBlock(np.zeros(3, dtype=[("x", "f4")]))
    with pytest.raises(ValueError):
        FrameBlock(empty_frames(3), empty_cars(2))


def test_block_round_trips_through_single_frames() -> None:
    frames = empty_frames(5)
    frames["lap"] = np.arange(5)
    block = FrameBlock(frames, empty_cars(5))
    again = FrameBlock.from_frames(list(block))
    assert np.array_equal(again.lap, block.lap)
    assert again.cars is not None and again.cars.shape == (5, MAX_CARS)
    joined = FrameBlock.concatenate([block.slice(0, 2), block.slice(2, 5)])
    assert joined.frames.tobytes() == block.frames.tobytes()
    assert joined.frames.dtype == FRAME_DTYPE


def test_json_ready_turns_nan_into_null() -> None:
    data = json_ready({"a": float("nan"), "b": [1.0, float("inf")], "c": "x"})
    assert json.dumps(data, allow_nan=False) == '{"a": null, "b": [1.0, null], "c": "x"}'
    assert json.loads(json.dumps(json_ready(TelemetryFrame.empty().as_dict()), allow_nan=False))["speed_mps"] is None


def _entry(car_idx: int, class_id: int, name: str, pace: bool = False) -> DriverEntry:
    return DriverEntry(
        car_idx, name, 100 + car_idx, str(car_idx), "Car", "car", class_id, f"C{class_id}", is_pace_car=pace
    )


def test_session_info_finds_player_and_classes_without_pace_car() -> None:
    info = SessionInfo(
        sim="test",
        track=TrackInfo("t", "Track", "", 4000.0, (0.0, 0.5)),
        session_type=SessionType.RACE,
        session_name="RACE",
        player_car_idx=2,
        drivers=(_entry(0, 9, "Pace", pace=True), _entry(1, 5, "A"), _entry(2, 3, "B")),
    )
    assert info.player is not None and info.player.driver_name == "B"
    assert [c.class_id for c in info.classes] == [3, 5]
    as_dict = info.to_dict()
    assert as_dict["driver"] == "B" and len(as_dict["drivers"]) == 2
    assert as_dict["track"]["sectors"] == 2
