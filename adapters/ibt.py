"""Replay of iRacing `.ibt` recordings: vectorised reading and a paced `SimAdapter` over the file.

`IbtFile` maps the file and exposes its records as a numpy structured array (a view, no per-record
Python loop); decoding goes through the same `ChannelDecoder` as the live adapter, so a recorded
channel means what a live one does. The session YAML is read with pyirsdk (which knows iRacing's
YAML quirks) by opening the file as a memory image. `IbtReplayAdapter` plays a file back in real
time, at any speed multiple, or as fast as it is read, and can seek to a lap.
"""

from __future__ import annotations

import logging
import mmap
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import irsdk
import numpy as np
import numpy.typing as npt

from adapters.base import AdapterEvent, AdapterState, ConnectionTracker, SessionChanged, register
from adapters.errors import SessionInfoError, SimNotFoundError, TelemetryFormatError
from adapters.iracing_channels import ChannelDecoder
from adapters.iracing_session import SECTIONS, session_info_from_sections
from adapters.irsdk_layout import (
    DISK_SUB_HEADER_SIZE,
    HEADER_SIZE,
    DiskSubHeader,
    Header,
    VarHeader,
    parse_var_headers,
    record_dtype,
)
from adapters.model import FrameBlock, SessionInfo, TelemetryFrame

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_RECORDS = 36_000
"""Records decoded per chunk when a caller wants progress (10 minutes at 60 Hz)."""


