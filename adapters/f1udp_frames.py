"""From the newest F1 packets of a session to the canonical model: `TelemetryFrame` and `SessionInfo`.

One job: unit conversion and meaning. `CarState` keeps the newest packet of each kind for one
session (and what has to be accumulated: best laps, fuel use, the chequered flag); `build_frame`
turns it into one canonical tick, vectorised over the 22 cars with numpy; `build_session_info`
into the session description. Pure: packets and times in, values out.

Conversions (the game's units -> PitBox's SI units):

* speed km/h -> m/s (the speedometer's whole km/h); pressures PSI -> kPa; g -> m/s^2;
  milliseconds -> seconds; clutch 0-100 -> 0-1; tyre wear "percent worn" -> tread left 0-1.
* Fuel: the game counts kilograms; PitBox litres, at `FUEL_DENSITY_KG_PER_L` (also in `SessionInfo`).
  The fuel use rate is the smoothed fall of the tank level over session time.
* Steering: the game's -1 (full lock left) .. 1 is scaled by `STEERING_LOCK_RAD`, sign flipped
  (positive to the left, as in the model). Lateral acceleration and yaw rate keep the game's signs.
* Wheels: the game orders them RL, RR, FL, FR; the model LF, RF, LR, RR.
* Lap distance is negative on the grid before the line is first crossed: it is held at 0 there.
* Spotter (`car_left_right`): other cars whose centre is within `ALONGSIDE_M` along the player's
  heading and `SIDE_MIN_M`..`SIDE_MAX_M` across it, from the world positions in the motion packet.
* Flags: the FIA flag shown to the player, safety car (caution), the last lap of a race (white)
  and the chequered flag (the CHQF event, or the player's result "finished").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from adapters.f1udp_layouts import (
    FORMULAS,
    MAX_CARS_IN_PACKET,
    OFF_TRACK_SURFACES,
    SESSION_TYPES,
    TEAMS,
    TRACKS,
    PacketId,
)
from adapters.f1udp_packets import F1Event, Packet
from adapters.model import (
    CarLeftRight,
    DriverEntry,
    SessionFlag,
    SessionInfo,
    SessionType,
    TelemetryFrame,
    TrackInfo,
    TrackSurface,
    empty_cars,
    empty_frames,
)

SIM_NAME: Final = "f1"
GRAVITY_MPS2: Final = 9.80665
KPA_PER_PSI: Final = 6.894757
FUEL_DENSITY_KG_PER_L: Final = 0.75
"""Kilograms of fuel per litre (the game reports the tank in kg)."""
STEERING_LOCK_RAD: Final = math.pi
"""Steering wheel angle at full lock: half of the game's default 360 degree wheel rotation."""
WHEEL_ORDER: Final = np.array([2, 3, 0, 1])
"""Indices into the game's RL, RR, FL, FR arrays giving the model's LF, RF, LR, RR."""
DIRECTION_SCALE: Final = 32767.0
ALONGSIDE_M: Final = 5.5
"""Centres closer than this along the player's heading overlap (an F1 car is about 5.6 m long)."""
SIDE_MIN_M: Final = 0.5
SIDE_MAX_M: Final = 4.5
"""A car alongside is this far to the side (closer: the same place; further: not a threat)."""
FUEL_RATE_TAU_S: Final = 1.0
"""Time constant of the smoothing of the fuel use rate."""

_GARAGE: Final = 0  # driver_status: in the garage
_OFF_TRACK: Final = np.isin(np.arange(256), sorted(OFF_TRACK_SURFACES))
"""Surface type -> off the racing surface, as a lookup table."""


def _session_type(name: str) -> SessionType:
    if name.startswith("Race"):
        return SessionType.RACE
    if "Practice" in name:
        return SessionType.PRACTICE
    if "Qualifying" in name or "Sprint Shootout" in name:
        return SessionType.QUALIFY
    if name == "Time Trial":
        return SessionType.TESTING
    return SessionType.OTHER


