"""iRacing session-info YAML sections -> `SessionInfo`.

Pure: takes the already-parsed sections (pyirsdk does the YAML, with its fixes for iRacing's
unquoted names) and returns the canonical session model. Values such as "5.79 km" or
"7200.00 sec" are converted to SI here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from adapters.errors import SessionInfoError
from adapters.model import DriverEntry, SessionInfo, SessionType, TrackInfo

logger = logging.getLogger(__name__)

SECTIONS: Final = ("WeekendInfo", "SessionInfo", "DriverInfo", "SplitTimeInfo")
"""The YAML sections PitBox reads."""

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")

_SESSION_TYPES: Final = {
    "practice": SessionType.PRACTICE,
    "open practice": SessionType.PRACTICE,
    "offline testing": SessionType.TESTING,
    "testing": SessionType.TESTING,
    "lone qualify": SessionType.QUALIFY,
    "open qualify": SessionType.QUALIFY,
    "qualify": SessionType.QUALIFY,
    "race": SessionType.RACE,
    "heat race": SessionType.RACE,
    "warmup": SessionType.WARMUP,
}


def _number(value: Any, default: float = float("nan")) -> float:
    """The leading number of an iRacing value such as '5.79 km', '7200.00 sec' or 0.75."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _NUMBER.search(value)
        if match:
            return float(match.group())
    return default


def _length_m(value: Any) -> float:
    number = _number(value)
    if isinstance(value, str) and "mi" in value and "km" not in value:
        return number * 1609.344
    if isinstance(value, str) and value.strip().endswith(" m"):
        return number
    return number * 1000.0


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _int(value: Any, default: int = 0) -> int:
    number = _number(value, float(default))
    return int(number) if number == number else default


def session_type_of(name: str) -> SessionType:
    return _SESSION_TYPES.get(name.strip().lower(), SessionType.OTHER)


def _driver(entry: Mapping[str, Any]) -> DriverEntry:
    return DriverEntry(
        car_idx=_int(entry.get("CarIdx"), -1),
        driver_name=_text(entry.get("UserName")),
        driver_id=_int(entry.get("UserID")),
        car_number=_text(entry.get("CarNumber")),
        car_name=_text(entry.get("CarScreenName")),
        car_path=_text(entry.get("CarPath")),
        class_id=_int(entry.get("CarClassID")),
        class_name=_text(entry.get("CarClassShortName")) or _text(entry.get("CarScreenNameShort")),
        team_id=_int(entry.get("TeamID")),
        team_name=_text(entry.get("TeamName")),
        is_pace_car=bool(_int(entry.get("CarIsPaceCar"))) or _text(entry.get("CarPath")) == "safety pcporsche911cup",
        is_spectator=bool(_int(entry.get("IsSpectator"))),
        is_ai=bool(_int(entry.get("CarIsAI"))),
        irating=_int(entry.get("IRating")),
        incident_count=_int(entry.get("CurDriverIncidentCount")),
    )


def session_info_from_sections(
    get_section: Callable[[str], Mapping[str, Any] | None],
    *,
    session_num: int = 0,
    update_count: int = 0,
) -> SessionInfo:
    """Build a SessionInfo from iRacing's YAML sections (fetched by name through `get_section`)."""
    weekend = get_section("WeekendInfo")
    if not isinstance(weekend, Mapping):
        raise SessionInfoError("session info has no WeekendInfo section")
    drivers_section = get_section("DriverInfo") or {}
    sessions_section = get_section("SessionInfo") or {}
    split_section = get_section("SplitTimeInfo") or {}

    sectors = tuple(
        sorted(
            _number(s.get("SectorStartPct"), 0.0)
            for s in (split_section.get("Sectors") or [])
            if isinstance(s, Mapping)
        )
    )
    track = TrackInfo(
        name=_text(weekend.get("TrackName")),
        display_name=_text(weekend.get("TrackDisplayName")) or _text(weekend.get("TrackName")),
        config=_text(weekend.get("TrackConfigName")),
        length_m=_length_m(weekend.get("TrackLength")),
        sector_starts_frac=sectors,
        city=_text(weekend.get("TrackCity")),
        country=_text(weekend.get("TrackCountry")),
    )

    sessions = [s for s in (sessions_section.get("Sessions") or []) if isinstance(s, Mapping)]
    current: Mapping[str, Any] = next(
        (s for s in sessions if _int(s.get("SessionNum"), -1) == session_num),
        sessions[-1] if sessions else {},
    )
    type_name = _text(current.get("SessionType")) or _text(weekend.get("EventType"))
    laps_value = current.get("SessionLaps")
    laps = None if laps_value is None or str(laps_value).strip().lower() == "unlimited" else _int(laps_value)
    time_value = current.get("SessionTime")
    time_limit = None if time_value is None or str(time_value).strip().lower() == "unlimited" else _number(time_value)

    drivers = tuple(_driver(entry) for entry in (drivers_section.get("Drivers") or []) if isinstance(entry, Mapping))
    max_fuel_l = _number(drivers_section.get("DriverCarFuelMaxLtr"))
    max_fuel_frac = _number(drivers_section.get("DriverCarMaxFuelPct"), 1.0)
    return SessionInfo(
        sim="iracing",
        track=track,
        session_type=session_type_of(type_name),
        session_name=_text(current.get("SessionName")) or type_name,
        player_car_idx=_int(drivers_section.get("DriverCarIdx"), 0),
        drivers=drivers,
        laps=laps,
        time_limit_s=time_limit,
        team_racing=bool(_int(weekend.get("TeamRacing"))),
        update_count=update_count,
        fuel_density_kg_per_l=_number(drivers_section.get("DriverCarFuelKgPerLtr"), 0.75),
        max_fuel_l=max_fuel_l * max_fuel_frac,
        session_num=session_num,
        extra={
            "track_id": _int(weekend.get("TrackID")),
            "event_type": _text(weekend.get("EventType")),
            "series_id": _int(weekend.get("SeriesID")),
            "subsession_id": _int(weekend.get("SubSessionID")),
            "build": _text(weekend.get("BuildVersion")),
            "driver_user_id": _int(drivers_section.get("DriverUserID")),
            "pit_lane_frac": _number(drivers_section.get("DriverPitTrkPct")),
            "est_lap_time_s": _number(drivers_section.get("DriverCarEstLapTime")),
            "pit_speed_limit_mps": _number(weekend.get("TrackPitSpeedLimit")) / 3.6,
        },
    )
