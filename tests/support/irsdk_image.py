"""Memory images in iRacing's exact live layout, written tick by tick the way the sim writes them.

The layout is the real shared memory's ("Local\\IRSDKMemMapFileName", as in the Monza dump under the
reference data): a 112-byte header, the session YAML at offset 112 in a zero-padded region of
524,288 bytes, 144-byte variable headers, then three rotating variable buffers, in a file the size
of the real map. Every structure is packed with `adapters.irsdk_layout`, so tests exercise pyirsdk's
real reader (`IRSDK().startup(test_file=...)`) against the same bytes the sim would publish.

`IrsdkImageWriter` maps the file shared and writes like iRacing: each tick goes into the buffer slot
holding the oldest tick, and that slot's tick count is updated after the record is written; a new
YAML bumps `session_info_update` after the text is written; `zero_header()` is the sim exiting and
`initialise()` the sim starting a new session in the same memory.

`LIVE_VARS` is a realistic live variable set (names, irsdk type codes, counts, units and
descriptions as iRacing 2024 publishes them) and `ScriptedSession` a deterministic car lapping a
track, whose values a test can recompute for any tick.
"""

from __future__ import annotations

import math
import mmap
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import numpy as np

from adapters.irsdk_layout import (
    HEADER_SIZE,
    STATUS_CONNECTED,
    VAR_HEADER_SIZE,
    Header,
    VarBuf,
    VarHeader,
    layout_vars,
    pack_var_headers,
    record_dtype,
)

MEMMAP_SIZE: Final = 1164 * 1024
"""Size of iRacing's memory map (1,191,936 bytes; pyirsdk's MEMMAPFILESIZE)."""
SESSION_INFO_LEN: Final = 524288
"""Size of the zero-padded session-info region at offset 112 in the live map."""
NUM_BUF: Final = 3
TICK_RATE: Final = 60
HEADER_VERSION: Final = 2
MAX_CARS: Final = 64

_VAR_BUF_TICK: Final = struct.Struct("<i")
_VAR_BUF_AT: Final = 48
_VAR_BUF_SIZE: Final = 16

# irsdk type codes
CHAR, BOOL, INT, BITFIELD, FLOAT, DOUBLE = 0, 1, 2, 3, 4, 5

VarSpec = tuple[str, int, int, str, str]
"""(name, irsdk type, count, unit, description), as `irsdk_layout.layout_vars` takes them."""


def _tyre_vars() -> list[VarSpec]:
    specs: list[VarSpec] = []
    for corner in ("LF", "RF", "LR", "RR"):
        specs.append((f"{corner}coldPressure", FLOAT, 1, "kPa", f"{corner} tire cold pressure  as set in the garage"))
        for zone, side in (("L", "left"), ("M", "middle"), ("R", "right")):
            specs.append((f"{corner}tempC{zone}", FLOAT, 1, "C", f"{corner} tire {side} carcass temperature"))
        for zone, side in (("L", "left"), ("M", "middle"), ("R", "right")):
            specs.append((f"{corner}wear{zone}", FLOAT, 1, "%", f"{corner} tire {side} percent tread remaining"))
    return specs