def _names(record: np.void, field_name: str) -> tuple[str, ...]:
    raw = record[field_name]
    return tuple(bytes(value).split(b"\0", 1)[0].decode("utf-8", "replace") for value in raw)


@dataclass(slots=True)
class CarState:
    """The newest packet of each kind in one session, and what accumulates over it.

    `apply(packet)` takes every decoded packet of the session in the order it is used; per-frame
    packets (motion, lap data, telemetry, status, motion ex) are applied by the caller when their
    frame is released, so the state always describes one frame.
    """

    packet_format: int
    session_uid: int
    player_idx: int = 0
    latest: dict[PacketId, np.void] = field(default_factory=dict)
    best_from_history_s: npt.NDArray[np.float64] = field(default_factory=lambda: np.full(MAX_CARS_IN_PACKET, np.nan))
    best_seen_s: npt.NDArray[np.float64] = field(default_factory=lambda: np.full(MAX_CARS_IN_PACKET, np.nan))
    chequered: bool = False
    fuel_rate_lps: float = float("nan")
    _fuel_at: tuple[float, float] | None = None  # (session time, kg) of the previous status

    def apply(self, packet: Packet) -> None:
        kind, record = packet.kind, packet.record
        self.latest[kind] = record
        if packet.header.player_car_index < MAX_CARS_IN_PACKET:
            self.player_idx = packet.header.player_car_index
        if kind is PacketId.SESSION_HISTORY:
            self._history(record)
        elif kind is PacketId.LAP_DATA:
            last = record["cars"]["last_lap_time_ms"].astype(np.float64) / 1000.0
            seen = np.where(last > 0, last, np.nan)
            self.best_seen_s = np.fmin(self.best_seen_s, seen)
        elif kind is PacketId.CAR_STATUS:
            self._fuel(packet.header.session_time_s, float(record["cars"]["fuel_in_tank_kg"][self.player_idx]))

    def apply_event(self, event: F1Event) -> None:
        if event.code == "CHQF":
            self.chequered = True
        elif event.code == "SSTA":
            self.chequered = False

    def _history(self, record: np.void) -> None:
        car = int(record["car_idx"])
        lap = int(record["best_lap_time_lap_num"])
        if car < MAX_CARS_IN_PACKET and 1 <= lap <= min(int(record["num_laps"]), len(record["lap_history"])):
            ms = int(record["lap_history"]["lap_time_ms"][lap - 1])
            self.best_from_history_s[car] = ms / 1000.0 if ms > 0 else np.nan

    def _fuel(self, t_s: float, kg: float) -> None:
        previous, self._fuel_at = self._fuel_at, (t_s, kg)
        if previous is None or not math.isfinite(kg):
            return
        dt = t_s - previous[0]
        used = previous[1] - kg
        if dt <= 0 or used < 0:  # paused, rewound, or refuelled: start the estimate again
            self.fuel_rate_lps = float("nan") if used < 0 else self.fuel_rate_lps
            return
        rate = used / FUEL_DENSITY_KG_PER_L / dt
        if math.isnan(self.fuel_rate_lps):
            self.fuel_rate_lps = rate
        else:
            self.fuel_rate_lps += (1.0 - math.exp(-dt / FUEL_RATE_TAU_S)) * (rate - self.fuel_rate_lps)

    @property
    def best_lap_s(self) -> npt.NDArray[np.float64]:
        return np.where(np.isfinite(self.best_from_history_s), self.best_from_history_s, self.best_seen_s)

    @property
    def track_length_m(self) -> float:
        session = self.latest.get(PacketId.SESSION)
        length = 0 if session is None else int(session["track_length_m"])
        return float(length) if length > 0 else float("nan")


# --------------------------------------------------------------------------- the frame


