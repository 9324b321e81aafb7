"""Datagrams for UDP sims: the source contract adapters read from, and PitBox's recording file format.

One job: move captured datagrams in and out of files, and say what a datagram source is. Sockets
are not here (`adapters` is sans-I/O: the UDP listener lives in `driver_app.udp_listener`); a
`DatagramSource` hands an adapter the datagrams that arrived, each with its receive time on the
caller's clock. `RecordingSource` plays a recording back as such a source, in real time, at a
multiple of it, or as fast as it is read.

Recording file format, version 1 (all numbers little-endian):

    file header, 24 bytes:
        magic          8 bytes   b"PBXUDP\\r\\n"  (the CR LF catches text-mode copies)
        version        uint16    1
        flags          uint16    0
        reserved       uint32    0
        started_unix_s float64   wall-clock time the recording started (0 when unknown)
    then one record per datagram, in the order received:
        received_s     float64   seconds since the recording started
        length         uint32    payload length in bytes
        payload        `length` bytes, the datagram exactly as received

A file cut short (the recorder was killed mid-write) reads up to its last complete record; the
reader says how many bytes it ignored.
"""

from __future__ import annotations

import logging
import math
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Final, Protocol, runtime_checkable

from adapters.errors import SimNotFoundError, TelemetryFormatError

logger = logging.getLogger(__name__)

MAGIC: Final = b"PBXUDP\r\n"
VERSION: Final = 1
_FILE_HEADER: Final = struct.Struct("<8sHHId")
_RECORD_HEADER: Final = struct.Struct("<dI")
MAX_DATAGRAM_BYTES: Final = 65_535
REPLAY_CHUNK: Final = 256
"""Datagrams handed over per `receive` when a recording is read as fast as possible."""

Datagram = tuple[bytes, float]
"""A datagram's payload and its receive time (seconds, on the clock of whoever asks)."""


@runtime_checkable
class DatagramSource(Protocol):
    """Where a UDP adapter's datagrams come from (a UDP port, a recording)."""

    @property
    def description(self) -> str:
        """Where the datagrams come from, for people ("udp 0.0.0.0:20777", "recording x.pbxudp")."""
        ...

    @property
    def realtime(self) -> bool:
        """Receive times are on the caller's clock (live, or a paced replay); False for a replay read
        as fast as possible, whose datagrams all arrive 'now'."""
        ...

    @property
    def finished(self) -> bool:
        """No datagram will ever arrive again (a recording played to its end)."""
        ...

    def open(self) -> None:
        """Start receiving; raises `SimNotFoundError` when that is impossible (port taken, no file)."""
        ...

    def receive(self, now_s: float) -> list[Datagram]:
        """The datagrams that arrived since the last call, oldest first. Never blocks."""
        ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- writing


class RecordingWriter:
    """Appends datagrams to a new recording file. Use as a context manager, or `close()` it.

    `started_unix_s` is stored in the header; receive times are stored relative to the first
    datagram's (so a recording starts at 0.0 whatever clock the caller uses).
    """

    def __init__(self, path: str | os.PathLike[str], *, started_unix_s: float = 0.0) -> None:
        self.path = Path(path)
        try:
            self._file: BinaryIO = open(self.path, "wb")  # noqa: SIM115 - kept open while recording
        except OSError as exc:
            raise SimNotFoundError(f"cannot write the recording {self.path}: {exc.strerror or exc}") from exc
        self._file.write(_FILE_HEADER.pack(MAGIC, VERSION, 0, 0, started_unix_s))
        self._origin_s: float | None = None
        self.count = 0

    def write(self, payload: bytes, received_s: float) -> None:
        if len(payload) > MAX_DATAGRAM_BYTES:
            raise ValueError(f"a datagram has at most {MAX_DATAGRAM_BYTES} bytes, not {len(payload)}")
        if self._origin_s is None:
            self._origin_s = received_s
        self._file.write(_RECORD_HEADER.pack(received_s - self._origin_s, len(payload)))
        self._file.write(payload)
        self.count += 1

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def write_recording(path: str | os.PathLike[str], datagrams: Sequence[Datagram], started_unix_s: float = 0.0) -> None:
    """Write a whole recording at once (tests, tools)."""
    with RecordingWriter(path, started_unix_s=started_unix_s) as writer:
        for payload, received_s in datagrams:
            writer.write(payload, received_s)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class Recording:
    """A whole recording in memory."""

    path: Path
    started_unix_s: float
    datagrams: tuple[Datagram, ...]
    ignored_bytes: int = 0
    """Bytes after the last complete record (a recording cut short)."""

    @property
    def duration_s(self) -> float:
        return self.datagrams[-1][1] if self.datagrams else 0.0


