"""Live iRacing: attach to the sim's shared memory through pyirsdk and deliver every tick, oldest first.

pyirsdk does three things here: `startup()` (find and map the memory, or map a test image file),
`shutdown()`, and the session-info YAML (`ir["WeekendInfo"]`, with its fixes for iRacing's
unquoted names). Everything else is read directly from the mapped bytes with `adapters.irsdk_layout`,
because pyirsdk's `ir[name]` reads one variable at a time from the *second-newest* buffer:

* at startup the header and the variable table are parsed once and validated (a truncated or
  foreign file raises `TelemetryFormatError`, never a pyirsdk traceback);
* on each `read()` the tick counts of the (three) rotating buffers are compared with the last tick
  delivered; every newer buffer is copied, its tick count checked again after the copy (a changed
  count means the sim overwrote it meanwhile: the copy is dropped), decoded with `ChannelDecoder`
  and queued oldest first. `read()` returns one queued frame per call, so a caller polling at least
  at the tick rate sees every tick exactly once, in order; ticks it was too slow for are reported
  as `TicksMissed`, never hidden (counted from the first tick seen after attaching: what the sim
  published before that is history, not a gap);
* the header tells when the sim went away (zeroed: version 0, status down, no buffers), restarted
  (tick counter backwards, or a new layout) or published new session info (`session_info_update`).

No pyirsdk name or object leaves this module: callers see `adapters.model` values and
`adapters.base` events only. This module also holds iRacing's pit commander and its registry entry.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import math
import mmap
import struct
import sys
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import irsdk
import numpy as np
import numpy.typing as npt
import yaml

from adapters.base import (
    RECONNECT_INTERVAL_S,
    STALL_TIMEOUT_S,
    AdapterEvent,
    AdapterState,
    ConnectionTracker,
    DriverSwap,
    SessionChanged,
    TicksMissed,
    register,
)
from adapters.errors import PitCommandError, SessionInfoError, SimNotFoundError, TelemetryFormatError
from adapters.iracing_channels import ChannelDecoder
from adapters.iracing_session import session_info_from_sections
from adapters.irsdk_layout import HEADER_SIZE, STATUS_CONNECTED, Header, VarHeader, parse_var_headers, record_dtype
from adapters.model import FrameBlock, SessionInfo, TelemetryFrame
from adapters.pit import PitAction, PitCommand, PitCommander

logger = logging.getLogger(__name__)

MAX_QUEUED_FRAMES: Final = 3600
"""Frames kept for a caller that reads slower than the sim ticks (one minute at 60 Hz); older ones
are dropped and reported as `TicksMissed`."""

_VAR_BUF_TICK_OFFSET: Final = 48
_VAR_BUF_SIZE: Final = 16
_TICK_COUNT: Final = struct.Struct("<i")
_FILE_MAP_READ: Final = 0x0004


# --------------------------------------------------------------------------- header checks


def _publishing(header: Header, size: int) -> bool:
    """True when the image holds live telemetry; False when the sim is not publishing (header zeroed
    on exit, or status down between sessions). Raises TelemetryFormatError for anything else."""
    if header.version == 0 or header.num_buf == 0:
        return False
    header.validate(size)
    for buf in header.var_bufs:
        if buf.buf_offset < HEADER_SIZE or buf.buf_offset + header.buf_len > size:
            raise TelemetryFormatError("file is truncated: variable buffers run past its end")
    return bool(header.status & STATUS_CONNECTED)


def _layout_key(header: Header) -> tuple[int, ...]:
    """Everything in the header that stays fixed while one session is mapped."""
    return (
        header.version,
        header.tick_rate,
        header.num_vars,
        header.var_header_offset,
        header.num_buf,
        header.buf_len,
        header.session_info_offset,
        header.session_info_len,
        *(buf.buf_offset for buf in header.var_bufs),
    )


def _check_image(path: Path) -> bool:
    """Validate a memory-image file before pyirsdk maps it (pyirsdk trusts the header blindly)."""
    try:
        with path.open("rb") as image:
            head = image.read(HEADER_SIZE)
            size = path.stat().st_size
    except OSError as exc:
        raise SimNotFoundError(f"no iRacing memory image at {path} ({exc.strerror or exc})") from exc
    return _publishing(Header.parse(head), size)


def sim_running() -> bool:
    """Whether iRacing's telemetry memory map exists right now. Never blocks; always False off Windows."""
    if sys.platform != "win32":
        return False
    kernel32 = ctypes.WinDLL("kernel32")
    kernel32.OpenFileMappingW.restype = ctypes.c_void_p
    kernel32.CloseHandle.argtypes = (ctypes.c_void_p,)
    handle = kernel32.OpenFileMappingW(_FILE_MAP_READ, False, irsdk.MEMMAPFILE)
    if not handle:
        return False
    kernel32.CloseHandle(handle)
    return True