def _spotter(state: CarState, p: int, active: npt.NDArray[np.bool_], pit: npt.NDArray[np.integer[Any]]) -> int:
    motion = state.latest.get(PacketId.MOTION)
    if motion is None:
        return int(CarLeftRight.OFF)
    cars = motion["cars"]
    position = np.stack([cars["world_position_x_m"], cars["world_position_y_m"], cars["world_position_z_m"]], axis=1)
    me = cars[p]
    scale = DIRECTION_SCALE
    forward = np.array([me["world_forward_dir_x"], me["world_forward_dir_y"], me["world_forward_dir_z"]]) / scale
    right = np.array([me["world_right_dir_x"], me["world_right_dir_y"], me["world_right_dir_z"]]) / scale
    offset = position.astype(np.float64) - position[p].astype(np.float64)
    along, across = offset @ forward, offset @ right
    others = active & (pit == 0) & (np.arange(len(cars)) != p)
    alongside = others & (np.abs(along) < ALONGSIDE_M) & (np.abs(across) > SIDE_MIN_M) & (np.abs(across) < SIDE_MAX_M)
    left, right_count = int((alongside & (across < 0)).sum()), int((alongside & (across > 0)).sum())
    if left and right_count:
        return int(CarLeftRight.CARS_LEFT_RIGHT)
    if left >= 2:
        return int(CarLeftRight.TWO_CARS_LEFT)
    if right_count >= 2:
        return int(CarLeftRight.TWO_CARS_RIGHT)
    if left:
        return int(CarLeftRight.CAR_LEFT)
    if right_count:
        return int(CarLeftRight.CAR_RIGHT)
    return int(CarLeftRight.CLEAR)


def _warnings_field(packet_format: int) -> str:
    return "warnings" if packet_format < 2023 else "total_warnings"