def is_recording(path: str | os.PathLike[str]) -> bool:
    """Whether the file starts like a PitBox UDP recording (False when it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def parse_recording(data: bytes, path: Path | None = None) -> Recording:
    """A recording from its bytes; TelemetryFormatError when it is not one."""
    where = f"{path}: " if path is not None else ""
    if len(data) < _FILE_HEADER.size:
        raise TelemetryFormatError(f"{where}too short for a PitBox UDP recording ({len(data)} bytes)")
    magic, version, _flags, _reserved, started = _FILE_HEADER.unpack_from(data)
    if magic != MAGIC:
        raise TelemetryFormatError(f"{where}not a PitBox UDP recording (it does not start with {MAGIC!r})")
    if version != VERSION:
        raise TelemetryFormatError(f"{where}recording format version {version} is not supported (only {VERSION})")
    datagrams: list[Datagram] = []
    offset = _FILE_HEADER.size
    while offset + _RECORD_HEADER.size <= len(data):
        received_s, length = _RECORD_HEADER.unpack_from(data, offset)
        start = offset + _RECORD_HEADER.size
        if start + length > len(data):
            break
        if not math.isfinite(received_s):
            raise TelemetryFormatError(f"{where}record {len(datagrams)} has no valid receive time")
        datagrams.append((data[start : start + length], received_s))
        offset = start + length
    ignored = len(data) - offset
    if ignored:
        logger.warning("%signored %d bytes after the last complete datagram (recording cut short?)", where, ignored)
    return Recording(path or Path(), started, tuple(datagrams), ignored)


def read_recording(path: str | os.PathLike[str]) -> Recording:
    """Read a recording file; SimNotFoundError when it is missing, TelemetryFormatError when it is not one."""
    target = Path(path)
    try:
        data = target.read_bytes()
    except FileNotFoundError as exc:
        raise SimNotFoundError(f"{target}: no such file") from exc
    except IsADirectoryError as exc:
        raise TelemetryFormatError(f"{target}: is a directory, not a recording") from exc
    except OSError as exc:
        raise SimNotFoundError(f"{target}: cannot read ({exc.strerror or exc})") from exc
    return parse_recording(data, target)


class RecordingSource:
    """A recording played back as a `DatagramSource`.

    `speed` is the multiple of real time (1.0 = as recorded); None releases `REPLAY_CHUNK`
    datagrams per `receive`, as fast as they are asked for. The first `receive` anchors the
    recording's clock to `now_s`; paced receive times are `anchor + recorded / speed`.
    """

    def __init__(self, path: str | os.PathLike[str], *, speed: float | None = 1.0) -> None:
        if speed is not None and not (speed > 0 and math.isfinite(speed)):
            raise ValueError("replay speed must be a positive number (or None for as fast as possible)")
        self.path = Path(path)
        self.speed = speed
        self._recording: Recording | None = None
        self._position = 0
        self._anchor_s: float | None = None

    @property
    def description(self) -> str:
        return f"recording {self.path.name}"

    @property
    def realtime(self) -> bool:
        return self.speed is not None

    @property
    def finished(self) -> bool:
        return self._recording is not None and self._position >= len(self._recording.datagrams)

    def open(self) -> None:
        if self._recording is None:
            self._recording = read_recording(self.path)
            logger.info(
                "replaying %s: %d datagrams over %.1f s",
                self.path,
                len(self._recording.datagrams),
                self._recording.duration_s,
            )

    def receive(self, now_s: float) -> list[Datagram]:
        self.open()
        recording = self._recording
        assert recording is not None
        datagrams = recording.datagrams
        start = self._position
        if self.speed is None:
            stop = min(start + REPLAY_CHUNK, len(datagrams))
            self._position = stop
            return [(payload, now_s) for payload, _ in datagrams[start:stop]]
        if self._anchor_s is None:
            self._anchor_s = now_s - (datagrams[start][1] / self.speed if start < len(datagrams) else 0.0)
        due_s = (now_s - self._anchor_s) * self.speed
        stop = start
        while stop < len(datagrams) and datagrams[stop][1] <= due_s:
            stop += 1
        self._position = stop
        anchor, speed = self._anchor_s, self.speed
        return [(payload, anchor + recorded_s / speed) for payload, recorded_s in datagrams[start:stop]]

    def close(self) -> None:
        self._anchor_s = None
