"""Read VRKit `.trackmap` files (protobuf `LapTrajectory`, see ../shared/data/PROVENANCE.md, trackmap/).

A minimal protobuf wire-format decoder (varints, 64-bit, length-delimited and 32-bit fields), enough
for the fields those files populate: per-point lap percent, lap distance, latitude, longitude and
altitude, and the lap's metadata. No protobuf package is needed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


class WireError(ValueError):
    """The bytes are not protobuf wire format (truncated, unknown wire type)."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise WireError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def fields(data: bytes) -> list[tuple[int, int, int | bytes]]:
    """Every field of one message, in order: (field number, wire type, int value or raw bytes)."""
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == VARINT:
            value, pos = _varint(data, pos)
        elif wire == FIXED64:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == LENGTH:
            size, pos = _varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
        elif wire == FIXED32:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise WireError(f"unsupported wire type {wire} for field {number}")
        if pos > len(data):
            raise WireError(f"field {number} runs past the end of the message")
        out.append((number, wire, value))
    return out


@dataclass(frozen=True, slots=True, eq=False)
class LapTrajectory:
    """One lap as VRKit recorded it: arrays with one value per 60 Hz sample."""

    track: str
    lap: int
    lap_time_s: float
    lap_frac: npt.NDArray[np.float64]
    lap_dist_m: npt.NDArray[np.float64]
    latitude_deg: npt.NDArray[np.float64]
    longitude_deg: npt.NDArray[np.float64]
    altitude_m: npt.NDArray[np.float64]


def read_trackmap(path: Path) -> LapTrajectory:
    """Decode a `.trackmap` file."""
    lap = 0
    lap_time_ms = 0
    track = ""
    columns: dict[int, list[float]] = {2: [], 3: [], 10: [], 11: [], 12: []}
    for number, _, value in fields(path.read_bytes()):
        if number == 1 and isinstance(value, bytes):
            for sub, _, sub_value in fields(value):
                if sub == 1 and isinstance(sub_value, int):
                    lap = sub_value
                elif sub == 2 and isinstance(sub_value, int):
                    lap_time_ms = sub_value
        elif number == 2 and isinstance(value, bytes):
            for sub, _, sub_value in fields(value):
                if sub == 1 and isinstance(sub_value, bytes):
                    track = sub_value.decode("utf-8", "replace")
        elif number == 20 and isinstance(value, bytes):
            point = {sub: sub_value for sub, _, sub_value in fields(value)}
            for key in columns:
                raw = point.get(key)
                if isinstance(raw, bytes):
                    columns[key].append(struct.unpack("<d" if len(raw) == 8 else "<f", raw)[0])
                else:
                    columns[key].append(0.0)  # proto3 leaves out zero values
    arrays = {key: np.array(values, dtype=np.float64) for key, values in columns.items()}
    return LapTrajectory(
        track=track,
        lap=lap,
        lap_time_s=lap_time_ms / 1000.0,
        lap_frac=arrays[2],
        lap_dist_m=arrays[3],
        latitude_deg=arrays[10],
        longitude_deg=arrays[11],
        altitude_m=arrays[12],
    )