def build_frame(state: CarState, session_time_s: float, tick: int) -> TelemetryFrame:
    """One canonical tick from the state (channels the state has no packet for stay missing)."""
    frames, cars = empty_frames(1), empty_cars(1)
    f, car = frames[0], cars[0]
    car["lap_dist_frac"], car["position"], car["class_position"] = -1.0, 0, 0  # empty slots: not in the world
    f["session_time_s"] = session_time_s
    f["tick"] = tick
    p = state.player_idx
    latest = state.latest
    session = latest.get(PacketId.SESSION)
    lap_packet = latest.get(PacketId.LAP_DATA)
    telemetry = latest.get(PacketId.CAR_TELEMETRY)
    status = latest.get(PacketId.CAR_STATUS)
    damage = latest.get(PacketId.CAR_DAMAGE)
    participants = latest.get(PacketId.PARTICIPANTS)
    length_m = state.track_length_m
    n = MAX_CARS_IN_PACKET
    index = np.arange(n)
    race = session is not None and _session_type(_session_name(state)) is SessionType.RACE

    if session is not None:
        f["track_temp_c"] = session["track_temperature_c"]
        f["air_temp_c"] = session["air_temperature_c"]
        f["session_time_remain_s"] = session["session_time_left_s"]

    in_world = False
    if lap_packet is not None:
        laps = lap_packet["cars"]
        result, pit, driver = laps["result_status"], laps["pit_status"], laps["driver_status"]
        active = (result == 2) | (result == 3)  # active or finished
        if participants is not None:
            active &= index < int(participants["num_active_cars"])
        distance = np.maximum(laps["lap_distance_m"].astype(np.float64), 0.0)
        if math.isfinite(length_m):
            distance = np.minimum(distance, np.nextafter(length_m, 0.0))
        frac = distance / length_m
        lap_num = laps["current_lap_num"].astype(np.int32)
        last = laps["last_lap_time_ms"].astype(np.float64) / 1000.0
        surface = np.select(
            [~active, driver == _GARAGE, pit == 2, pit == 1],
            [TrackSurface.NOT_IN_WORLD, TrackSurface.IN_PIT_STALL, TrackSurface.IN_PIT_STALL,
             TrackSurface.APPROACHING_PITS],
            TrackSurface.ON_TRACK,
        )  # fmt: skip
        car["lap_dist_frac"][:n] = np.where(active & np.isfinite(frac), frac, -1.0)
        car["lap"][:n] = np.where(active, lap_num, -1)
        car["lap_completed"][:n] = np.where(active & (lap_num > 0), lap_num - 1, -1)
        car["position"][:n] = np.where(active, laps["car_position"], 0)
        car["class_position"][:n] = car["position"][:n]
        car["class_id"][:n] = np.where(active, 0 if session is None else int(session["formula"]), -1)
        car["on_pit_road"][:n] = active & (pit != 0)
        car["track_surface"][:n] = surface
        car["last_lap_time_s"][:n] = np.where(active & (last > 0), last, np.nan)
        car["best_lap_time_s"][:n] = np.where(active, state.best_lap_s, np.nan)
        car["est_time_s"][:n] = np.where(active, laps["current_lap_time_ms"] / 1000.0, np.nan)

        if p < n:
            me = laps[p]
            in_world = bool(active[p]) and int(me["driver_status"]) != _GARAGE
            lap = int(me["current_lap_num"])
            f["lap"] = lap
            f["lap_completed"] = lap - 1 if lap > 0 else -1
            f["lap_dist_m"] = distance[p]
            f["lap_dist_frac"] = frac[p]
            f["position"] = f["class_position"] = me["car_position"]
            f["last_lap_time_s"] = last[p] if last[p] > 0 else np.nan
            f["best_lap_time_s"] = state.best_lap_s[p]
            f["current_lap_time_s"] = int(me["current_lap_time_ms"]) / 1000.0
            f["on_pit_road"] = int(me["pit_status"]) != 0
            f["incident_count"] = me[_warnings_field(state.packet_format)]
            f["track_surface"] = surface[p] if in_world else TrackSurface.NOT_IN_WORLD
            f["car_left_right"] = _spotter(state, p, active, pit) if in_world and not f["on_pit_road"] else 0
            f["session_state"] = _session_state(session, int(me["result_status"]), int(me["driver_status"]))
            if race and session is not None:
                total = int(session["total_laps"])
                f["session_laps_remain"] = max(total - (lap - 1), 0) if total > 0 else -1
    f["in_world"] = in_world
    f["is_on_track"] = in_world

    if telemetry is not None and p < n:
        tel = telemetry["cars"][p]
        f["speed_mps"] = int(tel["speed_kph"]) / 3.6
        f["rpm"] = tel["engine_rpm"]
        f["gear"] = tel["gear"]
        f["throttle"] = tel["throttle"]
        f["brake"] = tel["brake"]
        f["clutch"] = int(tel["clutch_pct"]) / 100.0
        f["steering_angle_rad"] = -float(tel["steer"]) * STEERING_LOCK_RAD
        f["tyre_temp_c"] = tel["tyres_surface_temperature_c"][WHEEL_ORDER]
        f["tyre_carcass_temp_c"] = tel["tyres_inner_temperature_c"][WHEEL_ORDER]
        f["tyre_pressure_kpa"] = tel["tyres_pressure_psi"][WHEEL_ORDER] * KPA_PER_PSI
        on_track = in_world and int(f["track_surface"]) == TrackSurface.ON_TRACK
        if on_track and _OFF_TRACK[tel["surface_type"]].all():  # all four wheels on grass, gravel...
            f["track_surface"] = TrackSurface.OFF_TRACK

    motion = latest.get(PacketId.MOTION)
    if motion is not None and p < n:
        mo = motion["cars"][p]
        f["lat_accel_mps2"] = float(mo["g_force_lateral_g"]) * GRAVITY_MPS2
        f["long_accel_mps2"] = float(mo["g_force_longitudinal_g"]) * GRAVITY_MPS2
        f["altitude_m"] = mo["world_position_y_m"]
    extra = motion if state.packet_format < 2023 else latest.get(PacketId.MOTION_EX)
    if extra is not None:
        f["yaw_rate_radps"] = extra["angular_velocity_y_radps"]

    if status is not None and p < n:
        st = status["cars"][p]
        f["fuel_level_l"] = float(st["fuel_in_tank_kg"]) / FUEL_DENSITY_KG_PER_L
        f["fuel_use_rate_lps"] = state.fuel_rate_lps
        f["pit_limiter"] = int(st["pit_limiter_status"]) == 1

    if damage is not None and p < n:
        f["tyre_wear_frac"] = 1.0 - damage["cars"]["tyres_wear_pct"][p][WHEEL_ORDER] / 100.0

    f["session_flags"] = _flags(state, in_world, int(f["lap"]), int(f["session_state"]), race)
    return TelemetryFrame(frames[0:1].reshape(()), car)