LIVE_VARS: Final[tuple[VarSpec, ...]] = (
    ("SessionTime", DOUBLE, 1, "s", "Seconds since session start"),
    ("SessionTick", INT, 1, "", "Current update number"),
    ("SessionNum", INT, 1, "", "Session number"),
    ("SessionState", INT, 1, "irsdk_SessionState", "Session state"),
    ("SessionUniqueID", INT, 1, "", "Session ID"),
    ("SessionFlags", BITFIELD, 1, "irsdk_Flags", "Session flags"),
    ("SessionTimeRemain", DOUBLE, 1, "s", "Seconds left till session ends"),
    ("SessionLapsRemainEx", INT, 1, "", "New improved laps left till session ends"),
    ("IsOnTrack", BOOL, 1, "", "1=Car on track physics running with player in car"),
    ("PlayerCarPosition", INT, 1, "", "Players position in race"),
    ("PlayerCarClassPosition", INT, 1, "", "Players class position in race"),
    ("PlayerTrackSurface", INT, 1, "irsdk_TrkLoc", "Players car track surface type"),
    ("PlayerCarIdx", INT, 1, "", "Players carIdx"),
    ("PlayerCarMyIncidentCount", INT, 1, "", "Players own incident count for this session"),
    ("CarIdxLap", INT, MAX_CARS, "", "Laps started by car index"),
    ("CarIdxLapCompleted", INT, MAX_CARS, "", "Laps completed by car index"),
    ("CarIdxLapDistPct", FLOAT, MAX_CARS, "%", "Percentage distance around lap by car index"),
    ("CarIdxTrackSurface", INT, MAX_CARS, "irsdk_TrkLoc", "Track surface type by car index"),
    ("CarIdxOnPitRoad", BOOL, MAX_CARS, "", "On pit road between the cones by car index"),
    ("CarIdxPosition", INT, MAX_CARS, "", "Cars position in race by car index"),
    ("CarIdxClassPosition", INT, MAX_CARS, "", "Cars class position in race by car index"),
    ("CarIdxClass", INT, MAX_CARS, "", "Cars class id by car index"),
    ("CarIdxF2Time", FLOAT, MAX_CARS, "s", "Race time behind leader or fastest lap time otherwise"),
    ("CarIdxEstTime", FLOAT, MAX_CARS, "s", "Estimated time to reach current location on track"),
    ("CarIdxLastLapTime", FLOAT, MAX_CARS, "s", "Cars last lap time"),
    ("CarIdxBestLapTime", FLOAT, MAX_CARS, "s", "Cars best lap time"),
    ("CarIdxGear", INT, MAX_CARS, "", "-1=reverse  0=neutral  1..n=current gear by car index"),
    ("CarIdxRPM", FLOAT, MAX_CARS, "revs/min", "Engine rpm by car index"),
    ("CarIdxSteer", FLOAT, MAX_CARS, "rad", "Steering wheel angle by car index"),
    ("CarIdxSessionFlags", BITFIELD, MAX_CARS, "irsdk_Flags", "Session flags for each player"),
    ("OnPitRoad", BOOL, 1, "", "Is the player car on pit road between the cones"),
    ("SteeringWheelAngle", FLOAT, 1, "rad", "Steering wheel angle"),
    ("Throttle", FLOAT, 1, "%", "0=off throttle to 1=full throttle"),
    ("Brake", FLOAT, 1, "%", "0=brake released to 1=max pedal force"),
    ("Clutch", FLOAT, 1, "%", "0=disengaged to 1=fully engaged"),
    ("Gear", INT, 1, "", "-1=reverse  0=neutral  1..n=current gear"),
    ("RPM", FLOAT, 1, "revs/min", "Engine rpm"),
    ("Lap", INT, 1, "", "Laps started count"),
    ("LapCompleted", INT, 1, "", "Laps completed count"),
    ("LapDist", FLOAT, 1, "m", "Meters traveled from S/F this lap"),
    ("LapDistPct", FLOAT, 1, "%", "Percentage distance around lap"),
    ("LapBestLapTime", FLOAT, 1, "s", "Players best lap time"),
    ("LapLastLapTime", FLOAT, 1, "s", "Players last lap time"),
    ("LapCurrentLapTime", FLOAT, 1, "s", "Estimate of players current lap time as shown in F3 box"),
    ("Speed", FLOAT, 1, "m/s", "GPS vehicle speed"),
    ("TrackTempCrew", FLOAT, 1, "C", "Temperature of track measured by crew around track"),
    ("AirTemp", FLOAT, 1, "C", "Temperature of air at start/finish line"),
    ("CarLeftRight", INT, 1, "irsdk_CarLeftRight", "Notify if car is to the left or right of driver"),
    ("EngineWarnings", BITFIELD, 1, "irsdk_EngineWarnings", "Bitfield for warning lights"),
    ("FuelLevelPct", FLOAT, 1, "%", "Percent fuel remaining"),
    # Since 2024 iRacing publishes these as six 360 Hz sub-samples per 60 Hz tick.
    ("YawRate", FLOAT, 6, "rad/s", "Yaw rate"),
    ("LatAccel", FLOAT, 6, "m/s^2", "Lateral acceleration (including gravity)"),
    ("LongAccel", FLOAT, 6, "m/s^2", "Longitudinal acceleration (including gravity)"),
    *_tyre_vars(),
    ("FuelUsePerHour", FLOAT, 1, "kg/h", "Engine fuel used instantaneous"),
    ("FuelLevel", FLOAT, 1, "l", "Liters of fuel remaining"),
)
"""A realistic live variable set with iRacing's real names, type codes and counts."""


