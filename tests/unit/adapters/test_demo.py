"""The built-in demo sim: deterministic, complete and believable telemetry, paced by the clock passed in."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pytest

from adapters import base, demo
from adapters.base import AdapterState, DriverSwap, SessionChanged, SimAdapter, StateChanged
from adapters.demo import DemoAdapter, DemoSim, DemoVariance, SessionEndedError
from adapters.demo_track import TrackModel
from adapters.model import (
    CHANNELS,
    MAX_CARS,
    CarLeftRight,
    FrameBlock,
    SessionFlag,
    TelemetryFrame,
    TrackSurface,
)

LAP_FRAMES = 6_000  # a little over a minute and a half at 60 Hz: roughly one lap
Array = npt.NDArray[np.float64]


def brake_onsets_m(block: FrameBlock, track: TrackModel, threshold: float = 0.1) -> dict[tuple[int, str], float]:
    """Lap distance where the brake pedal first rises above `threshold` before each corner, per lap."""
    onsets: dict[tuple[int, str], float] = {}
    for lap in np.unique(block.lap):
        on_lap = block.lap == lap
        dist = block.lap_dist_m[on_lap]
        pedal = block.brake[on_lap]
        for corner in track.corners:
            window = np.nonzero((dist > corner.brake_m - 80.0) & (dist < corner.brake_end_m))[0]
            if len(window) < 2 or pedal[window[0]] > threshold:
                continue
            above = np.nonzero(pedal[window] > threshold)[0]
            if not len(above):
                continue
            k = window[above[0]]
            fraction = (threshold - pedal[k - 1]) / (pedal[k] - pedal[k - 1])
            onsets[(int(lap), corner.id)] = float(dist[k - 1] + fraction * (dist[k] - dist[k - 1]))
    return onsets


@dataclass(frozen=True)
class Field:
    """The per-car columns the tests look at, for the cars in the session (pace car, player, opponents)."""

    position: npt.NDArray[np.int16]
    class_position: npt.NDArray[np.int16]
    class_id: npt.NDArray[np.int32]
    lap_completed: npt.NDArray[np.int32]
    lap_dist_frac: npt.NDArray[np.float32]
    on_pit_road: npt.NDArray[np.bool_]
    track_surface: npt.NDArray[np.int8]
    last_lap_time_s: npt.NDArray[np.float32]


def field_of(sim: DemoSim, ticks: int, cars: int) -> tuple[FrameBlock, Field]:
    """Generate `ticks` ticks in pieces, keeping only the first `cars` per-car entries (saves memory)."""
    frames, parts = [], []
    while ticks > 0:
        block = sim.generate_block(min(ticks, 20_000))
        if not len(block):
            break
        ticks -= len(block)
        frames.append(block.frames)
        assert block.cars is not None
        parts.append(block.cars[:, :cars].copy())
    cars_all = np.concatenate(parts)
    return FrameBlock(np.concatenate(frames)), Field(**{name: cars_all[name] for name in Field.__dataclass_fields__})


@pytest.fixture(scope="module")
def race() -> tuple[DemoSim, FrameBlock, Field]:
    """Twelve laps with a pit stop every five laps and a two-driver team."""
    sim = DemoSim(seed=1, laps=12, pit_every_laps=5, team_drivers=("Alex Demo", "Sam Demo"))
    block, field = field_of(sim, 10**7, sim.session_info.player_car_idx + 20)
    return sim, block, field


@pytest.fixture(scope="module")
def twenty_laps() -> tuple[DemoSim, FrameBlock]:
    """Twenty laps without pit stops, with brake-point errors injected on known laps and corners."""
    sim = DemoSim(seed=7, laps=20, brake_offsets_m=INJECTED)
    return sim, sim.generate_block(10**7, cars=False)


INJECTED = {(3, "T1"): 15.0, (5, "T5"): -12.0, (8, "T7"): 12.0, (11, "T2"): -10.0, (14, "T10"): 15.0, (17, "T4"): 10.0}


# --------------------------------------------------------------------------- determinism


def test_the_same_seed_gives_the_same_telemetry() -> None:
    a = DemoSim(seed=11).generate_block(2 * LAP_FRAMES)
    b = DemoSim(seed=11).generate_block(2 * LAP_FRAMES)
    assert a.frames.tobytes() == b.frames.tobytes()
    assert a.cars is not None and b.cars is not None
    assert a.cars.tobytes() == b.cars.tobytes()


def test_a_different_seed_gives_different_telemetry() -> None:
    a = DemoSim(seed=11).generate_block(LAP_FRAMES, cars=False)
    b = DemoSim(seed=12).generate_block(LAP_FRAMES, cars=False)
    assert not np.array_equal(a.brake, b.brake)
    assert not np.array_equal(a.lat_accel_mps2, b.lat_accel_mps2)


def test_stepping_and_blocks_produce_the_same_ticks() -> None:
    stepped = DemoSim(seed=5)
    frames = [stepped.step() for _ in range(1_500)]
    block = DemoSim(seed=5)
    first = block.generate_block(700)
    second = block.generate_block(800)
    joined = FrameBlock.concatenate([first, second])
    assert FrameBlock.from_frames(frames).frames.tobytes() == joined.frames.tobytes()
    assert frames[-1].cars is not None and joined.cars is not None
    assert frames[-1].cars.tobytes() == joined.cars[-1].tobytes()


# --------------------------------------------------------------------------- channels


def test_every_channel_is_populated_with_sensible_values(race: tuple[DemoSim, FrameBlock, Field]) -> None:
    _, block, _ = race
    f = block.frames
    after_first_lap = f["session_time_s"] > block.session_time_s[np.argmax(block.lap == 2)] + 2.0
    for channel in CHANNELS:
        column = f[channel.name]
        if column.dtype.kind != "f":
            continue
        if channel.name == "session_time_remain_s":
            assert np.isnan(column).all()  # a lap-limited session has no time limit
        elif channel.name in ("last_lap_time_s", "best_lap_time_s"):
            assert not np.isnan(column[after_first_lap]).any(), channel.name
        else:
            assert np.isfinite(column).all(), channel.name
    assert f["in_world"].all() and f["is_on_track"].all()
    assert np.array_equal(f["tick"], np.arange(len(f)))
    assert np.allclose(f["session_time_s"], f["tick"] / 60.0)
    assert 60.0 < f["speed_mps"].max() < 85.0 and f["speed_mps"].min() >= 0.0
    assert 7000 < f["rpm"].max() <= 8200 and f["rpm"].min() >= 1000
    assert set(np.unique(f["gear"])) == {1, 2, 3, 4, 5, 6}
    for pedal in ("throttle", "brake", "clutch"):
        assert f[pedal].min() >= 0.0 and f[pedal].max() == pytest.approx(1.0, abs=0.01)
    assert 15.0 < np.abs(f["lat_accel_mps2"]).max() < 30.0
    assert -20.0 < f["long_accel_mps2"].min() < -12.0 and 6.0 < f["long_accel_mps2"].max() < 12.0
    assert np.abs(f["yaw_rate_radps"]).max() > 0.3
    assert 0.5 < np.abs(f["steering_angle_rad"]).max() < 4.0
    assert (f["session_flags"] & SessionFlag.GREEN).any()
    assert set(np.unique(f["session_state"])) == {4, 5}
    assert (f["track_temp_c"] > f["air_temp_c"]).all()


def test_per_tyre_channels_are_filled_and_respond_to_load(race: tuple[DemoSim, FrameBlock, Field]) -> None:
    _, block, _ = race
    temps = block.tyre_temp_c
    assert temps.shape == (len(block), 4)
    for name in ("tyre_temp_c", "tyre_carcass_temp_c", "tyre_pressure_kpa", "tyre_wear_frac"):
        assert np.isfinite(block.frames[name]).all(), name
    assert temps.min() > 20.0 and temps.max() < 130.0
    assert block.tyre_pressure_kpa.min() > 130.0 and block.tyre_pressure_kpa.max() < 220.0
    # Hard cornering to the right loads the left tyres: they run hotter than the right ones.
    right_turns = block.lat_accel_mps2 < -15.0
    assert temps[right_turns, 0].mean() > temps[right_turns, 1].mean() + 3.0
    # The surface heats up in corners and cools on straights.
    straight = np.abs(block.lat_accel_mps2) < 1.0
    assert temps[~straight].mean() > temps[straight].mean()
    # Wear only falls, except when the tyres are changed in the pit stall.
    wear = block.tyre_wear_frac
    rises = np.nonzero((np.diff(wear, axis=0) > 1e-6).any(axis=1))[0] + 1
    assert len(rises) >= 2 and (block.track_surface[rises] == TrackSurface.IN_PIT_STALL).all()
    assert 0.003 < 1.0 - wear[np.argmax(block.lap == 3) - 1].max() < 0.03  # about 1 % a lap


def test_lap_counter_increments_at_the_line(race: tuple[DemoSim, FrameBlock, Field]) -> None:
    sim, block, _ = race
    length = sim.track.length_m
    lap, dist = block.lap, block.lap_dist_m
    changes = np.nonzero(np.diff(lap))[0] + 1
    assert np.all(np.diff(lap) >= 0) and np.all(lap[changes] == lap[changes - 1] + 1)
    assert lap[0] == 1 and lap[-1] == 13  # twelve laps and the cool-down after the flag
    assert np.all(dist[changes] < 80.0) and np.all(dist[changes - 1] > length - 80.0)
    steps = np.diff(dist)
    assert np.array_equal(np.nonzero(steps < 0)[0] + 1, changes)
    assert np.array_equal(block.lap_completed, lap - 1)
    assert np.allclose(block.lap_dist_frac, dist / length, atol=1e-6)
    assert dist.min() >= 0.0 and dist.max() < length


def test_laps_take_a_believable_time_and_burn_believable_fuel(twenty_laps: tuple[DemoSim, FrameBlock]) -> None:
    sim, block = twenty_laps
    assert 90.0 < sim.reference_lap_time_s < 140.0
    lap_times = np.unique(block.last_lap_time_s[np.isfinite(block.last_lap_time_s)])
    assert len(lap_times) >= 19
    assert lap_times.min() > 90.0 and np.median(lap_times) < 140.0
    starts = np.nonzero(np.diff(block.lap))[0] + 1
    fuel_per_lap = -np.diff(block.fuel_level_l[starts])
    assert np.all((fuel_per_lap > 2.5) & (fuel_per_lap < 3.5))
    # The level falls by the integral of the rate.
    assert np.sum(block.fuel_use_rate_lps[starts[0] : starts[1]]) / 60.0 == pytest.approx(fuel_per_lap[0], rel=0.01)


def test_lap_times_are_published_like_iracing(twenty_laps: tuple[DemoSim, FrameBlock]) -> None:
    _, block = twenty_laps
    starts = np.nonzero(np.diff(block.lap))[0] + 1
    assert np.isnan(block.last_lap_time_s[: starts[0]]).all()
    for start in starts[:3]:
        after = block.last_lap_time_s[start:]
        changed = np.nonzero(~np.isclose(after, block.last_lap_time_s[start - 1], rtol=0.0, atol=0.0, equal_nan=True))[
            0
        ]
        delay_s = block.session_time_s[start + changed[0]] - block.session_time_s[start]
        assert delay_s == pytest.approx(1.8, abs=1.5 / 60)
        # The published time is the time between the two line crossings.
        lap_s = block.session_time_s[start] - block.session_time_s[np.nonzero(block.lap == block.lap[start] - 1)[0][0]]
        assert block.last_lap_time_s[start + changed[0]] == pytest.approx(lap_s, abs=2.0 / 60)
    assert block.current_lap_time_s[starts[1]] < 1.0 / 60
    assert np.nanmin(block.best_lap_time_s) == pytest.approx(np.nanmin(block.last_lap_time_s), abs=1e-3)


def test_position_on_the_map_follows_the_outline(race: tuple[DemoSim, FrameBlock, Field]) -> None:
    sim, block, _ = race
    origin = sim.track.origin
    at_line = np.argmin(block.lap_dist_m[100:]) + 100
    assert block.latitude_deg[at_line] == pytest.approx(origin.latitude_deg, abs=2e-4)
    assert block.longitude_deg[at_line] == pytest.approx(origin.longitude_deg, abs=2e-4)
    step_m = np.hypot(
        np.diff(block.latitude_deg) * 111_200.0,
        np.diff(block.longitude_deg) * 111_200.0 * math.cos(math.radians(origin.latitude_deg)),
    )
    assert np.all(step_m < 90.0 / 60.0 + 0.2)  # never faster than the car
    assert 0.0 < block.altitude_m.min() < block.altitude_m.max() < 40.0


# --------------------------------------------------------------------------- brake points


def test_injected_brake_offsets_move_the_brake_point_by_the_requested_metres(
    twenty_laps: tuple[DemoSim, FrameBlock],
) -> None:
    sim, block = twenty_laps
    onsets = brake_onsets_m(block, sim.track)
    for (lap, corner_id), offset_m in INJECTED.items():
        reference = np.median([x for (other, cid), x in onsets.items() if cid == corner_id and other != lap])
        # The injected error comes on top of the driver's usual jitter (sd 2 m).
        assert onsets[(lap, corner_id)] - reference == pytest.approx(offset_m, abs=7.0), (lap, corner_id)
    # Everywhere else the driver is consistent: a few metres of jitter, far below a 10 m error.
    clean = np.array(
        [x - sim.track.corner(cid).brake_m for (lap, cid), x in onsets.items() if (lap, cid) not in INJECTED]
    )
    assert len(clean) > 150
    assert 0.8 < np.std(clean) < 3.0
    assert np.abs(clean - np.median(clean)).max() < 9.0
    # The pedal onset is where the plan says, to within a metre.
    planned = {key: sim.planned_brake_points_m(key[0])[key[1]] for key in onsets}
    assert max(abs(onsets[key] - planned[key]) for key in onsets) < 1.5


def test_braking_later_means_a_faster_entry_and_harder_braking(twenty_laps: tuple[DemoSim, FrameBlock]) -> None:
    sim, block = twenty_laps
    corner = sim.track.corner("T7")  # braked 12 m later on lap 8

    def trace(lap: int) -> tuple[Array, Array, Array, Array]:
        on_lap = (
            (block.lap == lap) & (block.lap_dist_m > corner.brake_m - 40.0) & (block.lap_dist_m < corner.brake_end_m)
        )
        return block.lap_dist_m[on_lap], block.speed_mps[on_lap], block.brake[on_lap], block.long_accel_mps2[on_lap]

    late_dist, late_speed, late_pedal, late_accel = trace(8)
    for lap in (7, 9):
        dist, speed, pedal, accel = trace(lap)
        brake_m = sim.planned_brake_points_m(lap)["T7"]
        probe = np.array([brake_m + 8.0, brake_m + 20.0, (brake_m + corner.brake_end_m) / 2])
        assert np.all(np.interp(probe, late_dist, late_speed) > np.interp(probe, dist, speed) + 1.0)
        assert late_pedal.max() > pedal.max() + 0.03
        assert np.percentile(late_accel, 5) < np.percentile(accel, 5) - 0.5
        # Both reach the corner at the same minimum speed.
        assert late_speed[-1] == pytest.approx(speed[-1], abs=1.0)


def test_brake_offsets_can_be_a_function() -> None:
    sim = DemoSim(
        seed=3, laps=3, variance=DemoVariance.none(), brake_offsets_m=lambda lap, cid: 20.0 if lap == 2 else 0.0
    )
    block = sim.generate_block(10**6, cars=False)
    onsets = brake_onsets_m(block, sim.track)
    for corner in sim.track.corners:
        assert onsets[(2, corner.id)] - onsets[(1, corner.id)] == pytest.approx(20.0, abs=1.5)
        assert onsets[(3, corner.id)] - onsets[(1, corner.id)] == pytest.approx(0.0, abs=0.5)


# --------------------------------------------------------------------------- the field


def test_the_field_has_two_classes_and_consistent_positions(race: tuple[DemoSim, FrameBlock, Field]) -> None:
    sim, block, field = race
    info = sim.session_info
    racing = [d for d in info.drivers if not d.is_pace_car]
    assert len(racing) == 20 and len(info.classes) == 2
    assert all(d.team_name for d in racing)
    assert info.player is not None and info.player.class_name == "GT3"
    cars = np.array([d.car_idx for d in racing])
    position = field.position[:, cars]
    assert np.array_equal(np.sort(position, axis=1), np.broadcast_to(np.arange(1, 21), position.shape))
    progress = field.lap_completed[:, cars] + field.lap_dist_frac[:, cars]
    ranked = np.take_along_axis(progress, np.argsort(position, axis=1), axis=1)
    assert np.all(np.diff(ranked, axis=1) <= 1e-5)
    for class_id in (1, 2):
        members = cars[field.class_id[0, cars] == class_id]
        in_class = np.sort(field.class_position[:, members], axis=1)
        assert np.array_equal(in_class, np.broadcast_to(np.arange(1, len(members) + 1), in_class.shape))
    player = info.player_car_idx
    assert np.array_equal(block.position, field.position[:, player])
    assert np.array_equal(block.class_position, field.class_position[:, player])
    # The pace car is not in the world; unused slots say so too.
    assert (field.track_surface[:, 0] == TrackSurface.NOT_IN_WORLD).all()
    assert (field.position[:, 0] == 0).all()


def test_overtakes_happen(race: tuple[DemoSim, FrameBlock, Field]) -> None:
    _, block, field = race
    changes = np.count_nonzero(np.diff(field.position[:, 2:], axis=0), axis=0)
    assert (changes > 0).sum() >= 10  # most opponents gain or lose places over twelve laps
    assert len(np.unique(block.position)) >= 3
    spotter = np.unique(block.car_left_right)
    assert {CarLeftRight.CLEAR, CarLeftRight.CAR_LEFT, CarLeftRight.CAR_RIGHT} <= set(spotter.tolist())
    assert CarLeftRight.OFF in spotter.tolist()  # in the pit lane


def test_opponents_make_pit_stops(race: tuple[DemoSim, FrameBlock, Field]) -> None:
    _, _, field = race
    opponents = slice(2, None)
    pitted = field.on_pit_road[:, opponents].any(axis=0)
    stopped = (field.track_surface[:, opponents] == TrackSurface.IN_PIT_STALL).any(axis=0)
    assert pitted.sum() >= 5 and stopped.sum() >= 5
    assert np.all(np.isfinite(field.last_lap_time_s[-1, opponents]))


def test_more_opponents_fill_more_slots() -> None:
    sim = DemoSim(seed=2, opponents=40)
    frame = sim.step()
    assert frame.cars is not None and frame.cars.shape == (MAX_CARS,)
    assert len(sim.session_info.drivers) == 42
    assert sorted(frame.cars["position"][1:42].tolist()) == list(range(1, 42))
    assert (frame.cars["lap_dist_frac"][42:] == -1.0).all()
    alone = DemoSim(seed=2, opponents=0).generate_block(600)
    assert (alone.position == 1).all()


# --------------------------------------------------------------------------- pit stops, swaps, incidents, flags


def test_the_player_pits_every_n_laps_with_a_driver_swap(race: tuple[DemoSim, FrameBlock, Field]) -> None:
    sim, block, _ = race
    stopped = (block.speed_mps < 0.01) & (block.track_surface == TrackSurface.IN_PIT_STALL)
    stop_laps = sorted(set(block.lap[stopped].tolist()))
    assert stop_laps == [5, 10]
    for lap in stop_laps:
        on_lap = block.lap == lap
        in_stall = stopped & on_lap
        assert 20.0 < in_stall.sum() / 60.0 < 40.0
        assert block.pit_limiter[on_lap].any() and block.on_pit_road[on_lap].any()
        assert np.all(block.speed_mps[on_lap & block.pit_limiter] < 80 / 3.6 + 0.01)
        fuel = block.fuel_level_l[in_stall]
        assert fuel[-1] > fuel[0] + 5.0  # refuelled
        assert (block.tyre_wear_frac[in_stall][-1] == 1.0).all()  # new tyres
        assert (block.clutch[in_stall] > 0.99).all() and (block.gear[in_stall] == 1).all()
        # Out of the pits under the limiter into the next lap, up to the pit exit.
        next_lap = block.lap == lap + 1
        assert block.on_pit_road[next_lap][0] and block.pit_limiter[next_lap][0]
    approach = block.track_surface == TrackSurface.APPROACHING_PITS
    assert approach.any() and not block.on_pit_road[approach].any()
    # In-laps and out-laps are slower than the others.
    lap_times = {int(lap): float(block.last_lap_time_s[block.lap == lap + 1][-1]) for lap in range(1, 12)}
    slow = {lap for lap, seconds in lap_times.items() if seconds > sim.reference_lap_time_s + 5.0}
    assert slow == {5, 6, 10, 11}


def test_driver_swaps_update_session_info_and_queue_events() -> None:
    sim = DemoSim(seed=4, laps=6, pit_every_laps=2, team_drivers=("Alex Demo", "Sam Demo", "Kim Demo"))
    first = sim.drain_events()
    assert len(first) == 1 and isinstance(first[0], SessionChanged)
    assert first[0].info.team_racing and first[0].info.player is not None
    assert first[0].info.player.driver_name == "Alex Demo"
    seen: list[str] = []
    swaps: list[DriverSwap] = []
    while not sim.finished:
        block = sim.generate_block(1_000, cars=False)
        for event in sim.drain_events():
            if isinstance(event, SessionChanged):
                assert event.info.player is not None
                seen.append(event.info.player.driver_name)
                assert event.info is sim.session_info
            elif isinstance(event, DriverSwap):
                swaps.append(event)
                # Released with the tick at which it happens, while the car sits in its pit stall.
                assert block.session_time_s[0] - 1.0 / 60 < event.session_time_s <= block.session_time_s[-1] + 1e-9
    assert seen == ["Sam Demo", "Kim Demo"]
    assert [(s.previous.driver_name if s.previous else None, s.current.driver_name) for s in swaps] == [
        ("Alex Demo", "Sam Demo"),
        ("Sam Demo", "Kim Demo"),
    ]
    assert all(s.car_idx == sim.session_info.player_car_idx for s in swaps)
    assert sim.session_info.update_count == 3


def test_no_swaps_in_a_solo_session() -> None:
    sim = DemoSim(seed=4, laps=3, pit_every_laps=1)
    sim.generate_block(10**6, cars=False)
    events = sim.drain_events()
    assert [type(e) for e in events] == [SessionChanged]
    assert not sim.session_info.team_racing


def test_driver_variance_produces_lockups_off_tracks_and_spins() -> None:
    variance = DemoVariance(lockup_prob=0.1, off_track_prob=0.05, spin_prob=0.03, yellow_mean_interval_s=None)
    block = DemoSim(seed=9, laps=6, variance=variance).generate_block(10**6, cars=False)
    off = block.track_surface == TrackSurface.OFF_TRACK
    assert off.any()
    incidents = block.incident_count
    assert np.all(np.diff(incidents) >= 0) and incidents[-1] >= 3
    first_off = np.argmax(off)
    assert incidents[first_off] > incidents[first_off - 1]
    # A spin: stopped off the track after a burst of yaw rate.
    stopped_off = off & (block.speed_mps < 0.01)
    assert stopped_off.any()
    assert np.abs(block.yaw_rate_radps[off]).max() > 1.5
    # Lock-ups: full pedal and an apex below the usual minimum speed.
    assert (block.brake > 0.999).any()
    laps_with_incidents = np.unique(block.lap[off])
    clean_best = block.best_lap_time_s[-1]
    last_times = np.unique(block.last_lap_time_s[np.isfinite(block.last_lap_time_s)])
    assert clean_best >= last_times.min() and len(laps_with_incidents) >= 1


def test_lockups_drop_the_corner_speed() -> None:
    calm = DemoSim(seed=9, laps=2, variance=DemoVariance.none()).generate_block(10**6, cars=False)
    always_locking = replace(DemoVariance.none(), lockup_prob=1.0)
    locking = DemoSim(seed=9, laps=2, variance=always_locking).generate_block(10**6, cars=False)
    lap = calm.lap == 1
    assert locking.speed_mps[locking.lap == 1].min() < calm.speed_mps[lap].min() - 1.0
    assert (locking.brake[locking.lap == 1] > 0.999).sum() > (calm.brake[lap] > 0.999).sum()
    assert (locking.tyre_wear_frac[locking.lap == 2][0, :2] < calm.tyre_wear_frac[calm.lap == 2][0, :2]).all()


def test_yellow_flags_appear_in_a_sector() -> None:
    sim = DemoSim(seed=1, laps=10, variance=DemoVariance(yellow_mean_interval_s=40.0))
    block = sim.generate_block(10**6, cars=False)
    yellow = (block.session_flags & SessionFlag.YELLOW) != 0
    assert yellow.any() and not yellow.all()
    starts = np.nonzero(np.diff(yellow.astype(np.int8)) == 1)[0] + 1
    assert len(starts) >= 2
    for start in starts:
        sector = sim.track.sector_of(block.lap_dist_frac[start : start + 1])[0]
        run = yellow[start:]
        end = start + (np.argmin(run) if not run.all() else len(run))
        assert (sim.track.sector_of(block.lap_dist_frac[start:end]) == sector).all()
    assert ((block.session_flags[yellow] & SessionFlag.YELLOW_WAVING) != 0).all()
    default = DemoSim(seed=1, laps=20).generate_block(10**6, cars=False)
    assert ((default.session_flags & SessionFlag.YELLOW) != 0).any()


def test_the_session_ends_after_the_checkered_flag() -> None:
    sim = DemoSim(seed=2, laps=2, opponents=5)
    block = sim.generate_block(10**6)
    assert sim.finished
    white = (block.session_flags & SessionFlag.WHITE) != 0
    assert np.array_equal(np.unique(block.lap[white]), [2])
    checkered = (block.session_flags & SessionFlag.CHECKERED) != 0
    assert checkered[-1] and np.all(block.lap[checkered] == 3)
    assert checkered.sum() == pytest.approx(demo.COOLDOWN_S * 60, abs=1)
    assert np.all(block.session_state[checkered] == 5) and np.all(block.session_state[~checkered] == 4)
    assert block.session_laps_remain[0] == 2 and block.session_laps_remain[-1] == 0
    assert np.isfinite(block.last_lap_time_s[-1])  # the final lap's time is published after the line
    assert len(sim.generate_block(100)) == 0
    with pytest.raises(SessionEndedError):
        sim.step()
    assert sim.next_session_time_s is None


def test_invalid_options_are_refused() -> None:
    for options in ({"laps": 0}, {"opponents": 63}, {"pit_every_laps": 0}, {"team_drivers": ()}):
        with pytest.raises(ValueError):
            DemoSim(**options)
    for speed in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError):
            DemoAdapter(speed=speed)
    with pytest.raises(ValueError):
        DemoSim().generate_block(-1)


@pytest.mark.slow
def test_generation_is_fast() -> None:
    sim = DemoSim(seed=1, laps=20)
    started = time.perf_counter()
    block = sim.generate_block(10**7)
    elapsed = time.perf_counter() - started
    assert len(block) > 100_000
    assert len(block) / elapsed > 20_000  # typically ~100,000 ticks/s with per-car data


# --------------------------------------------------------------------------- the adapter


def frames_until_none(adapter: DemoAdapter, now_s: float) -> Iterator[TelemetryFrame]:
    while (frame := adapter.read(now_s)) is not None:
        yield frame


def test_the_adapter_implements_the_protocol_and_connects() -> None:
    adapter = DemoAdapter(seed=1)
    assert isinstance(adapter, SimAdapter)
    before = adapter.state
    assert adapter.name == "demo" and before is AdapterState.WAITING_FOR_SIM
    assert adapter.connect(10.0) is True
    after = adapter.state
    assert after is AdapterState.CONNECTED
    events = adapter.drain_events()
    assert isinstance(events[0], StateChanged) and events[0].current is AdapterState.CONNECTED
    assert isinstance(events[1], SessionChanged) and events[1].info.sim == "demo"
    info = adapter.session_info
    assert info is not None and info.sim == "demo" and info.track.name == "pitbox_park"
    assert adapter.drain_events() == []


def test_read_releases_ticks_at_real_time_times_speed() -> None:
    adapter = DemoAdapter(seed=1, speed=1.0)
    adapter.connect(100.0)
    first = adapter.read(100.0)  # the first read pins the clock: tick 0 is due at once
    assert first is not None and first.tick == 0
    assert adapter.read(100.0) is None
    assert adapter.read(100.0 + 0.5 / 60) is None
    assert adapter.read(100.0 + 1.0 / 60) is not None
    assert len(list(frames_until_none(adapter, 101.0))) == 59  # one second = 60 ticks in all
    assert len(list(frames_until_none(adapter, 103.0))) == 120

    fast = DemoAdapter(seed=1, speed=10.0)
    assert fast.read(50.0) is not None  # read connects when needed
    assert fast.state is AdapterState.CONNECTED
    ticks = [f.tick for f in frames_until_none(fast, 51.0)]
    assert ticks == list(range(1, 601))  # ten seconds of sim time in one second, oldest first


@pytest.mark.parametrize("speed", [None, math.inf])
def test_read_as_fast_as_possible(speed: float | None) -> None:
    adapter = DemoAdapter(seed=1, speed=speed)
    frames = [adapter.read(0.0) for _ in range(500)]
    assert all(f is not None for f in frames)
    assert [f.tick for f in frames if f is not None] == list(range(500))


def test_read_returns_none_after_the_session() -> None:
    adapter = DemoAdapter(seed=1, speed=None, laps=1, opponents=3)
    count = sum(1 for _ in frames_until_none(adapter, 0.0))
    assert count > 90 * 60
    assert adapter.read(1e6) is None
    assert adapter.state is AdapterState.CONNECTED


def test_close_and_reconnect_resume_the_session() -> None:
    adapter = DemoAdapter(seed=1, speed=2.0)
    assert adapter.read(0.0) is not None
    assert len(list(frames_until_none(adapter, 1.0))) == 120
    adapter.drain_events()
    adapter.close()
    assert adapter.state is AdapterState.WAITING_FOR_SIM
    frame = adapter.read(500.0)  # reconnects; the pacing clock starts again
    assert frame is not None and frame.tick == 121
    assert adapter.read(500.0) is None
    kinds = [type(e) for e in adapter.drain_events()]
    assert kinds == [StateChanged, StateChanged, StateChanged, SessionChanged]


def test_adapter_step_and_block_share_the_session() -> None:
    adapter = DemoAdapter(seed=1)
    assert adapter.step().tick == 0
    block = adapter.generate_block(10, cars=False)
    assert block.cars is None and block.tick.tolist() == list(range(1, 11))
    assert isinstance(adapter.drain_events()[0], SessionChanged)


def test_register_adapter_makes_demo_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "_REGISTRY", {})
    monkeypatch.setattr(base, "_builtin_loaded", True)  # do not import the iRacing adapters here
    demo.register_adapter()
    (spec,) = base.registered()
    assert spec.name == "demo" and spec.detect is None and spec.description
    adapter = base.create("demo", seed=3, speed=None, laps=2)
    assert isinstance(adapter, DemoAdapter) and adapter.sim.laps == 2
    assert base.auto_select() == "demo"
