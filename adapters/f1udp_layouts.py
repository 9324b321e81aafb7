"""The EA SPORTS F1 UDP packet layouts (packet formats 2021 to 2025), each declared once as a table.

One job: say where every byte of every F1 packet is. A `Layout` is a table of `Field`s (name, struct
code, count; a field may itself be a `Layout`, repeated), from which both a `struct.Struct` and a
numpy structured dtype are derived (little-endian, packed, as EA's `#pragma pack(1)` C structs);
building a layout checks that the two agree. A year that changes a struct declares only the change
(`Layout.derive`: fields inserted, replaced, appended or dropped) on the previous year's table, so
the differences between years read as a list.

`PACKET_LAYOUTS[packet_format][PacketId]` is the layout of a whole datagram (the header first);
`EVENT_DETAIL_LAYOUTS[packet_format][code]` the detail struct of each event code. The appendix
tables (tracks, session types, teams, formulas, surfaces) map the game's ids to names.

Field names follow the spec in snake case with the spec's unit appended (`speed_kph`,
`tyres_pressure_psi`, `fuel_in_tank_kg`): they are raw game values; `adapters.f1udp` converts to SI.
Wheel arrays are in the game's order: rear left, rear right, front left, front right.

Source: EA's published "Data Output from F1 2x Game" specifications (packet sizes checked against
the sizes they state; see tests/unit/adapters/test_f1udp_layouts.py).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

MAX_CARS_IN_PACKET: Final = 22
"""Every per-car array in formats 2021-2025 holds 22 cars."""
SUPPORTED_FORMATS: Final = (2021, 2022, 2023, 2024, 2025)
"""The `packet_format` values (the game's "UDP format" setting) these tables describe."""

_NUMPY_CODES: Final = {
    "B": "u1",
    "b": "i1",
    "H": "u2",
    "h": "i2",
    "I": "u4",
    "i": "i4",
    "Q": "u8",
    "q": "i8",
    "f": "f4",
    "d": "f8",
}


class PacketId(enum.IntEnum):
    """The header's `packet_id`: which packet a datagram is (ids 12-15 exist from the year noted)."""

    MOTION = 0
    SESSION = 1
    LAP_DATA = 2
    EVENT = 3
    PARTICIPANTS = 4
    CAR_SETUPS = 5
    CAR_TELEMETRY = 6
    CAR_STATUS = 7
    FINAL_CLASSIFICATION = 8
    LOBBY_INFO = 9
    CAR_DAMAGE = 10
    SESSION_HISTORY = 11
    TYRE_SETS = 12  # 2023
    MOTION_EX = 13  # 2023
    TIME_TRIAL = 14  # 2024
    LAP_POSITIONS = 15  # 2025


# --------------------------------------------------------------------------- the table machinery


@dataclass(frozen=True, slots=True)
class Field:
    """One field: a struct code ("B", "h", "f", ... or "s" for a char array) or a nested `Layout`,
    repeated `count` times (for "s", `count` is the length in bytes)."""

    name: str
    kind: str | Layout
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"field {self.name}: count must be at least 1")
        if isinstance(self.kind, str) and self.kind != "s" and self.kind not in _NUMPY_CODES:
            raise ValueError(f"field {self.name}: unknown struct code {self.kind!r}")

    @property
    def struct_format(self) -> str:
        """This field's struct format (no byte-order prefix)."""
        if isinstance(self.kind, Layout):
            return self.kind.struct_body * self.count
        if self.kind == "s":
            return f"{self.count}s"
        return f"{self.count}{self.kind}" if self.count > 1 else self.kind

    def dtype_entry(self) -> tuple[Any, ...]:
        """This field as an entry of a numpy structured dtype description."""
        if isinstance(self.kind, Layout):
            base: Any = self.kind.dtype
        elif self.kind == "s":
            return (self.name, f"S{self.count}")
        else:
            base = "<" + _NUMPY_CODES[self.kind]
        return (self.name, base, (self.count,)) if self.count > 1 else (self.name, base)