def session_yaml_bytes(text: str | bytes) -> bytes:
    """Frame session YAML the way the sim writes it and pyirsdk's section lookup needs it.

    CRLF becomes LF; the text starts with `---\\n`; every section, the last included, ends with a
    blank line (then `...`). `str` is encoded as the sim does: cp1252 unless it is UTF-8 flagged.
    """
    if isinstance(text, str):
        utf8 = text.replace("\r\n", "\n").startswith("---\nWeekendInfo:\n Encoding: UTF8")
        data = text.encode("utf-8" if utf8 else "cp1252")
    else:
        data = bytes(text)
    data = data.replace(b"\r\n", b"\n")
    if not data.startswith(b"---\n"):
        data = b"---\n" + data.lstrip(b"\n")
    body = data.rstrip()
    if body.endswith(b"\n..."):
        body = body[:-4].rstrip()
    return body + b"\n\n...\n"


@dataclass(frozen=True)
class ImageLayout:
    """Where everything sits in one image."""

    var_headers: tuple[VarHeader, ...]
    buf_len: int
    var_header_offset: int
    buf_offsets: tuple[int, ...]
    session_info_len: int
    size: int
    dtype: np.dtype[np.void]

    @classmethod
    def plan(
        cls,
        variables: Sequence[VarSpec] = LIVE_VARS,
        *,
        num_buf: int = NUM_BUF,
        session_info_len: int = SESSION_INFO_LEN,
        size: int = MEMMAP_SIZE,
    ) -> ImageLayout:
        var_headers, buf_len = layout_vars(list(variables))
        var_header_offset = HEADER_SIZE + session_info_len
        first_buf = (var_header_offset + len(var_headers) * VAR_HEADER_SIZE + 15) // 16 * 16
        buf_offsets = tuple(first_buf + i * buf_len for i in range(num_buf))
        needed = buf_offsets[-1] + buf_len
        return cls(
            var_headers,
            buf_len,
            var_header_offset,
            buf_offsets,
            session_info_len,
            max(size, needed),
            record_dtype(var_headers, buf_len),
        )