def _session_state(session: np.void | None, result: int, driver: int) -> int:
    if result == 3:
        return 5  # checkered: this car has finished
    if session is not None and int(session["safety_car_status"]) == 3:
        return 3  # the formation lap
    if driver == _GARAGE:
        return 1  # get in car
    return 4  # racing


def _flags(state: CarState, in_world: bool, lap: int, session_state: int, race: bool) -> int:
    if state.chequered or session_state == 5:
        return int(SessionFlag.CHECKERED)
    if not in_world:
        return 0
    flags = SessionFlag.GREEN
    status = state.latest.get(PacketId.CAR_STATUS)
    if status is not None:
        fia = int(status["cars"]["vehicle_fia_flags"][state.player_idx])
        flags |= {
            2: SessionFlag.BLUE,
            3: SessionFlag.YELLOW | SessionFlag.YELLOW_WAVING,
            4: SessionFlag.RED,
        }.get(fia, SessionFlag(0))
    session = state.latest.get(PacketId.SESSION)
    if session is not None:
        if int(session["safety_car_status"]) in (1, 2):
            flags |= SessionFlag.CAUTION | SessionFlag.CAUTION_WAVING
        total = int(session["total_laps"])
        if race and total > 0 and lap == total:
            flags |= SessionFlag.WHITE
    return int(flags)


# --------------------------------------------------------------------------- the session


def _session_name(state: CarState) -> str:
    session = state.latest.get(PacketId.SESSION)
    if session is None:
        return ""
    number = int(session["session_type"])
    return SESSION_TYPES[state.packet_format].get(number, f"Session type {number}")


def team_name(packet_format: int, team_id: int) -> str:
    return TEAMS[packet_format].get(team_id, f"Team {team_id}")


def track_info(state: CarState) -> TrackInfo | None:
    session = state.latest.get(PacketId.SESSION)
    if session is None:
        return None
    track_id = int(session["track_id"])
    name, display, config = TRACKS.get(track_id, (f"track_{track_id}", f"Track {track_id}", ""))
    length = float(session["track_length_m"])
    sectors: tuple[float, ...] = ()
    names = session.dtype.names or ()
    if "sector2_lap_distance_start_m" in names and length > 0:
        s2 = float(session["sector2_lap_distance_start_m"])
        s3 = float(session["sector3_lap_distance_start_m"])
        if 0 < s2 < s3 < length:
            sectors = (0.0, s2 / length, s3 / length)
    return TrackInfo(name=name, display_name=display, config=config, length_m=length, sector_starts_frac=sectors)


def _drivers(state: CarState, formula_id: int) -> tuple[DriverEntry, ...]:
    participants = state.latest.get(PacketId.PARTICIPANTS)
    if participants is None:
        return ()
    rows = participants["participants"]
    count = min(int(participants["num_active_cars"]), len(rows))
    names = _names(rows, "name")
    formula = FORMULAS.get(formula_id, f"Formula {formula_id}")
    entries = []
    for idx in range(count):
        row = rows[idx]
        team_id = int(row["team_id"])
        team = team_name(state.packet_format, team_id)
        entries.append(
            DriverEntry(
                car_idx=idx,
                driver_name=names[idx] or f"Car {idx}",
                driver_id=int(row["driver_id"]),
                car_number=str(int(row["race_number"])),
                car_name=f"{formula} {team}",
                car_path=f"{formula.lower().replace(' ', '_')}/{team.lower().replace(' ', '_')}",
                class_id=formula_id,
                class_name=formula,
                team_id=team_id,
                team_name=team,
                is_ai=int(row["ai_controlled"]) == 1,
            )
        )
    return tuple(entries)


