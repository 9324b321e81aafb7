"""iRacing's binary telemetry layout (shared memory and `.ibt` files), declared once as tables.

Pure parsing and packing with `struct` and numpy; no pyirsdk here, so the `.ibt` reader can take numpy
views over the record block and tests (and session recording) can write images in the exact layout:

* a 112-byte header: ten little-endian int32 fields, 8 bytes of padding, then 4 variable-buffer
  slots of `<4i` (tick count, buffer offset, 2 pad);
* in `.ibt` files, a 32-byte disk sub-header `<Qddii` at offset 112;
* `num_vars` variable headers of 144 bytes each (`<iii?3x32s64s32s`: type, offset, count,
  count-as-time, name, description, unit);
* the session-info YAML; and the variable buffers (`buf_len` bytes each; in `.ibt` files the
  records are laid end to end from the first slot's offset).
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from typing import Final

import numpy as np

from adapters.errors import TelemetryFormatError

HEADER_SIZE: Final = 112
DISK_SUB_HEADER_SIZE: Final = 32
VAR_HEADER_SIZE: Final = 144
MAX_BUFS: Final = 4
STATUS_CONNECTED: Final = 1

_HEADER_FIELDS: Final = struct.Struct("<10i8x")
_VAR_BUF: Final = struct.Struct("<2i8x")
_DISK_SUB_HEADER: Final = struct.Struct("<Qddii")
_VAR_HEADER: Final = struct.Struct("<iii?3x32s64s32s")

Buffer = bytes | bytearray | memoryview | mmap.mmap
"""Anything `struct.unpack_from` reads: file bytes, or a memory mapping of a file or the sim."""

VAR_TYPE_DTYPES: Final = {0: "S1", 1: "?", 2: "<i4", 3: "<u4", 4: "<f4", 5: "<f8"}
"""irsdk variable type -> numpy dtype (0 char, 1 bool, 2 int, 3 bitfield, 4 float, 5 double)."""
VAR_TYPE_SIZES: Final = {0: 1, 1: 1, 2: 4, 3: 4, 4: 4, 5: 8}


@dataclass(frozen=True, slots=True)
class VarBuf:
    """One rotating variable buffer: the tick it holds and where it lives."""

    tick_count: int
    buf_offset: int


@dataclass(frozen=True, slots=True)
class Header:
    """The 112-byte header at offset 0 of the memory map and of every `.ibt` file."""

    version: int
    status: int
    tick_rate: int
    session_info_update: int
    session_info_len: int
    session_info_offset: int
    num_vars: int
    var_header_offset: int
    num_buf: int
    buf_len: int
    var_bufs: tuple[VarBuf, ...]

    @classmethod
    def parse(cls, data: Buffer) -> Header:
        if len(data) < HEADER_SIZE:
            raise TelemetryFormatError(f"file too short for an iRacing header ({len(data)} of {HEADER_SIZE} bytes)")
        (version, status, tick_rate, info_update, info_len, info_offset, num_vars, var_offset, num_buf, buf_len) = (
            _HEADER_FIELDS.unpack_from(data, 0)
        )
        bufs = tuple(VarBuf(*_VAR_BUF.unpack_from(data, 48 + 16 * i)) for i in range(MAX_BUFS))
        return cls(
            version,
            status,
            tick_rate,
            info_update,
            info_len,
            info_offset,
            num_vars,
            var_offset,
            num_buf,
            buf_len,
            var_bufs=bufs[: max(0, min(num_buf, MAX_BUFS))],
        )

    def pack(self) -> bytes:
        slots = list(self.var_bufs) + [VarBuf(0, 0)] * (MAX_BUFS - len(self.var_bufs))
        return _HEADER_FIELDS.pack(
            self.version,
            self.status,
            self.tick_rate,
            self.session_info_update,
            self.session_info_len,
            self.session_info_offset,
            self.num_vars,
            self.var_header_offset,
            self.num_buf,
            self.buf_len,
        ) + b"".join(_VAR_BUF.pack(b.tick_count, b.buf_offset) for b in slots)

    def validate(self, size: int) -> None:
        """Raise TelemetryFormatError unless this header describes a plausible image of `size` bytes."""
        if self.version < 1 or self.version > 10:
            raise TelemetryFormatError(f"not iRacing telemetry (header version {self.version})")
        if not 1 <= self.num_buf <= MAX_BUFS:
            raise TelemetryFormatError(f"not iRacing telemetry ({self.num_buf} variable buffers)")
        if not 0 < self.num_vars <= 10_000 or self.buf_len <= 0 or self.tick_rate <= 0:
            raise TelemetryFormatError("not iRacing telemetry (implausible variable table)")
        if self.var_header_offset + self.num_vars * VAR_HEADER_SIZE > size:
            raise TelemetryFormatError("file is truncated: variable headers run past its end")
        if self.session_info_offset + self.session_info_len > size:
            raise TelemetryFormatError("file is truncated: session info runs past its end")


@dataclass(frozen=True, slots=True)
class DiskSubHeader:
    """The 32-byte `.ibt` sub-header at offset 112."""

    session_start_date: int
    session_start_time_s: float
    session_end_time_s: float
    lap_count: int
    record_count: int

    @classmethod
    def parse(cls, data: Buffer) -> DiskSubHeader:
        if len(data) < HEADER_SIZE + DISK_SUB_HEADER_SIZE:
            raise TelemetryFormatError("file too short for an .ibt disk header")
        return cls(*_DISK_SUB_HEADER.unpack_from(data, HEADER_SIZE))

    def pack(self) -> bytes:
        return _DISK_SUB_HEADER.pack(
            self.session_start_date,
            self.session_start_time_s,
            self.session_end_time_s,
            self.lap_count,
            self.record_count,
        )


@dataclass(frozen=True, slots=True)
class VarHeader:
    """One telemetry variable: its type, where it sits in a record, and what it means."""

    type: int
    offset: int
    count: int
    count_as_time: bool
    name: str
    desc: str
    unit: str

    @property
    def dtype(self) -> str:
        return VAR_TYPE_DTYPES[self.type]

    @property
    def size(self) -> int:
        return VAR_TYPE_SIZES[self.type] * self.count

    def pack(self) -> bytes:
        return _VAR_HEADER.pack(
            self.type,
            self.offset,
            self.count,
            self.count_as_time,
            self.name.encode("latin-1"),
            self.desc.encode("latin-1"),
            self.unit.encode("latin-1"),
        )


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("latin-1")


def parse_var_headers(data: Buffer, header: Header) -> tuple[VarHeader, ...]:
    """Read the variable table; raises TelemetryFormatError on unknown types or bad offsets."""
    headers = []
    for i in range(header.num_vars):
        fields = _VAR_HEADER.unpack_from(data, header.var_header_offset + i * VAR_HEADER_SIZE)
        var = VarHeader(
            fields[0], fields[1], fields[2], fields[3], _text(fields[4]), _text(fields[5]), _text(fields[6])
        )
        if var.type not in VAR_TYPE_DTYPES or var.count < 1 or var.offset < 0 or var.offset + var.size > header.buf_len:
            raise TelemetryFormatError(f"corrupt variable header #{i} ({var.name!r})")
        headers.append(var)
    return tuple(headers)


def record_dtype(var_headers: tuple[VarHeader, ...], buf_len: int) -> np.dtype[np.void]:
    """A structured dtype laying every variable at its offset inside one `buf_len`-byte record."""
    names, formats, offsets = [], [], []
    for var in var_headers:
        if var.type == 0:
            continue  # char variables carry nothing PitBox reads
        names.append(var.name)
        formats.append((var.dtype, (var.count,)) if var.count > 1 else var.dtype)
        offsets.append(var.offset)
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": buf_len})


def pack_var_headers(var_headers: tuple[VarHeader, ...]) -> bytes:
    return b"".join(v.pack() for v in var_headers)


def layout_vars(specs: list[tuple[str, int, int, str, str]]) -> tuple[tuple[VarHeader, ...], int]:
    """Lay out variables (name, type, count, unit, description) end to end; returns headers and buf_len."""
    offset = 0
    headers = []
    for name, var_type, count, unit, desc in specs:
        size = VAR_TYPE_SIZES[var_type]
        offset = (offset + size - 1) // size * size  # natural alignment, as iRacing does
        headers.append(VarHeader(var_type, offset, count, False, name, desc, unit))
        offset += size * count
    buf_len = (offset + 15) // 16 * 16
    return tuple(headers), buf_len