# --------------------------------------------------------------------------- the adapter


@dataclass(frozen=True, slots=True)
class _Layout:
    """What one startup learned about the image; fixed until the sim restarts."""

    key: tuple[int, ...]
    buf_len: int
    var_headers: tuple[VarHeader, ...]
    dtype: np.dtype[np.void]


def _driver_swap(previous: SessionInfo | None, current: SessionInfo, session_time_s: float) -> DriverSwap | None:
    """A DriverSwap when the player's car changed driver between two updates of a team session."""
    if previous is None or not current.team_racing:
        return None
    before, after = previous.player, current.player
    if before is None or after is None or before.car_idx != after.car_idx:
        return None
    if (before.driver_id, before.driver_name) == (after.driver_id, after.driver_name):
        return None
    return DriverSwap(after.car_idx, before, after, session_time_s)


class IRacingAdapter:
    """iRacing's live telemetry as a `SimAdapter`.

    `test_file` maps a memory image file instead of the sim's memory (how the adapter runs on
    Linux and in tests); a missing image raises `SimNotFoundError`, a broken one
    `TelemetryFormatError`. Without it, the adapter looks for the sim (Windows only) every
    `reconnect_interval_s`. `stall_timeout_s` without a new tick makes it STALLED; while stalled it
    maps the memory again every `reconnect_interval_s`.
    """

    name: str = "iracing"

    def __init__(
        self,
        test_file: str | Path | None = None,
        *,
        stall_timeout_s: float = STALL_TIMEOUT_S,
        reconnect_interval_s: float = RECONNECT_INTERVAL_S,
        max_queued_frames: int = MAX_QUEUED_FRAMES,
    ) -> None:
        if max_queued_frames < 1:
            raise ValueError("max_queued_frames must be at least 1")
        self._test_file = Path(test_file) if test_file is not None else None
        self._tracker = ConnectionTracker(stall_timeout_s=stall_timeout_s, reconnect_interval_s=reconnect_interval_s)
        self._max_queued_frames = max_queued_frames
        self._queue: deque[TelemetryFrame] = deque()
        self._now_s = 0.0
        # Set while mapped (between a successful startup and shutdown):
        self._ir: Any = None
        self._mem: mmap.mmap | None = None
        self._layout: _Layout | None = None
        self._decoder: ChannelDecoder | None = None
        # Position in the sim's tick stream and session, kept across a stall's re-mapping:
        self._last_tick: int | None = None
        self._session: SessionInfo | None = None
        self._session_update = -1
        self._session_num = 0
        self._session_time_s = math.nan

    # ----------------------------------------------------------------- SimAdapter

    @property
    def state(self) -> AdapterState:
        return self._tracker.state

    @property
    def session_info(self) -> SessionInfo | None:
        return self._session

    def connect(self, now_s: float) -> bool:
        """Try once (rate limited by `reconnect_interval_s`) to attach; True when connected."""
        self._now_s = now_s
        if self._ir is None and self._tracker.should_attempt(now_s):
            self._attach(now_s)
        return self._tracker.state is AdapterState.CONNECTED

    def read(self, now_s: float) -> TelemetryFrame | None:
        """The oldest tick not yet returned, or None. Also where the sim is found, lost and re-read."""
        self._now_s = now_s
        if self._ir is None:
            if self._tracker.should_attempt(now_s):
                self._attach(now_s)
        else:
            self._poll(now_s)
        return self._queue.popleft() if self._queue else None

    def drain_events(self) -> list[AdapterEvent]:
        return self._tracker.drain()

    def close(self) -> None:
        """Unmap the sim and forget queued frames; `connect` or `read` attach again."""
        self._queue.clear()
        if self._ir is not None or self._tracker.state is not AdapterState.WAITING_FOR_SIM:
            self._lose(self._now_s, "closed")

    def __enter__(self) -> IRacingAdapter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------- attach / detach

    def _attach(self, now_s: float) -> bool:
        """One attempt to find the sim; on success CONNECTED with session info and the ticks present."""
        if not self._startup():
            return False
        self._forget_session()
        self._tracker.connected(now_s)
        self._poll(now_s)
        return True

    def _startup(self) -> bool:
        """Map the sim (or the test image) with pyirsdk and read its layout; False when it is not there."""
        if self._test_file is not None:
            if not _check_image(self._test_file):
                return False
        elif not sim_running():
            return False
        ir = irsdk.IRSDK()
        mapped = False
        try:
            if not self._pyirsdk_startup(ir):
                return False
            mem: mmap.mmap = ir._shared_mem
            header = Header.parse(mem)
            if not _publishing(header, len(mem)):
                return False
            var_headers = parse_var_headers(mem, header)
            self._layout = _Layout(
                _layout_key(header), header.buf_len, var_headers, record_dtype(var_headers, header.buf_len)
            )
            # A remap during a stall keeps the session, and with it the fuel density; else the
            # session read that follows replaces this decoder.
            density = self._session.fuel_density_kg_per_l if self._session is not None else 0.75
            self._decoder = ChannelDecoder(var_headers, density)
            self._ir, self._mem = ir, mem
            mapped = True
            logger.info(
                "iRacing mapped%s: %d variables, %d buffers of %d bytes, %d Hz",
                f" from {self._test_file}" if self._test_file is not None else "",
                header.num_vars,
                header.num_buf,
                header.buf_len,
                header.tick_rate,
            )
            return True
        except (OSError, ValueError, struct.error) as exc:
            if self._test_file is None:
                logger.debug("iRacing memory not mappable yet: %s", exc)
                return False
            raise TelemetryFormatError(f"cannot map {self._test_file} as iRacing memory: {exc}") from exc
        finally:
            if not mapped:
                ir.shutdown()

    def _pyirsdk_startup(self, ir: Any) -> bool:
        if self._test_file is not None:
            return bool(ir.startup(test_file=str(self._test_file)))
        # pyirsdk prints to stdout when its sim-status request fails; keep stdout for the caller.
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            started = bool(ir.startup())
        if printed.getvalue():
            logger.debug("pyirsdk: %s", printed.getvalue().strip())
        return started

    def _shutdown(self) -> None:
        if self._ir is not None:
            self._ir.shutdown()
        self._ir = self._mem = self._layout = self._decoder = None

    def _lose(self, now_s: float, reason: str) -> None:
        """The sim went away: unmap, forget the session, and go back to waiting for it."""
        self._shutdown()
        self._forget_session()
        self._tracker.lost(now_s, reason)

    def _forget_session(self) -> None:
        """A new sim session (or none): deliver from its first tick, announce its session info."""
        self._last_tick = None
        self._session = None
        self._session_update = -1
        self._session_num = 0
        self._session_time_s = math.nan

    def _remap(self, now_s: float, reason: str) -> bool:
        """Shut down and start up again (stall retry, restart); False (and waiting) if the sim is gone."""
        logger.info("iRacing: mapping the sim again (%s)", reason)
        self._shutdown()
        try:
            mapped = self._startup()
        except (SimNotFoundError, TelemetryFormatError) as exc:
            self._lose(now_s, str(exc))
            raise
        if not mapped:
            self._lose(now_s, f"{reason}; the sim is gone")
        return mapped

    # ----------------------------------------------------------------- polling

    def _poll(self, now_s: float) -> None:
        mem, layout = self._mem, self._layout
        assert mem is not None and layout is not None
        header = Header.parse(mem)
        try:
            publishing = _publishing(header, len(mem))
        except TelemetryFormatError as exc:
            self._lose(now_s, str(exc))
            raise
        if not publishing:
            self._lose(now_s, "sim exited (telemetry header cleared)")
            return
        newest = max(buf.tick_count for buf in header.var_bufs)
        restarted = self._last_tick is not None and newest < self._last_tick
        if restarted or _layout_key(header) != layout.key:
            # A new sim session in the same memory: re-read everything, deliver from its first tick.
            reason = "tick counter went backwards" if restarted else "telemetry layout changed"
            self._forget_session()
            if self._remap(now_s, f"sim restarted: {reason}"):
                self._poll(now_s)
            return

        copied = self._copy_new(mem, header, layout)
        raw: npt.NDArray[np.void] | None = None
        if copied:
            self._tracker.tick(now_s)
            raw = np.frombuffer(b"".join(data for _, data in copied), dtype=layout.dtype)
            names = layout.dtype.names or ()
            if "SessionNum" in names:
                self._session_num = int(raw["SessionNum"][-1])
            if "SessionTime" in names:
                self._session_time_s = float(raw["SessionTime"][-1])
        self._check_session(header.session_info_update)
        if raw is not None:
            assert self._decoder is not None
            ticks = np.array([tick for tick, _ in copied], dtype=np.int64)
            self._enqueue(self._decoder.decode(raw, ticks=ticks))
        elif self._stalled(now_s) and self._tracker.should_attempt(now_s):
            self._remap(now_s, f"no new tick for {self._tracker.stall_timeout_s:g} s")

    def _stalled(self, now_s: float) -> bool:
        """No new tick this poll: whether the sim is (now or still) stalled."""
        return self._tracker.idle(now_s) or self._tracker.state is AdapterState.STALLED

    def _copy_new(self, mem: mmap.mmap, header: Header, layout: _Layout) -> list[tuple[int, bytes]]:
        """Copy every buffer newer than the last tick delivered, oldest first, dropping torn copies."""
        last = self._last_tick if self._last_tick is not None else 0  # tick count 0: never written
        fresh = sorted(
            (buf.tick_count, slot, buf.buf_offset) for slot, buf in enumerate(header.var_bufs) if buf.tick_count > last
        )
        copied = []
        for tick, slot, offset in fresh:
            data = self._copy_record(mem, offset, layout.buf_len)
            (tick_after,) = _TICK_COUNT.unpack_from(mem, _VAR_BUF_TICK_OFFSET + slot * _VAR_BUF_SIZE)
            if tick_after != tick:
                logger.debug("buffer %d was rewritten while copied (tick %d -> %d); dropped", slot, tick, tick_after)
                continue
            copied.append((tick, data))
        return copied

    def _copy_record(self, mem: mmap.mmap, offset: int, buf_len: int) -> bytes:
        """One variable buffer, copied out of the shared memory."""
        return mem[offset : offset + buf_len]

    def _enqueue(self, block: FrameBlock) -> None:
        events = self._tracker.events
        dropped: list[TelemetryFrame] = []
        for frame in block:
            tick = frame.tick
            if self._last_tick is not None and tick > self._last_tick + 1:
                missed = tick - self._last_tick - 1
                logger.debug("missed %d ticks after tick %d", missed, self._last_tick)
                events.append(TicksMissed(missed, self._last_tick, frame.session_time_s))
            self._last_tick = tick
            if len(self._queue) >= self._max_queued_frames:
                dropped.append(self._queue.popleft())
            self._queue.append(frame)
        if dropped:
            first = dropped[0]
            events.append(TicksMissed(len(dropped), first.tick - 1, first.session_time_s))

    # ----------------------------------------------------------------- session info

    def _check_session(self, update: int) -> None:
        if update == self._session_update and (self._session is None or self._session.session_num == self._session_num):
            return  # unchanged (or this update was unreadable and is not retried)
        self._session_update = update
        try:
            info = session_info_from_sections(self._section, session_num=self._session_num, update_count=update)
        except SessionInfoError as exc:
            logger.warning("iRacing session info (update %d) is unreadable: %s", update, exc)
            return
        previous, self._session = self._session, info
        assert self._layout is not None and self._decoder is not None
        if self._decoder.fuel_density_kg_per_l != info.fuel_density_kg_per_l:
            self._decoder = ChannelDecoder(self._layout.var_headers, info.fuel_density_kg_per_l)
        logger.info(
            "iRacing session: %s, %s (%s), update %d",
            info.track.display_name,
            info.session_name,
            info.player.car_name if info.player else "no player car",
            update,
        )
        self._tracker.events.append(SessionChanged(info))
        swap = _driver_swap(previous, info, self._session_time_s)
        if swap is not None:
            logger.info(
                "driver swap in car %d: %s -> %s",
                swap.car_idx,
                swap.previous.driver_name if swap.previous else "?",
                swap.current.driver_name,
            )
            self._tracker.events.append(swap)

    def _section(self, key: str) -> Mapping[str, Any] | None:
        """One YAML section through pyirsdk (which re-parses only when session_info_update changed)."""
        try:
            value = self._ir[key]
        except yaml.YAMLError as exc:
            raise SessionInfoError(f"section {key} is not valid YAML: {exc}") from exc
        return value if isinstance(value, Mapping) else None


