"""A synthetic EA SPORTS F1 UDP session for tests: the demo sim's race, encoded with the adapter's own tables.

`f1_session(packet_format, laps)` runs the built-in demo race (`adapters.demo.DemoSim`) and writes
every tick as the F1 game would send it: motion, lap data, car telemetry and car status (and, from
2023, motion ex) each frame; session and car setups twice a second, car damage ten times, session
history twenty times (one car at a time), participants every five seconds; events at the start and
the flag. Packets are filled column by column in numpy records of the layouts in
`adapters.f1udp_layouts` and cut into datagrams, so decoding them is a round trip through the same
tables, in the game's units (km/h, PSI, kg, RL RR FL FR wheel order).

`impair(datagrams, ...)` then does to the stream what UDP may: drop, duplicate, reorder; and says
exactly what it did, so tests can check the adapter's counters against the truth.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from adapters.demo import DemoSim, DemoVariance
from adapters.f1udp import frame_kinds
from adapters.f1udp_frames import (
    DIRECTION_SCALE,
    FUEL_DENSITY_KG_PER_L,
    GRAVITY_MPS2,
    KPA_PER_PSI,
    STEERING_LOCK_RAD,
    WHEEL_ORDER,
)
from adapters.f1udp_layouts import PACKET_LAYOUTS, SESSION_TYPES, Layout, PacketId
from adapters.f1udp_packets import peek_header
from adapters.model import FrameBlock, SessionFlag, SessionInfo, TrackSurface

SESSION_UID = 0x5EED_F1F1_0000_0001
TRACK_ID = 26  # the demo track is not an F1 track: it is sent under a real id, with its own length
N_CARS = 20
DEMO_PLAYER = 1  # the demo's player car index (0 is its pace car); F1 index = demo index - 1
FIRST_FRAME = 1000


@dataclass(frozen=True, slots=True, eq=False)
class SyntheticSession:
    packet_format: int
    demo: FrameBlock
    """The demo ticks the datagrams were made from (with the per-car arrays)."""
    info: SessionInfo
    datagrams: tuple[tuple[bytes, float], ...]
    """(payload, send time) in the order sent."""
    frame_ids: npt.NDArray[np.int64]
    """The F1 frame identifier of each demo tick."""


def _headers(
    layout: Layout, packet_format: int, kind: PacketId, t: npt.NDArray[np.float64], frames: npt.NDArray[np.int64]
) -> npt.NDArray[np.void]:
    records = layout.zeros(len(t))
    h = records["header"]
    h["packet_format"] = packet_format
    if packet_format >= 2023:
        h["game_year"] = packet_format % 100
        h["overall_frame_identifier"] = frames
    h["game_major_version"] = 1
    h["game_minor_version"] = 7
    h["packet_version"] = 1
    h["packet_id"] = int(kind)
    h["session_uid"] = SESSION_UID
    h["session_time_s"] = t
    h["frame_identifier"] = frames
    h["player_car_index"] = 0
    h["secondary_player_car_index"] = 255
    return records


def _cut(records: npt.NDArray[np.void]) -> list[bytes]:
    raw = records.tobytes()
    size = records.dtype.itemsize
    return [raw[i * size : (i + 1) * size] for i in range(len(records))]


def _outline_xyz(sim: DemoSim, dist_m: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], ...]:
    track = sim.track
    outline = track.outline
    grid = np.append(track.outline_distance_m, track.length_m)
    x = np.interp(dist_m, grid, outline.closed(outline.x_m))
    z = np.interp(dist_m, grid, outline.closed(outline.y_m))
    y = np.interp(dist_m, grid, outline.closed(outline.altitude_m))
    ahead = (dist_m + 1.0) % track.length_m
    dx = np.interp(ahead, grid, outline.closed(outline.x_m)) - x
    dz = np.interp(ahead, grid, outline.closed(outline.y_m)) - z
    norm = np.maximum(np.hypot(dx, dz), 1e-9)
    return x, y, z, dx / norm, dz / norm


@functools.lru_cache(maxsize=4)
def f1_session(packet_format: int = 2024, laps: int = 3, seed: int = 4, step: int = 1) -> SyntheticSession:
    """The demo race (`laps` laps, 20 cars) as F1 datagrams of `packet_format` (cached per arguments),
    sent every `step` physics frames of 1/60 s (1: the game's 60 Hz setting, 3: 20 Hz)."""
    sim = DemoSim(seed=seed, laps=laps, opponents=N_CARS - 1, variance=DemoVariance.calm())
    parts = []
    while not sim.finished:
        parts.append(sim.generate_block(6000))
    whole = FrameBlock.concatenate(parts)
    assert whole.cars is not None
    demo = FrameBlock(whole.frames[::step].copy(), whole.cars[::step].copy())
    info = sim.session_info
    assert demo.cars is not None
    n = len(demo)
    layouts = PACKET_LAYOUTS[packet_format]
    t = demo.session_time_s.astype(np.float64)
    frames = FIRST_FRAME + step * np.arange(n, dtype=np.int64)
    f = demo.frames
    cars = demo.cars[:, DEMO_PLAYER : DEMO_PLAYER + N_CARS]  # F1 index j = demo index j + 1
    length = sim.track.length_m
    frac = cars["lap_dist_frac"].astype(np.float64)
    active = frac >= 0
    dist = np.where(active, frac, 0.0) * length
    dist[:, 0] = f["lap_dist_m"]
    finished = f["session_state"] == 5
    order = WHEEL_ORDER  # its own inverse: the game's RL RR FL FR from the model's LF RF LR RR

    by_kind: dict[PacketId, list[bytes]] = {}

    motion = _headers(layouts[PacketId.MOTION], packet_format, PacketId.MOTION, t, frames)
    x, y, z, fx, fz = _outline_xyz(sim, dist)
    mc = motion["cars"][:, :N_CARS]
    mc["world_position_x_m"], mc["world_position_y_m"], mc["world_position_z_m"] = x, y, z
    mc["world_forward_dir_x"] = np.round(fx * DIRECTION_SCALE)
    mc["world_forward_dir_z"] = np.round(fz * DIRECTION_SCALE)
    mc["world_right_dir_x"] = np.round(-fz * DIRECTION_SCALE)
    mc["world_right_dir_z"] = np.round(fx * DIRECTION_SCALE)
    mc["g_force_lateral_g"][:, 0] = f["lat_accel_mps2"] / GRAVITY_MPS2
    mc["g_force_longitudinal_g"][:, 0] = f["long_accel_mps2"] / GRAVITY_MPS2
    extra = motion
    if packet_format >= 2023:
        extra = _headers(layouts[PacketId.MOTION_EX], packet_format, PacketId.MOTION_EX, t, frames)
    extra["angular_velocity_y_radps"] = f["yaw_rate_radps"]
    by_kind[PacketId.MOTION] = _cut(motion)
    if packet_format >= 2023:
        by_kind[PacketId.MOTION_EX] = _cut(extra)

    lap = _headers(layouts[PacketId.LAP_DATA], packet_format, PacketId.LAP_DATA, t, frames)
    lc = lap["cars"]
    lc["lap_distance_m"][:, :N_CARS] = dist
    lc["total_distance_m"][:, :N_CARS] = dist + np.maximum(cars["lap"] - 1, 0) * length
    lc["current_lap_num"][:, :N_CARS] = np.maximum(cars["lap"], 0)
    lc["car_position"][:, :N_CARS] = cars["position"]
    last = cars["last_lap_time_s"].astype(np.float64)
    lc["last_lap_time_ms"][:, :N_CARS] = np.where(np.isfinite(last), np.round(last * 1000), 0)
    est = cars["est_time_s"].astype(np.float64)
    lc["current_lap_time_ms"][:, :N_CARS] = np.where(np.isfinite(est), np.round(est * 1000), 0)
    lc["current_lap_time_ms"][:, 0] = np.round(np.nan_to_num(f["current_lap_time_s"]) * 1000)
    lc["pit_status"][:, :N_CARS] = np.select(
        [cars["track_surface"] == TrackSurface.IN_PIT_STALL, cars["on_pit_road"]], [2, 1], 0
    )
    lc["driver_status"][:, :N_CARS] = np.where(active, 4, 0)
    lc["result_status"][:, :N_CARS] = np.where(active, 2, 1)
    lc["result_status"][:, 0] = np.where(finished, 3, 2)
    warnings = "warnings" if packet_format < 2023 else "total_warnings"
    lc[warnings][:, 0] = np.clip(f["incident_count"], 0, 255)
    by_kind[PacketId.LAP_DATA] = _cut(lap)

    tel = _headers(layouts[PacketId.CAR_TELEMETRY], packet_format, PacketId.CAR_TELEMETRY, t, frames)
    me = tel["cars"][:, 0]
    me["speed_kph"] = np.round(f["speed_mps"] * 3.6)
    me["throttle"], me["brake"] = f["throttle"], f["brake"]
    me["steer"] = np.clip(-f["steering_angle_rad"] / STEERING_LOCK_RAD, -1.0, 1.0)
    me["clutch_pct"] = np.round(f["clutch"] * 100)
    me["gear"] = f["gear"]
    me["engine_rpm"] = np.round(f["rpm"])
    me["tyres_surface_temperature_c"] = np.round(f["tyre_temp_c"][:, order])
    me["tyres_inner_temperature_c"] = np.round(f["tyre_carcass_temp_c"][:, order])
    me["tyres_pressure_psi"] = f["tyre_pressure_kpa"][:, order] / KPA_PER_PSI
    me["surface_type"] = np.where((f["track_surface"] == TrackSurface.OFF_TRACK)[:, None], 7, 0)
    tel["cars"]["speed_kph"][:, 1:N_CARS] = 200
    tel["suggested_gear"] = 0
    tel["mfd_panel_index"] = tel["mfd_panel_index_secondary_player"] = 255
    by_kind[PacketId.CAR_TELEMETRY] = _cut(tel)

    status = _headers(layouts[PacketId.CAR_STATUS], packet_format, PacketId.CAR_STATUS, t, frames)
    st = status["cars"]
    st["fuel_capacity_kg"][:, :N_CARS] = sim.car.tank_l * FUEL_DENSITY_KG_PER_L
    st["fuel_in_tank_kg"][:, 0] = f["fuel_level_l"] * FUEL_DENSITY_KG_PER_L
    st["pit_limiter_status"][:, 0] = f["pit_limiter"]
    yellow = (f["session_flags"] & int(SessionFlag.YELLOW)) != 0
    st["vehicle_fia_flags"][:, 0] = np.where(yellow, 3, 1)
    st["max_rpm"] = 8200
    by_kind[PacketId.CAR_STATUS] = _cut(status)

    slow: list[tuple[int, bytes]] = []  # (tick index, payload)
    every_s = {PacketId.SESSION: 0.5, PacketId.CAR_SETUPS: 0.5, PacketId.CAR_DAMAGE: 0.1, PacketId.PARTICIPANTS: 5.0}
    for kind, period_s in every_s.items():
        ticks = np.arange(0, n, max(1, round(period_s * 60 / step)))
        records = _headers(layouts[kind], packet_format, kind, t[ticks], frames[ticks])
        if kind is PacketId.SESSION:
            records["track_id"] = TRACK_ID
            records["track_length_m"] = round(length)
            records["total_laps"] = laps
            race = next(k for k, v in SESSION_TYPES[packet_format].items() if v == "Race")
            records["session_type"] = race
            records["session_duration_s"] = 3600
            records["session_time_left_s"] = np.maximum(3600 - t[ticks], 0)
            records["track_temperature_c"] = np.round(f["track_temp_c"][ticks])
            records["air_temperature_c"] = np.round(f["air_temp_c"][ticks])
            records["pit_speed_limit_kph"] = 80
            records["num_marshal_zones"] = 0
            if "sector2_lap_distance_start_m" in (records.dtype.names or ()):
                starts = sim.track.sector_starts_frac
                records["sector2_lap_distance_start_m"] = starts[1] * length
                records["sector3_lap_distance_start_m"] = starts[2] * length
        elif kind is PacketId.CAR_SETUPS:
            records["cars"]["fuel_load_kg"][:, 0] = sim.car.tank_l * FUEL_DENSITY_KG_PER_L
            records["cars"]["front_wing"] = 20
        elif kind is PacketId.CAR_DAMAGE:
            records["cars"]["tyres_wear_pct"][:, 0] = (1.0 - f["tyre_wear_frac"][ticks][:, order]) * 100.0
        elif kind is PacketId.PARTICIPANTS:
            records["num_active_cars"] = N_CARS
            rows = records["participants"]
            drivers = {d.car_idx: d for d in info.drivers}
            for j in range(N_CARS):
                driver = drivers[j + DEMO_PLAYER]
                rows["name"][:, j] = driver.driver_name.encode()
                rows["race_number"][:, j] = int(driver.car_number) if driver.car_number.isdigit() else j
                rows["team_id"][:, j] = j % 10
                rows["ai_controlled"][:, j] = 0 if j == 0 else 1
                rows["driver_id"][:, j] = 255 if j == 0 else j
        slow.extend(zip(ticks.tolist(), _cut(records), strict=True))

    history_ticks = np.arange(0, n, max(1, round(3 / step)))
    history = _headers(layouts[PacketId.SESSION_HISTORY], packet_format, PacketId.SESSION_HISTORY,
                       t[history_ticks], frames[history_ticks])  # fmt: skip
    car_of = np.arange(len(history_ticks)) % N_CARS
    best = cars["best_lap_time_s"][history_ticks, car_of].astype(np.float64)
    history["car_idx"] = car_of
    history["num_laps"] = np.maximum(cars["lap"][history_ticks, car_of], 1)
    history["best_lap_time_lap_num"] = np.where(np.isfinite(best), 1, 0)
    history["lap_history"]["lap_time_ms"][:, 0] = np.where(np.isfinite(best), np.round(best * 1000), 0)
    history["lap_history"]["lap_valid_bit_flags"][:, 0] = 0x0F
    slow.extend(zip(history_ticks.tolist(), _cut(history), strict=True))

    event_layout = layouts[PacketId.EVENT]
    flag_at = int(np.argmax(finished)) if finished.any() else None
    for tick, code in [(0, b"SSTA"), *([(flag_at, b"CHQF")] if flag_at is not None else []), (n - 1, b"SEND")]:
        record = _headers(event_layout, packet_format, PacketId.EVENT, t[tick : tick + 1], frames[tick : tick + 1])
        record["event_string_code"] = code
        slow.append((tick, _cut(record)[0]))

    per_frame = [k for k in (PacketId.MOTION, PacketId.MOTION_EX, PacketId.LAP_DATA, PacketId.CAR_TELEMETRY,
                             PacketId.CAR_STATUS) if k in by_kind]  # fmt: skip
    slow.sort(key=lambda item: item[0])
    datagrams: list[tuple[bytes, float]] = []
    s = 0
    for i in range(n):
        for k, kind in enumerate(per_frame):
            datagrams.append((by_kind[kind][i], float(t[i]) + k * 1e-5))
        while s < len(slow) and slow[s][0] == i:
            datagrams.append((slow[s][1], float(t[i]) + 1e-4))
            s += 1
    assert {*per_frame} == frame_kinds(packet_format)
    return SyntheticSession(packet_format, demo, info, tuple(datagrams), frames)


# --------------------------------------------------------------------------- what UDP does


@dataclass(frozen=True, slots=True)
class Impaired:
    """A stream after `impair`, and the truth about what happened to it."""

    datagrams: list[tuple[bytes, float]]
    dropped: int
    duplicated: int
    moved: int
    delivered_copies: dict[int, int]
    """Original index -> how many copies arrived (0: lost)."""


def impair(
    datagrams: Sequence[tuple[bytes, float]],
    *,
    loss: float,
    duplicates: float,
    reorder: float,
    max_shift: int = 3,
    seed: int = 7,
) -> Impaired:
    """Drop each datagram with probability `loss`, send an extra copy of the survivors with probability
    `duplicates`, and move a share `reorder` of them later by 1..`max_shift` places. Receive times
    stay in arrival order (each position keeps the time of the datagram first sent there)."""
    rng = np.random.default_rng(seed)
    arrived: list[int] = []
    copies: dict[int, int] = {}
    dropped = duplicated = 0
    for index in range(len(datagrams)):
        if rng.random() < loss:
            dropped += 1
            copies[index] = 0
            continue
        extra = rng.random() < duplicates
        duplicated += int(extra)
        copies[index] = 1 + int(extra)
        arrived.extend([index] * copies[index])
    moved = 0
    position = 0
    while position < len(arrived) - 1:
        if rng.random() < reorder:
            shift = int(rng.integers(1, max_shift + 1))
            target = min(position + shift, len(arrived) - 1)
            arrived.insert(target, arrived.pop(position))
            moved += 1
            position = target + 1
        else:
            position += 1
    times = sorted(datagrams[i][1] for i in arrived)
    out = [(datagrams[i][0], times[k]) for k, i in enumerate(arrived)]
    return Impaired(out, dropped, duplicated, moved, copies)


def packet_kind_and_frame(payload: bytes) -> tuple[int, int]:
    """The packet id and frame identifier in a datagram's header."""
    header = peek_header(payload)
    return header.packet_id, header.frame_identifier


# --------------------------------------------------------------------------- single packets


def build_packet(
    packet_format: int,
    kind: PacketId,
    *,
    frame: int,
    time_s: float,
    uid: int = SESSION_UID,
    player: int = 0,
    fill: Callable[[npt.NDArray[np.void]], object] | None = None,
) -> bytes:
    """One datagram of `kind`: a zeroed packet with its header set; `fill(records)` sets fields on the
    one-record array (e.g. `records["cars"]["speed_kph"][0, player] = 250`)."""
    layout = PACKET_LAYOUTS[packet_format][kind]
    records = _headers(layout, packet_format, kind, np.array([time_s]), np.array([frame]))
    records["header"]["session_uid"] = uid
    records["header"]["player_car_index"] = player
    if fill is not None:
        fill(records)
    return records.tobytes()


def frame_packets(
    packet_format: int,
    frame: int,
    time_s: float,
    *,
    uid: int = SESSION_UID,
    fill: Callable[[PacketId, npt.NDArray[np.void]], object] | None = None,
) -> dict[PacketId, bytes]:
    """Every per-frame packet of one frame (`fill(kind, records)` sets fields), keyed by kind."""
    out = {}
    for kind in sorted(frame_kinds(packet_format)):

        def one(records: npt.NDArray[np.void], kind: PacketId = kind) -> object:
            return None if fill is None else fill(kind, records)

        out[kind] = build_packet(packet_format, kind, frame=frame, time_s=time_s, uid=uid, fill=one)
    return out
