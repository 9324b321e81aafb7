"""Decoding raw iRacing records into canonical channels: units, quirks of real files, missing data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adapters.iracing_channels import ChannelDecoder
from adapters.irsdk_layout import layout_vars, record_dtype
from adapters.model import TrackSurface

BASE = [
    ("SessionTime", 5, 1, "s", ""),
    ("Lap", 2, 1, "", ""),
    ("LapDistPct", 4, 1, "%", ""),
    ("LapDist", 4, 1, "m", ""),
    ("Speed", 4, 1, "m/s", ""),
    ("Clutch", 4, 1, "%", ""),
    ("OnPitRoad", 1, 1, "", ""),
    ("Lat", 5, 1, "deg", ""),
    ("Lon", 5, 1, "deg", ""),
    ("LapLastLapTime", 4, 1, "s", ""),
    ("FuelUsePerHour", 4, 1, "kg/h", ""),
    ("EngineWarnings", 3, 1, "", ""),
    ("LatAccel", 4, 6, "m/s^2", ""),
    ("SessionLapsRemainEx", 2, 1, "", ""),
    ("SessionTimeRemain", 5, 1, "s", ""),
    ("LFtempL", 4, 1, "C", ""),
    ("LFtempM", 4, 1, "C", ""),
    ("LFtempR", 4, 1, "C", ""),
    ("LFwearL", 4, 1, "%", ""),
    ("LFwearM", 4, 1, "%", ""),
    ("LFwearR", 4, 1, "%", ""),
]


def _records(specs: list[tuple[str, int, int, str, str]], count: int) -> tuple[ChannelDecoder, np.ndarray]:
    headers, buf_len = layout_vars(specs)
    return ChannelDecoder(headers, fuel_density_kg_per_l=0.75), np.zeros(count, dtype=record_dtype(headers, buf_len))


def test_values_are_converted_to_model_units_and_conventions() -> None:
    decoder, raw = _records(BASE + [("PlayerTrackSurface", 2, 1, "", "")], 2)
    raw["SessionTime"] = [10.0, 10.0 + 1 / 60]
    raw["Lap"] = 3
    raw["LapDistPct"] = 0.25
    raw["Clutch"] = [1.0, 0.25]  # iRacing: 1 = engaged = pedal released
    raw["FuelUsePerHour"] = 27.0  # kg/h
    raw["EngineWarnings"] = [0x10, 0x01]
    raw["LatAccel"][0] = [1, 2, 3, 4, 5, 6]
    raw["LapLastLapTime"] = [-1.0, 91.5]
    raw["SessionLapsRemainEx"] = [32767, 12]
    raw["SessionTimeRemain"] = [604800.0, 300.0]
    raw["PlayerTrackSurface"] = 3
    raw["Lat"], raw["Lon"] = 45.6, 9.28
    raw["LFtempL"], raw["LFtempM"], raw["LFtempR"] = 80.0, 90.0, 100.0
    raw["LFwearL"], raw["LFwearM"], raw["LFwearR"] = 0.98, 0.95, 0.97
    block = decoder.decode(raw)
    assert block.clutch.tolist() == [0.0, 0.75]
    assert block.fuel_use_rate_lps[0] == pytest.approx(27.0 / 0.75 / 3600.0)
    assert block.pit_limiter.tolist() == [True, False]
    assert block.lat_accel_mps2[0] == pytest.approx(3.5)  # the 360 Hz sub-samples averaged
    assert math.isnan(block.last_lap_time_s[0]) and block.last_lap_time_s[1] == pytest.approx(91.5)
    assert block.session_laps_remain.tolist() == [-1, 12]
    assert math.isnan(block.session_time_remain_s[0]) and block.session_time_remain_s[1] == 300.0
    assert block.tyre_temp_c[0, 0] == pytest.approx(90.0)
    assert block.tyre_wear_frac[0, 0] == pytest.approx(0.95)
    assert np.isnan(block.tyre_temp_c[0, 1:]).all()  # corners the file lacks stay missing
    assert block.in_world.all() and (block.track_surface == TrackSurface.ON_TRACK).all()
    assert block.tick.tolist() == [600, 601]  # derived from the clock when the file has no tick counter


def test_negative_zero_becomes_positive_zero() -> None:
    decoder, raw = _records(BASE, 1)
    raw["Speed"] = -0.0
    raw["LapDist"] = -0.0
    raw["Lap"] = 1
    block = decoder.decode(raw)
    assert not np.signbit(block.speed_mps).any()
    assert not np.signbit(block.lap_dist_m).any()


def test_not_in_world_from_surface_channel() -> None:
    decoder, raw = _records(BASE + [("PlayerTrackSurface", 2, 1, "", "")], 3)
    raw["PlayerTrackSurface"] = [1, -1, 3]
    raw["Lap"] = [8, 0, 8]
    block = decoder.decode(raw)
    assert block.in_world.tolist() == [True, False, True]
    assert block.track_surface.tolist() == [1, -1, 3]


def test_not_in_world_derived_for_old_files_without_surface_channel() -> None:
    decoder, raw = _records(BASE, 3)
    raw["Lap"] = [0, 31, 31]
    raw["LapDistPct"] = [0.0, 0.18, 0.19]
    raw["Lat"] = [0.0, 36.6, 36.6]
    raw["Lon"] = [0.0, -79.8, -79.8]
    raw["OnPitRoad"] = [False, True, False]
    block = decoder.decode(raw)
    assert block.in_world.tolist() == [False, True, True]
    assert block.track_surface.tolist() == [
        TrackSurface.NOT_IN_WORLD,
        TrackSurface.APPROACHING_PITS,
        TrackSurface.ON_TRACK,
    ]
    assert math.isnan(block.latitude_deg[0]) and block.latitude_deg[1] == pytest.approx(36.6)


def test_channels_absent_from_the_file_keep_missing_values() -> None:
    decoder, raw = _records([("SessionTime", 5, 1, "s", ""), ("Speed", 4, 1, "m/s", "")], 1)
    raw["Speed"] = 12.0
    block = decoder.decode(raw)
    assert block.speed_mps[0] == 12.0
    assert math.isnan(block.rpm[0]) and block.gear[0] == -1 and block.cars is None
    assert set(decoder.sources) == {"SessionTime", "Speed"}


def test_per_car_arrays_are_decoded_when_present() -> None:
    decoder, raw = _records(
        BASE
        + [
            ("CarIdxLapDistPct", 4, 64, "%", ""),
            ("CarIdxPosition", 2, 64, "", ""),
            ("CarIdxLastLapTime", 4, 64, "s", ""),
        ],
        1,
    )
    raw["CarIdxLapDistPct"][0, :3] = [0.1, 0.2, -1.0]
    raw["CarIdxPosition"][0, :3] = [2, 1, 0]
    raw["CarIdxLastLapTime"][0, :2] = [90.0, -1.0]
    block = decoder.decode(raw)
    assert decoder.has_cars and block.cars is not None
    assert block.cars["lap_dist_frac"][0, :3].tolist() == pytest.approx([0.1, 0.2, -1.0])
    assert block.cars["position"][0, :3].tolist() == [2, 1, 0]
    assert block.cars["last_lap_time_s"][0, 0] == 90.0 and math.isnan(block.cars["last_lap_time_s"][0, 1])
    assert block.cars["lap"][0, 0] == -1  # absent per-car channel keeps its missing value


def test_live_ticks_override_derived_ticks() -> None:
    decoder, raw = _records(BASE, 2)
    block = decoder.decode(raw, ticks=np.array([1000, 1002]))
    assert block.tick.tolist() == [1000, 1002]