# --------------------------------------------------------------------------- pit commands


def _pit_mode(command: PitCommand) -> tuple[int, int]:
    """pyirsdk's PitCommandMode and parameter for one command."""
    modes = irsdk.PitCommandMode
    if command.action is PitAction.ADD_FUEL:
        return modes.fuel, command.fuel_l
    if command.action is PitAction.CHANGE_TYRE:
        corner_modes = {"lf": modes.lf, "rf": modes.rf, "lr": modes.lr, "rr": modes.rr}
        return corner_modes[command.corner], command.pressure_kpa
    simple = {
        PitAction.CLEAR: modes.clear,
        PitAction.FAST_REPAIR: modes.fr,
        PitAction.CLEAR_TYRES: modes.clear_tires,
        PitAction.CLEAR_FUEL: modes.clear_fuel,
    }
    return simple[command.action], 0


class IRacingPitCommander(PitCommander):
    """Pit commands for iRacing, sent as its broadcast window message (Windows only).

    iRacing applies them only while the driver is in the car and gives no acknowledgement; a
    platform without Windows messaging raises `PitCommandError`.
    """

    def __init__(self) -> None:
        self._ir = irsdk.IRSDK()

    def _send(self, command: PitCommand) -> None:
        mode, value = _pit_mode(command)
        try:
            delivered = self._ir.pit_command(mode, value)
        except AttributeError as exc:  # pyirsdk reaches for ctypes.windll, which only Windows has
            raise PitCommandError(
                f"cannot send the pit command {command.action.value!r} to iRacing: "
                f"its broadcast messages need Windows (this is {sys.platform})"
            ) from exc
        except OSError as exc:
            raise PitCommandError(f"cannot send the pit command {command.action.value!r}: {exc}") from exc
        if not delivered:
            raise PitCommandError(f"Windows did not broadcast the pit command {command.action.value!r}")


# --------------------------------------------------------------------------- registry


def register_adapter() -> None:
    """Make the live iRacing adapter available as "iracing"."""
    register(
        "iracing",
        IRacingAdapter,
        detect=sim_running,
        description="iRacing live telemetry from its shared memory (Windows; --test-file for an image)",
    )