class IrsdkImageWriter:
    """Writes an iRacing memory-image file through a shared mapping, tick by tick, like the sim.

    Readers that map the same file (pyirsdk) see every write at once. Use as a context manager, or
    call `close()`.
    """

    def __init__(
        self,
        path: str | Path,
        session_yaml: str | bytes,
        *,
        variables: Sequence[VarSpec] = LIVE_VARS,
        num_buf: int = NUM_BUF,
        tick_rate: int = TICK_RATE,
        size: int = MEMMAP_SIZE,
    ) -> None:
        self.path = Path(path)
        self.layout = ImageLayout.plan(variables, num_buf=num_buf, size=size)
        self._size = self.layout.size
        self._file = self.path.open("w+b")
        self._file.truncate(self._size)
        self._mem = mmap.mmap(self._file.fileno(), self._size)  # MAP_SHARED, read-write
        self.tick_rate = tick_rate
        self.session_info_update = 0
        self.last_tick = 0
        self._status = STATUS_CONNECTED
        self.initialise(session_yaml, variables=variables, num_buf=num_buf)

    # ----------------------------------------------------------------- life cycle

    def initialise(
        self,
        session_yaml: str | bytes,
        *,
        variables: Sequence[VarSpec] | None = None,
        num_buf: int | None = None,
        session_info_update: int = 1,
        first_tick: int = 0,
    ) -> None:
        """A new sim session in this memory: clear it, write YAML, variable table and empty buffers,
        and the header last (so no reader ever sees a valid header over a half-written image)."""
        variables = variables if variables is not None else self.variables
        num_buf = num_buf if num_buf is not None else len(self.layout.buf_offsets)
        layout = ImageLayout.plan(variables, num_buf=num_buf, size=self._size)
        if layout.size > self._size:
            raise ValueError(f"{len(variables)} variables need {layout.size} bytes; the image has {self._size}")
        self.layout = layout
        self._mem[:] = bytes(self._size)
        self._write_yaml(session_yaml)
        self._mem[layout.var_header_offset : layout.var_header_offset + len(layout.var_headers) * VAR_HEADER_SIZE] = (
            pack_var_headers(layout.var_headers)
        )
        self.session_info_update = session_info_update
        self.last_tick = first_tick
        self._status = STATUS_CONNECTED
        self._write_header()

    def zero_header(self) -> None:
        """The sim exiting: the header cleared (version 0, status 0, no buffers)."""
        self._mem[0:HEADER_SIZE] = bytes(HEADER_SIZE)

    def set_connected(self, connected: bool) -> None:
        """Raise or lower the header's status flag (down: the sim is between sessions)."""
        self._status = STATUS_CONNECTED if connected else 0
        self._write_header()

    def close(self) -> None:
        if not self._mem.closed:
            self._mem.flush()
            self._mem.close()
        self._file.close()

    def __enter__(self) -> IrsdkImageWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- writing

    @property
    def variables(self) -> tuple[VarSpec, ...]:
        return tuple((v.name, v.type, v.count, v.unit, v.desc) for v in self.layout.var_headers)

    @property
    def slot_ticks(self) -> tuple[int, ...]:
        """The tick count of each buffer slot, as the header says now."""
        return tuple(
            _VAR_BUF_TICK.unpack_from(self._mem, _VAR_BUF_AT + i * _VAR_BUF_SIZE)[0]
            for i in range(len(self.layout.buf_offsets))
        )

    def record(self, values: Mapping[str, Any] | None = None) -> bytes:
        """One variable buffer holding `values` (name -> scalar or sequence); other variables are 0."""
        record = np.zeros((), dtype=self.layout.dtype)
        for name, value in (values or {}).items():
            record[name] = value  # an unknown name raises: a typo in a test must not pass silently
        return record.tobytes()

    def write_tick(self, values: Mapping[str, Any] | None = None, *, tick: int | None = None) -> int:
        """Publish one tick like iRacing: record into the slot with the oldest tick, then its tick count."""
        tick = self.last_tick + 1 if tick is None else tick
        ticks = self.slot_ticks
        slot = min(range(len(ticks)), key=lambda i: ticks[i])
        offset = self.layout.buf_offsets[slot]
        self._mem[offset : offset + self.layout.buf_len] = self.record(values)
        _VAR_BUF_TICK.pack_into(self._mem, _VAR_BUF_AT + slot * _VAR_BUF_SIZE, tick)
        self.last_tick = tick
        return tick

    def set_session_yaml(self, session_yaml: str | bytes) -> int:
        """Publish new session info: the text first, then `session_info_update` bumped; returns it."""
        self._write_yaml(session_yaml)
        self.session_info_update += 1
        struct.pack_into("<i", self._mem, 12, self.session_info_update)
        return self.session_info_update

    def _write_yaml(self, session_yaml: str | bytes) -> None:
        data = session_yaml_bytes(session_yaml)
        limit = self.layout.session_info_len
        if len(data) >= limit:
            raise ValueError(f"session YAML is {len(data)} bytes; the region holds {limit}")
        self._mem[HEADER_SIZE : HEADER_SIZE + limit] = data + bytes(limit - len(data))

    def _write_header(self) -> None:
        layout = self.layout
        ticks = self.slot_ticks  # all 0 after initialise() or zero_header()
        header = Header(
            version=HEADER_VERSION,
            status=self._status,
            tick_rate=self.tick_rate,
            session_info_update=self.session_info_update,
            session_info_len=layout.session_info_len,
            session_info_offset=HEADER_SIZE,
            num_vars=len(layout.var_headers),
            var_header_offset=layout.var_header_offset,
            num_buf=len(layout.buf_offsets),
            buf_len=layout.buf_len,
            var_bufs=tuple(VarBuf(t, o) for t, o in zip(ticks, layout.buf_offsets, strict=True)),
        )
        self._mem[0:HEADER_SIZE] = header.pack()


def write_image(
    path: str | Path,
    session_yaml: str | bytes,
    ticks: Sequence[Mapping[str, Any]] = (),
    **options: Any,
) -> Path:
    """A static image file: `session_yaml` and the given ticks (the last `num_buf` stay in the buffers)."""
    with IrsdkImageWriter(path, session_yaml, **options) as writer:
        for values in ticks:
            writer.write_tick(values)
    return Path(path)


# --------------------------------------------------------------------------- a scripted session