class IbtFile:
    """An open `.ibt` file. Use as a context manager; `close()` releases the mapping."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._file = open(self.path, "rb")  # noqa: SIM115 - kept open for the mapping's life
        except FileNotFoundError as exc:
            raise SimNotFoundError(f"{self.path}: no such file") from exc
        except IsADirectoryError as exc:
            raise TelemetryFormatError(f"{self.path}: is a directory, not an .ibt file") from exc
        except OSError as exc:
            raise SimNotFoundError(f"{self.path}: cannot open ({exc.strerror})") from exc
        try:
            self._map = self._open_map()
            self.header, self.disk_header, self.var_headers, self.record_count = self._parse()
        except BaseException:
            self._file.close()
            raise
        self.decoder = ChannelDecoder(self.var_headers)
        self._session_info: SessionInfo | None = None
        self._dtype = record_dtype(self.var_headers, self.header.buf_len)

    def _open_map(self) -> mmap.mmap:
        size = os.fstat(self._file.fileno()).st_size
        if size == 0:
            raise TelemetryFormatError(f"{self.path}: empty file, not an iRacing .ibt")
        return mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)

    def _parse(self) -> tuple[Header, DiskSubHeader, tuple[VarHeader, ...], int]:
        size = len(self._map)
        try:
            header = Header.parse(self._map)
            header.validate(size)
            disk = DiskSubHeader.parse(self._map)
            var_headers = parse_var_headers(self._map, header)
        except TelemetryFormatError as exc:
            raise TelemetryFormatError(f"{self.path}: {exc}") from exc
        body_start = HEADER_SIZE + DISK_SUB_HEADER_SIZE
        if header.var_header_offset < body_start or header.session_info_offset < body_start or not header.var_bufs:
            # A live memory image keeps its session info at offset 112, where .ibt files have the disk header.
            raise TelemetryFormatError(f"{self.path}: not an .ibt file (looks like a live memory image)")
        first = header.var_bufs[0].buf_offset
        available = max(0, (size - first) // header.buf_len)
        expected = disk.record_count if disk.record_count > 0 else available
        if first <= 0 or first > size:
            raise TelemetryFormatError(f"{self.path}: not an .ibt file (records outside the file)")
        if available < expected:
            raise TelemetryFormatError(
                f"{self.path}: file is truncated: its header promises {expected} records, only {available} are complete"
            )
        return header, disk, var_headers, expected

    # ---------------------------------------------------------------- access

    @property
    def tick_rate_hz(self) -> int:
        return self.header.tick_rate

    @property
    def duration_s(self) -> float:
        return self.record_count / float(self.header.tick_rate)

    def raw_records(self, start: int = 0, stop: int | None = None) -> npt.NDArray[Any]:
        """Records [start, stop) as a structured view over the mapping (valid until `close`)."""
        stop = self.record_count if stop is None else min(stop, self.record_count)
        start = max(0, min(start, stop))
        offset = self.header.var_bufs[0].buf_offset + start * self.header.buf_len
        return np.frombuffer(self._map, dtype=self._dtype, count=stop - start, offset=offset)

    def read_block(self, start: int = 0, stop: int | None = None) -> FrameBlock:
        """Decode records [start, stop) into canonical frames."""
        info = self.session_info
        self.decoder.fuel_density_kg_per_l = info.fuel_density_kg_per_l
        return self.decoder.decode(self.raw_records(start, stop))

    def iter_blocks(self, chunk_records: int = DEFAULT_CHUNK_RECORDS) -> Iterator[FrameBlock]:
        """Decode the file chunk by chunk (for progress reporting on long files)."""
        for start in range(0, self.record_count, chunk_records):
            yield self.read_block(start, start + chunk_records)

    @property
    def session_info(self) -> SessionInfo:
        """The session described in the file's YAML (parsed once)."""
        if self._session_info is None:
            self._session_info = self._read_session_info()
        return self._session_info

    def _read_session_info(self) -> SessionInfo:
        reader = irsdk.IRSDK()
        try:
            if not reader.startup(test_file=str(self.path)):
                raise SessionInfoError(f"{self.path}: pyirsdk could not open the session info")
            session_num = 0
            if "SessionNum" in self.decoder.available and self.record_count:
                raw = self.raw_records(0, min(self.record_count, 600))
                session_num = int(np.max(raw["SessionNum"]))
            sections = {name: reader[name] for name in SECTIONS}
        finally:
            reader.shutdown()
        try:
            return session_info_from_sections(
                sections.get, session_num=session_num, update_count=self.header.session_info_update
            )
        except SessionInfoError as exc:
            raise SessionInfoError(f"{self.path}: {exc}") from exc

    def close(self) -> None:
        if not self._map.closed:
            self._map.close()
        self._file.close()

    def __enter__(self) -> IbtFile:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class IbtReplayAdapter:
    """Plays an `.ibt` file through the SimAdapter contract.

    `speed` is the multiple of real time (1.0 = as recorded); `speed=None` releases one frame per
    `read()` call, as fast as the caller reads. The first `read()` anchors the recording's clock to
    `now_s`.
    """

    name = "ibt"

    def __init__(self, path: str | os.PathLike[str], *, speed: float | None = 1.0, loop: bool = False) -> None:
        if speed is not None and not speed > 0:
            raise ValueError("replay speed must be positive (or None for as fast as possible)")
        self.path = Path(path)
        self.speed = speed
        self.loop = loop
        self._tracker = ConnectionTracker()
        self._events: list[AdapterEvent] = []
        self._block: FrameBlock | None = None
        self._info: SessionInfo | None = None
        self._position = 0
        self._anchor: tuple[float, float] | None = None  # (now_s, session_time_s) at the anchor

    @property
    def state(self) -> AdapterState:
        return self._tracker.state

    @property
    def session_info(self) -> SessionInfo | None:
        return self._info

    @property
    def frame_count(self) -> int:
        return 0 if self._block is None else len(self._block)

    @property
    def position(self) -> int:
        """Index of the next frame `read()` will return."""
        return self._position

    def connect(self, now_s: float) -> bool:
        if self._block is not None:
            return True
        with IbtFile(self.path) as ibt:
            self._info = ibt.session_info
            self._block = ibt.read_block()
        # The block owns its memory (decode copies), so the file can be closed.
        self._events.append(SessionChanged(self._info))
        self._tracker.connected(now_s, f"replaying {self.path.name}")
        return True

    def seek_lap(self, lap: int) -> int:
        """Move to the first in-world frame of `lap`; returns its index. Raises ValueError if absent."""
        block = self._require_block()
        hits = np.flatnonzero((block.lap == lap) & block.in_world)
        if len(hits) == 0:
            raise ValueError(f"lap {lap} is not in {self.path.name}")
        self._position = int(hits[0])
        self._anchor = None
        return self._position

    def read(self, now_s: float) -> TelemetryFrame | None:
        if self._block is None:
            self.connect(now_s)
        block = self._require_block()
        if self._position >= len(block):
            if not self.loop or len(block) == 0:
                return None
            self._position = 0
            self._anchor = None
        if self.speed is not None:
            times = block.session_time_s
            if self._anchor is None:
                self._anchor = (now_s, float(times[self._position]))
            start_now, start_session = self._anchor
            due_session_time = start_session + (now_s - start_now) * self.speed
            if times[self._position] > due_session_time:
                return None
        frame = block[self._position]
        self._position += 1
        self._tracker.tick(now_s)
        return frame

    def drain_events(self) -> list[AdapterEvent]:
        events = self._events + self._tracker.drain()
        self._events = []
        return events

    def close(self) -> None:
        self._block = None
        self._position = 0
        self._anchor = None

    def _require_block(self) -> FrameBlock:
        if self._block is None:
            raise SimNotFoundError("replay not connected: call connect() first")
        return self._block


def register_adapter() -> None:
    register("ibt", IbtReplayAdapter, detect=None, description="replay of an iRacing .ibt recording")