def session_signature(state: CarState) -> tuple[Any, ...] | None:
    """What `build_session_info` depends on; None before the first session packet."""
    session = state.latest.get(PacketId.SESSION)
    if session is None:
        return None
    participants = state.latest.get(PacketId.PARTICIPANTS)
    status = state.latest.get(PacketId.CAR_STATUS)
    setups = state.latest.get(PacketId.CAR_SETUPS)
    p = state.player_idx
    return (
        state.packet_format,
        p,
        int(session["track_id"]),
        int(session["track_length_m"]),
        int(session["session_type"]),
        int(session["formula"]),
        int(session["total_laps"]),
        int(session["session_duration_s"]),
        int(session["network_game"]),
        track_info(state),
        None if participants is None else participants.tobytes()[_header_size(participants) :],
        None if status is None or p >= MAX_CARS_IN_PACKET else round(float(status["cars"]["fuel_capacity_kg"][p]), 1),
        None if setups is None or p >= MAX_CARS_IN_PACKET else setups["cars"][p].tobytes(),
    )


def _header_size(record: np.void) -> int:
    return record.dtype.fields["header"][0].itemsize if record.dtype.fields else 0


def build_session_info(state: CarState, update_count: int, game_version: str = "") -> SessionInfo | None:
    """The session as `SessionInfo`; None before the first session packet."""
    session = state.latest.get(PacketId.SESSION)
    track = track_info(state)
    if session is None or track is None:
        return None
    name = _session_name(state)
    kind = _session_type(name)
    formula_id = int(session["formula"])
    total_laps, duration = int(session["total_laps"]), int(session["session_duration_s"])
    status = state.latest.get(PacketId.CAR_STATUS)
    p = state.player_idx
    max_fuel_l = float("nan")
    if status is not None and p < MAX_CARS_IN_PACKET:
        capacity = float(status["cars"]["fuel_capacity_kg"][p])
        max_fuel_l = capacity / FUEL_DENSITY_KG_PER_L if capacity > 0 else float("nan")
    extra: dict[str, Any] = {
        "packet_format": state.packet_format,
        "game_version": game_version,
        "session_uid": state.session_uid,
        "track_id": int(session["track_id"]),
        "formula": FORMULAS.get(formula_id, f"Formula {formula_id}"),
        "weather": int(session["weather"]),
        "network_game": bool(session["network_game"]),
        "ai_difficulty": int(session["ai_difficulty"]),
        "pit_speed_limit_mps": int(session["pit_speed_limit_kph"]) / 3.6,
    }
    setups = state.latest.get(PacketId.CAR_SETUPS)
    if setups is not None and p < MAX_CARS_IN_PACKET:
        extra["setup"] = _setup_dict(setups["cars"][p])
    return SessionInfo(
        sim=SIM_NAME,
        track=track,
        session_type=kind,
        session_name=name,
        player_car_idx=p,
        drivers=_drivers(state, formula_id),
        laps=total_laps if kind is SessionType.RACE and total_laps > 0 else None,
        time_limit_s=float(duration) if kind is not SessionType.RACE and duration > 0 else None,
        update_count=update_count,
        fuel_density_kg_per_l=FUEL_DENSITY_KG_PER_L,
        max_fuel_l=max_fuel_l,
        extra=extra,
    )


def _setup_dict(row: np.void) -> Mapping[str, Any]:
    """The player's setup with SI-ish units (pressures in kPa, fuel in litres)."""
    out: dict[str, Any] = {}
    for name in row.dtype.names or ():
        value = row[name].item()
        if name.endswith("_psi"):
            out[name.removesuffix("_psi") + "_kpa"] = round(float(value) * KPA_PER_PSI, 2)
        elif name == "fuel_load_kg":
            out["fuel_load_l"] = round(float(value) / FUEL_DENSITY_KG_PER_L, 2)
        else:
            out[name] = round(value, 4) if isinstance(value, float) else value
    return out