@dataclass(frozen=True)
class ScriptedSession:
    """A car lapping a track at constant speed; `values(tick)` is what the sim publishes at `tick`.

    Tick 1 is the first tick; time is `tick / tick_rate`. Values are exact functions of the tick, so
    a test can check any delivered frame against them (float32 channels to float32 precision).
    """

    track_length_m: float = 5750.0
    speed_mps: float = 55.0
    tick_rate: int = TICK_RATE
    session_num: int = 0
    player_car_idx: int = 0
    fuel_start_l: float = 60.0
    fuel_use_kg_per_h: float = 90.0
    fuel_density_kg_per_l: float = 0.75

    def session_time_s(self, tick: int) -> float:
        return tick / self.tick_rate

    def lap_position(self, tick: int) -> tuple[int, float]:
        """(laps completed, metres into the current lap) at `tick`."""
        travelled_m = self.speed_mps * self.session_time_s(tick)
        completed = int(travelled_m // self.track_length_m)
        return completed, travelled_m - completed * self.track_length_m

    def fuel_level_l(self, tick: int) -> float:
        burnt_l = self.fuel_use_kg_per_h / self.fuel_density_kg_per_l * self.session_time_s(tick) / 3600.0
        return self.fuel_start_l - burnt_l

    def values(self, tick: int) -> dict[str, Any]:
        t = self.session_time_s(tick)
        completed, lap_dist = self.lap_position(tick)
        lap_time_s = self.track_length_m / self.speed_mps
        car = self.player_car_idx
        phase = 2 * math.pi * t / lap_time_s

        def per_car(player_value: Any, others: Any) -> list[Any]:
            return [player_value if i == car else others for i in range(MAX_CARS)]

        values: dict[str, Any] = {
            "SessionTime": t,
            "SessionTick": tick,
            "SessionNum": self.session_num,
            "SessionState": 4,
            "SessionUniqueID": 1,
            "SessionFlags": 0x0004 | 0x10000000,  # green, start lights hidden
            "SessionTimeRemain": 3600.0 - t,
            "SessionLapsRemainEx": 32767,
            "IsOnTrack": True,
            "PlayerCarPosition": 1,
            "PlayerCarClassPosition": 1,
            "PlayerTrackSurface": 3,
            "PlayerCarIdx": car,
            "PlayerCarMyIncidentCount": 0,
            "CarIdxLap": per_car(completed + 1, -1),
            "CarIdxLapCompleted": per_car(completed, -1),
            "CarIdxLapDistPct": per_car(lap_dist / self.track_length_m, -1.0),
            "CarIdxTrackSurface": per_car(3, -1),
            "CarIdxOnPitRoad": per_car(False, False),
            "CarIdxPosition": per_car(1, 0),
            "CarIdxClassPosition": per_car(1, 0),
            "CarIdxClass": per_car(11, 0),
            "CarIdxEstTime": per_car(lap_dist / self.speed_mps, 0.0),
            "CarIdxLastLapTime": per_car(lap_time_s if completed else -1.0, -1.0),
            "CarIdxBestLapTime": per_car(lap_time_s if completed else -1.0, -1.0),
            "CarIdxGear": per_car(4, 0),
            "CarIdxRPM": per_car(7000.0, 0.0),
            "OnPitRoad": False,
            "SteeringWheelAngle": 0.2 * math.sin(phase),
            "Throttle": (tick % 60) / 59.0,
            "Brake": 0.0,
            "Clutch": 1.0,
            "Gear": 4,
            "RPM": 6000.0 + (tick % 100) * 10.0,
            "Lap": completed + 1,
            "LapCompleted": completed,
            "LapDist": lap_dist,
            "LapDistPct": lap_dist / self.track_length_m,
            "LapBestLapTime": lap_time_s if completed else 0.0,
            "LapLastLapTime": lap_time_s if completed else -1.0,
            "LapCurrentLapTime": lap_dist / self.speed_mps,
            "Speed": self.speed_mps,
            "TrackTempCrew": 31.5,
            "AirTemp": 22.0,
            "CarLeftRight": 1,
            "EngineWarnings": 0,
            "FuelLevelPct": self.fuel_level_l(tick) / 100.0,
            "YawRate": [0.1 * math.cos(phase)] * 6,
            "LatAccel": [9.81 * math.sin(phase)] * 6,
            "LongAccel": [0.5] * 6,
            "FuelUsePerHour": self.fuel_use_kg_per_h,
            "FuelLevel": self.fuel_level_l(tick),
        }
        for corner in ("LF", "RF", "LR", "RR"):
            values[f"{corner}coldPressure"] = 165.0
            for zone, temp_c in (("L", 80.0), ("M", 85.0), ("R", 90.0)):
                values[f"{corner}tempC{zone}"] = temp_c
            for zone in ("L", "M", "R"):
                values[f"{corner}wear{zone}"] = 0.97
        return values