class Layout:
    """A packed little-endian struct declared as a table of fields; see the module docstring."""

    __slots__ = ("dtype", "fields", "name", "size", "struct", "struct_body")

    def __init__(self, name: str, fields: Iterable[Field]) -> None:
        self.name = name
        self.fields: tuple[Field, ...] = tuple(fields)
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"layout {name}: duplicate field names")
        self.struct_body = "".join(f.struct_format for f in self.fields)
        self.struct = struct.Struct("<" + self.struct_body)
        self.dtype: np.dtype[np.void] = np.dtype([f.dtype_entry() for f in self.fields])
        self.size = self.struct.size
        if self.dtype.itemsize != self.size:
            raise ValueError(f"layout {name}: numpy says {self.dtype.itemsize} bytes, struct {self.size}")

    def __repr__(self) -> str:
        return f"Layout({self.name!r}, {self.size} bytes)"

    def derive(
        self,
        name: str | None = None,
        *,
        insert_after: Mapping[str, Sequence[Field]] | None = None,
        replace: Mapping[str, Field] | None = None,
        append: Sequence[Field] = (),
        drop: Sequence[str] = (),
    ) -> Layout:
        """A new layout: this one with fields inserted after named ones, replaced, dropped or appended."""
        insert_after = insert_after or {}
        replace = replace or {}
        known = {f.name for f in self.fields}
        for wanted in (*insert_after, *replace, *drop):
            if wanted not in known:
                raise KeyError(f"{self.name} has no field {wanted!r}")
        fields: list[Field] = []
        for f in self.fields:
            if f.name not in drop:
                fields.append(replace.get(f.name, f))
            fields.extend(insert_after.get(f.name, ()))
        fields.extend(append)
        return Layout(name or self.name, fields)

    # ----------------------------------------------------------------- bytes <-> values

    def decode(self, data: bytes | memoryview) -> np.void:
        """One record from the first `size` bytes of `data` (a read-only view, no copy)."""
        record: np.void = np.frombuffer(data, dtype=self.dtype, count=1)[0]
        return record

    def zeros(self, count: int) -> npt.NDArray[np.void]:
        """`count` zeroed records, to fill column by column and `encode`."""
        return np.zeros(count, dtype=self.dtype)

    def pack(self, values: Mapping[str, Any]) -> bytes:
        """One record with struct.pack: `values` maps field names to numbers, bytes, sequences (for
        counted fields) and mappings (for nested layouts); fields left out are zero."""
        return self.struct.pack(*self._flatten(values))

    def unpack(self, data: bytes | memoryview) -> dict[str, Any]:
        """One record with struct.unpack, as nested dicts and lists (the inverse of `pack`)."""
        flat = iter(self.struct.unpack_from(data))
        return self._rebuild(flat)

    def _flatten(self, values: Mapping[str, Any]) -> Iterator[Any]:
        for f in self.fields:
            value = values.get(f.name)
            items: Sequence[Any] = [value] if f.count == 1 or f.kind == "s" else (value or [None] * f.count)
            if len(items) != (1 if f.kind == "s" else f.count):
                raise ValueError(f"{self.name}.{f.name}: expected {f.count} values, got {len(items)}")
            for item in items:
                if isinstance(f.kind, Layout):
                    yield from f.kind._flatten(item or {})
                elif f.kind == "s":
                    yield item or b""
                else:
                    yield item if item is not None else 0

    def _rebuild(self, flat: Iterator[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self.fields:
            one = 1 if f.kind == "s" else f.count
            items = [f.kind._rebuild(flat) if isinstance(f.kind, Layout) else next(flat) for _ in range(one)]
            out[f.name] = items[0] if one == 1 else items
        return out


def _fields(spec: str) -> tuple[Field, ...]:
    """Fields from a compact table: one "name code [count]" per line."""
    out: list[Field] = []
    for line in spec.strip().splitlines():
        parts = line.split()
        out.append(Field(parts[0], parts[1], int(parts[2]) if len(parts) > 2 else 1))
    return tuple(out)


def _nested(name: str, layout: Layout, count: int = 1) -> Field:
    return Field(name, layout, count)


# --------------------------------------------------------------------------- header

HEADER_2021: Final = Layout(
    "PacketHeader",
    _fields(
        """
        packet_format H
        game_major_version B
        game_minor_version B
        packet_version B
        packet_id B
        session_uid Q
        session_time_s f
        frame_identifier I
        player_car_index B
        secondary_player_car_index B
        """
    ),
)
HEADER_2023: Final = HEADER_2021.derive(
    insert_after={
        "packet_format": (Field("game_year", "B"),),
        "frame_identifier": (Field("overall_frame_identifier", "I"),),  # does not go back after flashbacks
    }
)
HEADERS: Final[Mapping[int, Layout]] = {2021: HEADER_2021, 2022: HEADER_2021, 2023: HEADER_2023, 2024: HEADER_2023,
                                        2025: HEADER_2023}  # fmt: skip


def _with_header(packet: Layout, header: Layout) -> Layout:
    return packet.derive(replace={"header": _nested("header", header)})


# --------------------------------------------------------------------------- motion (0) and motion ex (13)

CAR_MOTION: Final = Layout(
    "CarMotionData",
    _fields(
        """
        world_position_x_m f
        world_position_y_m f
        world_position_z_m f
        world_velocity_x_mps f
        world_velocity_y_mps f
        world_velocity_z_mps f
        world_forward_dir_x h
        world_forward_dir_y h
        world_forward_dir_z h
        world_right_dir_x h
        world_right_dir_y h
        world_right_dir_z h
        g_force_lateral_g f
        g_force_longitudinal_g f
        g_force_vertical_g f
        yaw_rad f
        pitch_rad f
        roll_rad f
        """
    ),
)
"""Direction vectors are normalised and scaled to int16 (divide by 32767)."""

MOTION_2021: Final = Layout(
    "PacketMotionData",
    (
        _nested("header", HEADER_2021),
        _nested("cars", CAR_MOTION, MAX_CARS_IN_PACKET),
        # The player's car only (2021 and 2022; from 2023 in the Motion Ex packet):
        *_fields(
            """
            suspension_position f 4
            suspension_velocity f 4
            suspension_acceleration f 4
            wheel_speed_mps f 4
            wheel_slip f 4
            local_velocity_x_mps f
            local_velocity_y_mps f
            local_velocity_z_mps f
            angular_velocity_x_radps f
            angular_velocity_y_radps f
            angular_velocity_z_radps f
            angular_acceleration_x_radps2 f
            angular_acceleration_y_radps2 f
            angular_acceleration_z_radps2 f
            front_wheels_angle_rad f
            """
        ),
    ),
)
MOTION_2023: Final = Layout(
    "PacketMotionData", (_nested("header", HEADER_2023), _nested("cars", CAR_MOTION, MAX_CARS_IN_PACKET))
)

MOTION_EX_2023: Final = Layout(
    "PacketMotionExData",
    (
        _nested("header", HEADER_2023),
        *_fields(
            """
            suspension_position f 4
            suspension_velocity f 4
            suspension_acceleration f 4
            wheel_speed_mps f 4
            wheel_slip_ratio f 4
            wheel_slip_angle_rad f 4
            wheel_lat_force_n f 4
            wheel_long_force_n f 4
            height_of_cog_above_ground_m f
            local_velocity_x_mps f
            local_velocity_y_mps f
            local_velocity_z_mps f
            angular_velocity_x_radps f
            angular_velocity_y_radps f
            angular_velocity_z_radps f
            angular_acceleration_x_radps2 f
            angular_acceleration_y_radps2 f
            angular_acceleration_z_radps2 f
            front_wheels_angle_rad f
            wheel_vert_force_n f 4
            """
        ),
    ),
)
MOTION_EX_2024: Final = MOTION_EX_2023.derive(
    append=_fields(
        """
        front_aero_height_m f
        rear_aero_height_m f
        front_roll_angle_rad f
        rear_roll_angle_rad f
        chassis_yaw_rad f
        """
    )
)
MOTION_EX_2025: Final = MOTION_EX_2024.derive(
    append=_fields(
        """
        chassis_pitch_rad f
        wheel_camber_rad f 4
        wheel_camber_gain_rad f 4
        """
    )
)

# --------------------------------------------------------------------------- session (1)

MARSHAL_ZONE: Final = Layout("MarshalZone", _fields("zone_start_frac f\nzone_flag b"))
"""zone_flag: -1 unknown, 0 none, 1 green, 2 blue, 3 yellow, 4 red."""
WEATHER_FORECAST_SAMPLE: Final = Layout(
    "WeatherForecastSample",
    _fields(
        """
        session_type B
        time_offset_min B
        weather B
        track_temperature_c b
        track_temperature_change b
        air_temperature_c b
        air_temperature_change b
        rain_percentage B
        """
    ),
)

SESSION_2021: Final = Layout(
    "PacketSessionData",
    (
        _nested("header", HEADER_2021),
        *_fields(
            """
            weather B
            track_temperature_c b
            air_temperature_c b
            total_laps B
            track_length_m H
            session_type B
            track_id b
            formula B
            session_time_left_s H
            session_duration_s H
            pit_speed_limit_kph B
            game_paused B
            is_spectating B
            spectator_car_index B
            sli_pro_native_support B
            num_marshal_zones B
            """
        ),
        _nested("marshal_zones", MARSHAL_ZONE, 21),
        *_fields("safety_car_status B\nnetwork_game B\nnum_weather_forecast_samples B"),
        _nested("weather_forecast_samples", WEATHER_FORECAST_SAMPLE, 56),
        *_fields(
            """
            forecast_accuracy B
            ai_difficulty B
            season_link_identifier I
            weekend_link_identifier I
            session_link_identifier I
            pit_stop_window_ideal_lap B
            pit_stop_window_latest_lap B
            pit_stop_rejoin_position B
            steering_assist B
            braking_assist B
            gearbox_assist B
            pit_assist B
            pit_release_assist B
            ers_assist B
            drs_assist B
            dynamic_racing_line B
            dynamic_racing_line_type B
            """
        ),
    ),
)
"""safety_car_status: 0 none, 1 full, 2 virtual, 3 formation lap."""
SESSION_2022: Final = SESSION_2021.derive(
    append=_fields("game_mode B\nrule_set B\ntime_of_day_min I\nsession_length B")
)
SESSION_2023: Final = _with_header(SESSION_2022, HEADER_2023).derive(
    append=_fields(
        """
        speed_units_lead_player B
        temperature_units_lead_player B
        speed_units_secondary_player B
        temperature_units_secondary_player B
        num_safety_car_periods B
        num_virtual_safety_car_periods B
        num_red_flag_periods B
        """
    )
)
SESSION_2024: Final = SESSION_2023.derive(
    replace={"weather_forecast_samples": _nested("weather_forecast_samples", WEATHER_FORECAST_SAMPLE, 64)},
    append=_fields(
        """
        equal_car_performance B
        recovery_mode B
        flashback_limit B
        surface_type B
        low_fuel_mode B
        race_starts B
        tyre_temperature B
        pit_lane_tyre_sim B
        car_damage B
        car_damage_rate B
        collisions B
        collisions_off_for_first_lap_only B
        mp_unsafe_pit_release B
        mp_off_for_griefing B
        corner_cutting_stringency B
        parc_ferme_rules B
        pit_stop_experience B
        safety_car B
        safety_car_experience B
        formation_lap B
        formation_lap_experience B
        red_flags B
        affects_licence_level_solo B
        affects_licence_level_mp B
        num_sessions_in_weekend B
        weekend_structure B 12
        sector2_lap_distance_start_m f
        sector3_lap_distance_start_m f
        """
    ),
)

# --------------------------------------------------------------------------- lap data (2)

LAP_DATA_2021: Final = Layout(
    "LapData",
    _fields(
        """
        last_lap_time_ms I
        current_lap_time_ms I
        sector1_time_ms H
        sector2_time_ms H
        lap_distance_m f
        total_distance_m f
        safety_car_delta_s f
        car_position B
        current_lap_num B
        pit_status B
        num_pit_stops B
        sector B
        current_lap_invalid B
        penalties_s B
        warnings B
        num_unserved_drive_through_pens B
        num_unserved_stop_go_pens B
        grid_position B
        driver_status B
        result_status B
        pit_lane_timer_active B
        pit_lane_time_in_lane_ms H
        pit_stop_timer_ms H
        pit_stop_should_serve_pen B
        """
    ),
)
"""lap_distance_m is negative before the line is first crossed. pit_status: 0 none, 1 pitting (pit
lane), 2 in the pit area. driver_status: 0 in garage, 1 flying lap, 2 in lap, 3 out lap, 4 on
track. result_status: 0 invalid, 1 inactive, 2 active, 3 finished, 4 DNF, 5 DSQ, 6 not
classified, 7 retired."""
LAP_DATA_2023: Final = LAP_DATA_2021.derive(
    insert_after={
        "sector1_time_ms": (Field("sector1_time_min", "B"),),
        "sector2_time_ms": _fields("sector2_time_min B\ndelta_to_car_in_front_ms H\ndelta_to_race_leader_ms H"),
        "warnings": (Field("corner_cutting_warnings", "B"),),
    },
    replace={"warnings": Field("total_warnings", "B")},
)
LAP_DATA_2024: Final = LAP_DATA_2023.derive(
    insert_after={
        "delta_to_car_in_front_ms": (Field("delta_to_car_in_front_min", "B"),),
        "delta_to_race_leader_ms": (Field("delta_to_race_leader_min", "B"),),
    },
    append=_fields("speed_trap_fastest_speed_kph f\nspeed_trap_fastest_lap B"),
)

_TIME_TRIAL_CARS: Final = _fields("time_trial_pb_car_idx B\ntime_trial_rival_car_idx B")
LAP_PACKET_2021: Final = Layout(
    "PacketLapData", (_nested("header", HEADER_2021), _nested("cars", LAP_DATA_2021, MAX_CARS_IN_PACKET))
)
LAP_PACKET_2022: Final = LAP_PACKET_2021.derive(append=_TIME_TRIAL_CARS)
LAP_PACKET_2023: Final = _with_header(LAP_PACKET_2022, HEADER_2023).derive(
    replace={"cars": _nested("cars", LAP_DATA_2023, MAX_CARS_IN_PACKET)}
)
LAP_PACKET_2024: Final = LAP_PACKET_2023.derive(replace={"cars": _nested("cars", LAP_DATA_2024, MAX_CARS_IN_PACKET)})

# --------------------------------------------------------------------------- event (3)

EVENT_2021: Final = Layout(
    "PacketEventData",
    (_nested("header", HEADER_2021), Field("event_string_code", "s", 4), Field("event_details", "s", 8)),
)
"""`event_details` is EA's union, kept as bytes and read with the code's `EVENT_DETAIL_LAYOUTS` entry."""
EVENT_2022: Final = EVENT_2021.derive(replace={"event_details": Field("event_details", "s", 12)})
EVENT_2023: Final = _with_header(EVENT_2022, HEADER_2023)

_VEHICLE: Final = Layout("Vehicle", _fields("vehicle_idx B"))
EVENT_DETAILS_2021: Final[Mapping[str, Layout]] = {
    "FTLP": Layout("FastestLap", _fields("vehicle_idx B\nlap_time_s f")),
    "RTMT": Layout("Retirement", _fields("vehicle_idx B")),
    "TMPT": Layout("TeamMateInPits", _VEHICLE.fields),
    "RCWN": Layout("RaceWinner", _VEHICLE.fields),
    "PENA": Layout(
        "Penalty",
        _fields(
            """
            penalty_type B
            infringement_type B
            vehicle_idx B
            other_vehicle_idx B
            time_s B
            lap_num B
            places_gained B
            """
        ),
    ),
    "SPTP": Layout(
        "SpeedTrap",
        _fields("vehicle_idx B\nspeed_kph f\nis_overall_fastest_in_session B\nis_driver_fastest_in_session B"),
    ),
    "STLG": Layout("StartLights", _fields("num_lights B")),
    "DTSV": Layout("DriveThroughPenaltyServed", _VEHICLE.fields),
    "SGSV": Layout("StopGoPenaltyServed", _VEHICLE.fields),
    "FLBK": Layout("Flashback", _fields("flashback_frame_identifier I\nflashback_session_time_s f")),
    "BUTN": Layout("Buttons", _fields("button_status I")),
}
"""Codes without details (SSTA, SEND, DRSE, DRSD, CHQF, LGOT, RDFL) have no entry."""
EVENT_DETAILS_2022: Final = {
    **EVENT_DETAILS_2021,
    "SPTP": EVENT_DETAILS_2021["SPTP"].derive(
        append=_fields("fastest_vehicle_idx_in_session B\nfastest_speed_in_session_kph f")
    ),
}
EVENT_DETAILS_2023: Final = {
    **EVENT_DETAILS_2022,
    "OVTK": Layout("Overtake", _fields("overtaking_vehicle_idx B\nbeing_overtaken_vehicle_idx B")),
}
EVENT_DETAILS_2024: Final = {
    **EVENT_DETAILS_2023,
    "SGSV": EVENT_DETAILS_2023["SGSV"].derive(append=_fields("stop_time_s f")),
    "SCAR": Layout("SafetyCar", _fields("safety_car_type B\nevent_type B")),
    "COLL": Layout("Collision", _fields("vehicle1_idx B\nvehicle2_idx B")),
}
EVENT_DETAILS_2025: Final = {
    **EVENT_DETAILS_2024,
    "RTMT": EVENT_DETAILS_2024["RTMT"].derive(append=_fields("reason B")),
    "DRSD": Layout("DRSDisabled", _fields("reason B")),
}

EVENT_NAMES: Final[Mapping[str, str]] = {
    "SSTA": "session started",
    "SEND": "session ended",
    "FTLP": "fastest lap",
    "RTMT": "retirement",
    "DRSE": "DRS enabled",
    "DRSD": "DRS disabled",
    "TMPT": "team mate in pits",
    "CHQF": "chequered flag",
    "RCWN": "race winner",
    "PENA": "penalty",
    "SPTP": "speed trap",
    "STLG": "start lights",
    "LGOT": "lights out",
    "DTSV": "drive through served",
    "SGSV": "stop go served",
    "FLBK": "flashback",
    "BUTN": "button status",
    "RDFL": "red flag",
    "OVTK": "overtake",
    "SCAR": "safety car",
    "COLL": "collision",
}

# --------------------------------------------------------------------------- participants (4)

PARTICIPANT_2021: Final = Layout(
    "ParticipantData",
    _fields(
        """
        ai_controlled B
        driver_id B
        network_id B
        team_id B
        my_team B
        race_number B
        nationality B
        name s 48
        your_telemetry B
        """
    ),
)
"""driver_id 255: a network human. name: UTF-8, NUL-terminated."""
PARTICIPANT_2023: Final = PARTICIPANT_2021.derive(append=_fields("show_online_names B\nplatform B"))
PARTICIPANT_2024: Final = PARTICIPANT_2023.derive(insert_after={"show_online_names": (Field("tech_level", "H"),)})
LIVERY_COLOUR: Final = Layout("LiveryColour", _fields("red B\ngreen B\nblue B"))
PARTICIPANT_2025: Final = PARTICIPANT_2024.derive(
    replace={"name": Field("name", "s", 32)},
    append=(Field("num_colours", "B"), _nested("livery_colours", LIVERY_COLOUR, 4)),
)

PARTICIPANTS_2021: Final = Layout(
    "PacketParticipantsData",
    (
        _nested("header", HEADER_2021),
        Field("num_active_cars", "B"),
        _nested("participants", PARTICIPANT_2021, MAX_CARS_IN_PACKET),
    ),
)


def _participants(header: Layout, participant: Layout) -> Layout:
    return PARTICIPANTS_2021.derive(
        replace={
            "header": _nested("header", header),
            "participants": _nested("participants", participant, MAX_CARS_IN_PACKET),
        }
    )


# --------------------------------------------------------------------------- car setups (5)

CAR_SETUP_2021: Final = Layout(
    "CarSetupData",
    _fields(
        """
        front_wing B
        rear_wing B
        on_throttle_pct B
        off_throttle_pct B
        front_camber_deg f
        rear_camber_deg f
        front_toe_deg f
        rear_toe_deg f
        front_suspension B
        rear_suspension B
        front_anti_roll_bar B
        rear_anti_roll_bar B
        front_suspension_height B
        rear_suspension_height B
        brake_pressure_pct B
        brake_bias_pct B
        rear_left_tyre_pressure_psi f
        rear_right_tyre_pressure_psi f
        front_left_tyre_pressure_psi f
        front_right_tyre_pressure_psi f
        ballast B
        fuel_load_kg f
        """
    ),
)
CAR_SETUP_2024: Final = CAR_SETUP_2021.derive(insert_after={"brake_bias_pct": (Field("engine_braking_pct", "B"),)})
CAR_SETUPS_2021: Final = Layout(
    "PacketCarSetupData", (_nested("header", HEADER_2021), _nested("cars", CAR_SETUP_2021, MAX_CARS_IN_PACKET))
)
CAR_SETUPS_2023: Final = _with_header(CAR_SETUPS_2021, HEADER_2023)
CAR_SETUPS_2024: Final = CAR_SETUPS_2023.derive(
    replace={"cars": _nested("cars", CAR_SETUP_2024, MAX_CARS_IN_PACKET)},
    append=(Field("next_front_wing_value", "f"),),
)

# --------------------------------------------------------------------------- car telemetry (6)

CAR_TELEMETRY: Final = Layout(
    "CarTelemetryData",
    _fields(
        """
        speed_kph H
        throttle f
        steer f
        brake f
        clutch_pct B
        gear b
        engine_rpm H
        drs B
        rev_lights_pct B
        rev_lights_bit_value H
        brakes_temperature_c H 4
        tyres_surface_temperature_c B 4
        tyres_inner_temperature_c B 4
        engine_temperature_c H
        tyres_pressure_psi f 4
        surface_type B 4
        """
    ),
)
"""steer: -1 full lock left to 1 full lock right. gear: -1 reverse, 0 neutral, 1-8."""
CAR_TELEMETRY_2021: Final = Layout(
    "PacketCarTelemetryData",
    (
        _nested("header", HEADER_2021),
        _nested("cars", CAR_TELEMETRY, MAX_CARS_IN_PACKET),
        *_fields("mfd_panel_index B\nmfd_panel_index_secondary_player B\nsuggested_gear b"),
    ),
)
CAR_TELEMETRY_2023: Final = _with_header(CAR_TELEMETRY_2021, HEADER_2023)

# --------------------------------------------------------------------------- car status (7)

CAR_STATUS_2021: Final = Layout(
    "CarStatusData",
    _fields(
        """
        traction_control B
        anti_lock_brakes B
        fuel_mix B
        front_brake_bias_pct B
        pit_limiter_status B
        fuel_in_tank_kg f
        fuel_capacity_kg f
        fuel_remaining_laps f
        max_rpm H
        idle_rpm H
        max_gears B
        drs_allowed B
        drs_activation_distance_m H
        actual_tyre_compound B
        visual_tyre_compound B
        tyres_age_laps B
        vehicle_fia_flags b
        ers_store_energy_j f
        ers_deploy_mode B
        ers_harvested_this_lap_mguk_j f
        ers_harvested_this_lap_mguh_j f
        ers_deployed_this_lap_j f
        network_paused B
        """
    ),
)
"""vehicle_fia_flags: -1 unknown, 0 none, 1 green, 2 blue, 3 yellow, 4 red."""
CAR_STATUS_2023: Final = CAR_STATUS_2021.derive(
    insert_after={"vehicle_fia_flags": _fields("engine_power_ice_w f\nengine_power_mguk_w f")}
)
CAR_STATUSES_2021: Final = Layout(
    "PacketCarStatusData", (_nested("header", HEADER_2021), _nested("cars", CAR_STATUS_2021, MAX_CARS_IN_PACKET))
)
CAR_STATUSES_2023: Final = _with_header(CAR_STATUSES_2021, HEADER_2023).derive(
    replace={"cars": _nested("cars", CAR_STATUS_2023, MAX_CARS_IN_PACKET)}
)

# --------------------------------------------------------------------------- car damage (10)

CAR_DAMAGE_2021: Final = Layout(
    "CarDamageData",
    _fields(
        """
        tyres_wear_pct f 4
        tyres_damage_pct B 4
        brakes_damage_pct B 4
        front_left_wing_damage_pct B
        front_right_wing_damage_pct B
        rear_wing_damage_pct B
        floor_damage_pct B
        diffuser_damage_pct B
        sidepod_damage_pct B
        drs_fault B
        gear_box_damage_pct B
        engine_damage_pct B
        engine_mguh_wear_pct B
        engine_es_wear_pct B
        engine_ce_wear_pct B
        engine_ice_wear_pct B
        engine_mguk_wear_pct B
        engine_tc_wear_pct B
        """
    ),
)
CAR_DAMAGE_2022: Final = CAR_DAMAGE_2021.derive(
    insert_after={"drs_fault": (Field("ers_fault", "B"),)}, append=_fields("engine_blown B\nengine_seized B")
)
CAR_DAMAGE_2025: Final = CAR_DAMAGE_2022.derive(
    insert_after={"brakes_damage_pct": (Field("tyre_blisters_pct", "B", 4),)}
)
CAR_DAMAGES_2021: Final = Layout(
    "PacketCarDamageData", (_nested("header", HEADER_2021), _nested("cars", CAR_DAMAGE_2021, MAX_CARS_IN_PACKET))
)
CAR_DAMAGES_2022: Final = CAR_DAMAGES_2021.derive(
    replace={"cars": _nested("cars", CAR_DAMAGE_2022, MAX_CARS_IN_PACKET)}
)
CAR_DAMAGES_2023: Final = _with_header(CAR_DAMAGES_2022, HEADER_2023)
CAR_DAMAGES_2025: Final = CAR_DAMAGES_2023.derive(
    replace={"cars": _nested("cars", CAR_DAMAGE_2025, MAX_CARS_IN_PACKET)}
)

# --------------------------------------------------------------------------- session history (11)

LAP_HISTORY_2021: Final = Layout(
    "LapHistoryData",
    _fields(
        """
        lap_time_ms I
        sector1_time_ms H
        sector2_time_ms H
        sector3_time_ms H
        lap_valid_bit_flags B
        """
    ),
)
"""lap_valid_bit_flags: 0x01 lap valid, 0x02/0x04/0x08 sector 1/2/3 valid."""
LAP_HISTORY_2023: Final = LAP_HISTORY_2021.derive(
    insert_after={
        "sector1_time_ms": (Field("sector1_time_min", "B"),),
        "sector2_time_ms": (Field("sector2_time_min", "B"),),
        "sector3_time_ms": (Field("sector3_time_min", "B"),),
    }
)
TYRE_STINT_HISTORY: Final = Layout(
    "TyreStintHistoryData", _fields("end_lap B\ntyre_actual_compound B\ntyre_visual_compound B")
)
SESSION_HISTORY_2021: Final = Layout(
    "PacketSessionHistoryData",
    (
        _nested("header", HEADER_2021),
        *_fields(
            """
            car_idx B
            num_laps B
            num_tyre_stints B
            best_lap_time_lap_num B
            best_sector1_lap_num B
            best_sector2_lap_num B
            best_sector3_lap_num B
            """
        ),
        _nested("lap_history", LAP_HISTORY_2021, 100),
        _nested("tyre_stints_history", TYRE_STINT_HISTORY, 8),
    ),
)
SESSION_HISTORY_2023: Final = _with_header(SESSION_HISTORY_2021, HEADER_2023).derive(
    replace={"lap_history": _nested("lap_history", LAP_HISTORY_2023, 100)}
)

# --------------------------------------------------------------------------- per format

_PACKETS_2021: Final[Mapping[PacketId, Layout]] = {
    PacketId.MOTION: MOTION_2021,
    PacketId.SESSION: SESSION_2021,
    PacketId.LAP_DATA: LAP_PACKET_2021,
    PacketId.EVENT: EVENT_2021,
    PacketId.PARTICIPANTS: PARTICIPANTS_2021,
    PacketId.CAR_SETUPS: CAR_SETUPS_2021,
    PacketId.CAR_TELEMETRY: CAR_TELEMETRY_2021,
    PacketId.CAR_STATUS: CAR_STATUSES_2021,
    PacketId.CAR_DAMAGE: CAR_DAMAGES_2021,
    PacketId.SESSION_HISTORY: SESSION_HISTORY_2021,
}
_PACKETS_2022: Final = {
    **_PACKETS_2021,
    PacketId.SESSION: SESSION_2022,
    PacketId.LAP_DATA: LAP_PACKET_2022,
    PacketId.EVENT: EVENT_2022,
    PacketId.CAR_DAMAGE: CAR_DAMAGES_2022,
}
_PACKETS_2023: Final = {
    PacketId.MOTION: MOTION_2023,
    PacketId.SESSION: SESSION_2023,
    PacketId.LAP_DATA: LAP_PACKET_2023,
    PacketId.EVENT: EVENT_2023,
    PacketId.PARTICIPANTS: _participants(HEADER_2023, PARTICIPANT_2023),
    PacketId.CAR_SETUPS: CAR_SETUPS_2023,
    PacketId.CAR_TELEMETRY: CAR_TELEMETRY_2023,
    PacketId.CAR_STATUS: CAR_STATUSES_2023,
    PacketId.CAR_DAMAGE: CAR_DAMAGES_2023,
    PacketId.SESSION_HISTORY: SESSION_HISTORY_2023,
    PacketId.MOTION_EX: MOTION_EX_2023,
}
_PACKETS_2024: Final = {
    **_PACKETS_2023,
    PacketId.SESSION: SESSION_2024,
    PacketId.LAP_DATA: LAP_PACKET_2024,
    PacketId.PARTICIPANTS: _participants(HEADER_2023, PARTICIPANT_2024),
    PacketId.CAR_SETUPS: CAR_SETUPS_2024,
    PacketId.MOTION_EX: MOTION_EX_2024,
}
_PACKETS_2025: Final = {
    **_PACKETS_2024,
    PacketId.PARTICIPANTS: _participants(HEADER_2023, PARTICIPANT_2025),
    PacketId.CAR_DAMAGE: CAR_DAMAGES_2025,
    PacketId.MOTION_EX: MOTION_EX_2025,
}

PACKET_LAYOUTS: Final[Mapping[int, Mapping[PacketId, Layout]]] = {
    2021: _PACKETS_2021,
    2022: _PACKETS_2022,
    2023: _PACKETS_2023,
    2024: _PACKETS_2024,
    2025: _PACKETS_2025,
}
"""packet_format -> packet id -> layout of the whole datagram, for the packets PitBox decodes
(final classification, lobby info, tyre sets, time trial and lap positions are known but not read)."""

EVENT_DETAIL_LAYOUTS: Final[Mapping[int, Mapping[str, Layout]]] = {
    2021: EVENT_DETAILS_2021,
    2022: EVENT_DETAILS_2022,
    2023: EVENT_DETAILS_2023,
    2024: EVENT_DETAILS_2024,
    2025: EVENT_DETAILS_2025,
}

# --------------------------------------------------------------------------- appendix tables

TRACKS: Final[Mapping[int, tuple[str, str, str]]] = {
    # id: (identifier, display name, configuration)
    0: ("melbourne", "Melbourne", ""),
    1: ("paul_ricard", "Paul Ricard", ""),
    2: ("shanghai", "Shanghai", ""),
    3: ("sakhir", "Sakhir (Bahrain)", ""),
    4: ("catalunya", "Catalunya", ""),
    5: ("monaco", "Monaco", ""),
    6: ("montreal", "Montreal", ""),
    7: ("silverstone", "Silverstone", ""),
    8: ("hockenheim", "Hockenheim", ""),
    9: ("hungaroring", "Hungaroring", ""),
    10: ("spa", "Spa", ""),
    11: ("monza", "Monza", ""),
    12: ("singapore", "Singapore", ""),
    13: ("suzuka", "Suzuka", ""),
    14: ("abu_dhabi", "Abu Dhabi", ""),
    15: ("texas", "Texas", ""),
    16: ("brazil", "Brazil", ""),
    17: ("austria", "Austria", ""),
    18: ("sochi", "Sochi", ""),
    19: ("mexico", "Mexico", ""),
    20: ("baku", "Baku (Azerbaijan)", ""),
    21: ("sakhir", "Sakhir (Bahrain)", "Short"),
    22: ("silverstone", "Silverstone", "Short"),
    23: ("texas", "Texas", "Short"),
    24: ("suzuka", "Suzuka", "Short"),
    25: ("hanoi", "Hanoi", ""),
    26: ("zandvoort", "Zandvoort", ""),
    27: ("imola", "Imola", ""),
    28: ("portimao", "Portimão", ""),
    29: ("jeddah", "Jeddah", ""),
    30: ("miami", "Miami", ""),
    31: ("las_vegas", "Las Vegas", ""),
    32: ("losail", "Losail", ""),
    39: ("silverstone", "Silverstone", "Reverse"),
    40: ("austria", "Austria", "Reverse"),
    41: ("zandvoort", "Zandvoort", "Reverse"),
}

SESSION_TYPES_2021: Final[Mapping[int, str]] = {
    0: "Unknown",
    1: "Practice 1",
    2: "Practice 2",
    3: "Practice 3",
    4: "Short Practice",
    5: "Qualifying 1",
    6: "Qualifying 2",
    7: "Qualifying 3",
    8: "Short Qualifying",
    9: "One-Shot Qualifying",
    10: "Race",
    11: "Race 2",
    12: "Race 3",
    13: "Time Trial",
}
SESSION_TYPES_2023: Final[Mapping[int, str]] = {
    **{k: v for k, v in SESSION_TYPES_2021.items() if k < 10},
    10: "Sprint Shootout 1",
    11: "Sprint Shootout 2",
    12: "Sprint Shootout 3",
    13: "Short Sprint Shootout",
    14: "One-Shot Sprint Shootout",
    15: "Race",
    16: "Race 2",
    17: "Race 3",
    18: "Time Trial",
}
SESSION_TYPES: Final[Mapping[int, Mapping[int, str]]] = {
    2021: SESSION_TYPES_2021,
    2022: SESSION_TYPES_2021,
    2023: SESSION_TYPES_2023,
    2024: SESSION_TYPES_2023,
    2025: SESSION_TYPES_2023,
}

TEAMS_2021: Final[Mapping[int, str]] = {
    0: "Mercedes",
    1: "Ferrari",
    2: "Red Bull Racing",
    3: "Williams",
    4: "Aston Martin",
    5: "Alpine",
    6: "AlphaTauri",
    7: "Haas",
    8: "McLaren",
    9: "Alfa Romeo",
}
TEAMS: Final[Mapping[int, Mapping[int, str]]] = {
    2021: TEAMS_2021,
    2022: TEAMS_2021,
    2023: TEAMS_2021,
    2024: {**TEAMS_2021, 6: "RB", 9: "Sauber"},
    2025: {**TEAMS_2021, 6: "Racing Bulls", 9: "Sauber"},
}
"""The current-season teams (ids 0-9); other ids (classic cars, F2, My Team) are named by number."""

FORMULAS: Final[Mapping[int, str]] = {
    0: "F1 Modern",
    1: "F1 Classic",
    2: "F2",
    3: "F1 Generic",
    4: "Beta",
    5: "Supercars",
    6: "Esports",
    7: "F2 2021",
    8: "F1 World",
    9: "F1 Elimination",
}

OFF_TRACK_SURFACES: Final = frozenset({3, 4, 5, 6, 7, 8})
"""Surface types off the racing surface: rock, gravel, mud, sand, grass, water (0 tarmac, 1 rumble
strip, 2 concrete, 9 cobblestone, 10 metal, 11 ridged)."""
