"""EA SPORTS F1 UDP telemetry (packet formats 2021-2025) through the `SimAdapter` contract.

One job: turn a stream of F1 datagrams, as UDP delivers them, into an ordered stream of canonical
frames and session descriptions. `F1Stream` is the sans-I/O core (datagrams and receive times in,
frames and events out); `F1UdpAdapter` wraps it around a `DatagramSource` (the UDP port, opened by
`driver_app.udp_listener`, or a recording, `adapters.datagrams.RecordingSource`).

How the stream copes with UDP:

* **Frames.** The game sends the motion, lap data, car telemetry and car status packets (and, from
  2023, motion ex) of one physics frame with the same `frame_identifier`. Packets are gathered per
  frame and a frame is released, in frame order, once all of them are there and the frame before
  it is out; or, when some never come, once a frame `reorder_frames` frame steps newer has arrived
  or it has waited `max_hold_s`. A released frame applies its packets on top of the previous state,
  so a channel whose packet was lost holds its last value. Frames leave strictly increasing.
* **Loss** is counted, never hidden: frames of which no packet arrived (`frames_lost`, also
  reported as `TicksMissed`; the frame step is learned, so a 20 Hz setting is not counted as
  loss) and per-frame packets missing from released frames (`packets_missing`).
* **Duplicates** (a packet already received for its frame) and **late** packets (their frame was
  released without them) are dropped and counted.
* **Restarts.** A new `session_uid` starts a new session (the old one's pending frames are released
  first; stragglers from the old session are dropped). Within a session, a packet whose session
  time is `restart_back_s` or more behind, or whose frame is `restart_back_frames` or more behind,
  the last frame released (a flashback, a restart), or a flashback event, starts a new timeline.
* **Unknown formats** (a game year or UDP format setting these tables do not describe) and
  malformed datagrams are counted per kind and logged once, with what to do about it.

Slow-changing packets (session, participants, car setups, car damage, session history, events)
apply as they arrive; a change in what `SessionInfo` describes publishes a new one (`SessionChanged`).
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from adapters.base import (
    STALL_TIMEOUT_S,
    AdapterEvent,
    AdapterState,
    ConnectionTracker,
    SessionChanged,
    TicksMissed,
    register,
)
from adapters.datagrams import DatagramSource, RecordingSource, RecordingWriter, read_recording
from adapters.errors import AdapterError, TelemetryFormatError, UnknownPacketFormatError
from adapters.f1udp_frames import CarState, build_frame, build_session_info, session_signature
from adapters.f1udp_layouts import MAX_CARS_IN_PACKET, PacketId
from adapters.f1udp_packets import F1Event, Packet, PacketHeader, decode_event, decode_packet, peek_header
from adapters.model import FrameBlock, SessionInfo, TelemetryFrame

logger = logging.getLogger(__name__)

DEFAULT_PORT: Final = 20777
"""The game's default UDP port."""
DEFAULT_LISTEN: Final = f"0.0.0.0:{DEFAULT_PORT}"
REORDER_FRAMES: Final = 3
"""Frame steps a frame with missing packets waits for them (50 ms at 60 Hz)."""
MAX_HOLD_S: Final = 0.1
"""Receive time a frame with missing packets waits for them at most."""
RESTART_BACK_S: Final = 0.5
RESTART_BACK_FRAMES: Final = 30
"""A packet this far behind the last frame released starts a new timeline (a flashback or restart),
rather than being a late straggler (reordering on a network delays packets by milliseconds)."""
MAX_QUEUED_FRAMES: Final = 3600
"""Released frames kept for a caller that reads slower than they arrive (one minute at 60 Hz)."""
RECENT_FRAMES: Final = 256
"""Released frames whose packets are remembered, to tell duplicates from late packets."""
MAX_PENDING_FRAMES: Final = 600
"""Frames gathered at most; beyond it the oldest is released as it is (a game sending one kind only)."""

FRAME_KINDS_2021: Final = frozenset({PacketId.MOTION, PacketId.LAP_DATA, PacketId.CAR_TELEMETRY, PacketId.CAR_STATUS})
FRAME_KINDS_2023: Final = FRAME_KINDS_2021 | {PacketId.MOTION_EX}
_SESSION_KINDS: Final = frozenset({PacketId.SESSION, PacketId.PARTICIPANTS, PacketId.CAR_SETUPS})
"""The slow packets `SessionInfo` is made from (with the car status's tank size)."""


def frame_kinds(packet_format: int) -> frozenset[PacketId]:
    """The packets the game sends once per frame, at the rate set in its menus."""
    return FRAME_KINDS_2021 if packet_format < 2023 else FRAME_KINDS_2023


@dataclass(slots=True)
class F1Stats:
    """What the stream saw. Counters only grow (across sessions)."""

    datagrams: int = 0
    packets: Counter[str] = field(default_factory=Counter)
    frames: int = 0
    frames_dropped: int = 0
    """Frames released but dropped unread because the caller fell `max_queued_frames` behind."""
    frames_lost: int = 0
    packets_missing: int = 0
    duplicates: int = 0
    late: int = 0
    stale_session: int = 0
    not_decoded: int = 0
    malformed: int = 0
    unknown_formats: Counter[int] = field(default_factory=Counter)
    restarts: int = 0
    sessions: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "datagrams": self.datagrams,
            "packets": dict(sorted(self.packets.items())),
            "frames": self.frames,
            "frames_dropped": self.frames_dropped,
            "frames_lost": self.frames_lost,
            "packets_missing": self.packets_missing,
            "duplicates": self.duplicates,
            "late": self.late,
            "stale_session": self.stale_session,
            "not_decoded": self.not_decoded,
            "malformed": self.malformed,
            "unknown_formats": {str(k): v for k, v in sorted(self.unknown_formats.items())},
            "restarts": self.restarts,
            "sessions": self.sessions,
        }


@dataclass(slots=True)
class _Pending:
    session_time_s: float
    received_s: float
    player_idx: int
    packets: dict[PacketId, Packet] = field(default_factory=dict)


class F1Stream:
    """The sans-I/O core: `feed` datagrams, `pop_frame` frames, `drain_events` events. See the module docstring."""

    def __init__(
        self,
        *,
        reorder_frames: int = REORDER_FRAMES,
        max_hold_s: float = MAX_HOLD_S,
        restart_back_s: float = RESTART_BACK_S,
        restart_back_frames: int = RESTART_BACK_FRAMES,
        max_queued_frames: int = MAX_QUEUED_FRAMES,
    ) -> None:
        if reorder_frames < 0 or max_hold_s < 0 or max_queued_frames < 1:
            raise ValueError("reorder_frames and max_hold_s must not be negative, max_queued_frames at least 1")
        self.reorder_frames = reorder_frames
        self.max_hold_s = max_hold_s
        self.restart_back_s = restart_back_s
        self.restart_back_frames = restart_back_frames
        self.stats = F1Stats()
        self.last_headers: dict[PacketId, PacketHeader] = {}
        """The header of the newest datagram of each kind, decoded or not (what `pitbox probe` shows)."""
        self.last_packets: dict[PacketId, Packet] = {}
        """The newest decoded packet of each kind."""
        self.events_seen: deque[F1Event] = deque(maxlen=100)
        """The newest game events (speed traps, penalties, flashbacks...), oldest first."""
        self._frames: deque[TelemetryFrame] = deque(maxlen=max_queued_frames)
        self._events: list[AdapterEvent] = []
        self._retired: set[int] = set()
        self._warned: set[str] = set()
        self._state: CarState | None = None
        self._session: SessionInfo | None = None
        self._signature: tuple[Any, ...] | None = None
        self._session_updates = 0
        self._game_version = ""
        self._fuel_capacity_kg = math.nan
        self._new_timeline()

    def _new_timeline(self) -> None:
        self._pending: dict[int, _Pending] = {}
        self._released: int | None = None
        self._released_time_s = -math.inf
        self._step: int | None = None
        self._newest: int | None = None
        self._recent: dict[int, frozenset[PacketId]] = {}
        self._event_keys: deque[bytes] = deque(maxlen=64)

    # ----------------------------------------------------------------- outputs

    @property
    def session_info(self) -> SessionInfo | None:
        return self._session

    @property
    def session_uid(self) -> int | None:
        return None if self._state is None else self._state.session_uid

    def pop_frame(self) -> TelemetryFrame | None:
        return self._frames.popleft() if self._frames else None

    def drain_events(self) -> list[AdapterEvent]:
        drained, self._events = self._events, []
        return drained

    # ----------------------------------------------------------------- input

    def feed(self, datagram: bytes, received_s: float) -> Packet | None:
        """One datagram as received; returns its packet (None when it was not one PitBox uses)."""
        self.stats.datagrams += 1
        try:
            header = peek_header(datagram)
            packet = decode_packet(datagram, header)
        except UnknownPacketFormatError as exc:
            self.stats.unknown_formats[exc.packet_format] += 1
            self._warn_once(
                f"format {exc.packet_format}",
                "%s; set the game's UDP format to 2021-2025 (these packets are counted and ignored)",
                exc,
            )
            return None
        except TelemetryFormatError as exc:
            self.stats.malformed += 1
            self._warn_once("malformed", "ignoring datagrams that are not F1 telemetry (first: %s)", exc)
            return None
        self.stats.packets[header.kind.name.lower() if header.kind is not None else str(header.packet_id)] += 1
        if header.kind is not None:
            self.last_headers[header.kind] = header
        if packet is None:
            self.stats.not_decoded += 1
            return None
        if not self._enter_session(header):
            return None
        self.last_packets[packet.kind] = packet
        if packet.kind in frame_kinds(header.packet_format):
            self._frame_packet(packet, received_s)
        else:
            self._slow_packet(packet)
        self._release(received_s)
        return packet

    def release_idle(self, now_s: float) -> None:
        """Release frames that have waited `max_hold_s` (call when no datagram is arriving)."""
        self._release(now_s)

    def release_all(self) -> None:
        """Release every frame still gathering (the end of a recording)."""
        self._release(math.inf, everything=True)

    # ----------------------------------------------------------------- sessions and timelines

    def _enter_session(self, header: PacketHeader) -> bool:
        state = self._state
        uid = header.session_uid
        if state is not None and uid == state.session_uid and header.packet_format == state.packet_format:
            return True
        if uid in self._retired:
            self.stats.stale_session += 1
            return False
        if state is not None:
            self.release_all()
            self._retired.add(state.session_uid)
            logger.info("F1 session %016x ended; a new one started (%016x)", state.session_uid, uid)
        self._new_timeline()
        self._state = CarState(header.packet_format, uid, player_idx=header.player_car_index)
        self._session = None
        self._signature = None
        self._fuel_capacity_kg = math.nan
        self._game_version = header.game_version
        self.stats.sessions += 1
        logger.info(
            "F1 session %016x: packet format %d, game version %s", uid, header.packet_format, header.game_version
        )
        return True

    def _restart_timeline(self, why: str) -> None:
        self.release_all()
        self.stats.restarts += 1
        logger.info("F1 timeline restarted: %s", why)
        self._new_timeline()

    def _frame_packet(self, packet: Packet, received_s: float) -> None:
        header = packet.header
        frame, t = header.frame_identifier, header.session_time_s
        if self._released is not None and (frame <= self._released or t < self._released_time_s):
            back_frames, back_s = self._released - frame, self._released_time_s - t
            if back_frames >= self.restart_back_frames or back_s >= self.restart_back_s:
                self._restart_timeline(f"frame {frame} at {t:.3f} s after frame {self._released} at "
                                       f"{self._released_time_s:.3f} s")  # fmt: skip
            else:
                if packet.kind in self._recent.get(frame, ()):
                    self.stats.duplicates += 1
                else:
                    self.stats.late += 1
                logger.debug("dropped a %s packet of released frame %d", packet.kind.name, frame)
                return
        pending = self._pending.get(frame)
        if pending is None:
            pending = self._pending[frame] = _Pending(t, received_s, header.player_car_index)
        elif packet.kind in pending.packets:
            self.stats.duplicates += 1
            return
        pending.packets[packet.kind] = packet
        self._newest = frame if self._newest is None else max(self._newest, frame)

    def _slow_packet(self, packet: Packet) -> None:
        state = self._state
        assert state is not None
        if packet.kind is PacketId.EVENT:
            key = packet.record.tobytes()
            if key in self._event_keys:
                self.stats.duplicates += 1
                return
            self._event_keys.append(key)
            event = decode_event(packet)
            self.events_seen.append(event)
            logger.debug("F1 event %s at %.3f s: %s", event.code, event.session_time_s, dict(event.details))
            state.apply_event(event)
            if event.code == "FLBK":
                to_s = event.details.get("flashback_session_time_s", math.nan)
                keys = list(self._event_keys)
                self._restart_timeline(f"flashback to {to_s:.3f} s")
                self._event_keys.extend(keys)
            return
        state.apply(packet)
        if packet.kind in _SESSION_KINDS:
            self._publish_session()

    def _publish_session(self) -> None:
        state = self._state
        assert state is not None
        signature = session_signature(state)
        if signature is None or signature == self._signature:
            return
        self._signature = signature
        self._session_updates += 1
        info = build_session_info(state, self._session_updates, self._game_version)
        if info is None:
            return
        self._session = info
        logger.info(
            "F1 session: %s, %s, %d cars (update %d)",
            info.track.display_name,
            info.session_name,
            len(info.drivers),
            info.update_count,
        )
        self._events.append(SessionChanged(info))

    # ----------------------------------------------------------------- releasing frames

    def _release(self, now_s: float, *, everything: bool = False) -> None:
        state = self._state
        if state is None:
            return
        expected = frame_kinds(state.packet_format)
        while self._pending:
            frame = min(self._pending)
            pending = self._pending[frame]
            step = self._step or 1
            complete = expected <= pending.packets.keys()
            next_in_line = self._released is None or frame - self._released <= step
            waited = (
                (self._newest is not None and self._newest - frame >= self.reorder_frames * step)
                or now_s - pending.received_s >= self.max_hold_s
                or len(self._pending) > MAX_PENDING_FRAMES
            )
            if not (everything or (complete and next_in_line) or waited):
                return
            del self._pending[frame]
            self._emit(state, frame, pending, expected)

    def _emit(self, state: CarState, frame: int, pending: _Pending, expected: frozenset[PacketId]) -> None:
        if self._released is not None:
            gap = frame - self._released
            if self._step is not None and gap > self._step:
                lost = gap // self._step - 1
                if lost > 0:
                    self.stats.frames_lost += lost
                    self._events.append(TicksMissed(lost, self._released, pending.session_time_s))
                    logger.debug("F1: %d frames lost after frame %d", lost, self._released)
            self._step = gap if self._step is None else min(self._step, gap)
        self.stats.packets_missing += len(expected - pending.packets.keys())
        if pending.player_idx < 255:
            state.player_idx = pending.player_idx
        for packet in pending.packets.values():
            state.apply(packet)
        if len(self._frames) == self._frames.maxlen:
            self.stats.frames_dropped += 1
            self._warn_once("slow reader", "frames are read slower than they arrive; dropping the oldest")
        self._frames.append(build_frame(state, pending.session_time_s, frame))
        self.stats.frames += 1
        self._released, self._released_time_s = frame, max(self._released_time_s, pending.session_time_s)
        self._recent[frame] = frozenset(pending.packets)
        while len(self._recent) > RECENT_FRAMES:
            del self._recent[next(iter(self._recent))]
        status = pending.packets.get(PacketId.CAR_STATUS)
        if status is not None and state.player_idx < MAX_CARS_IN_PACKET:
            capacity = float(status.record["cars"]["fuel_capacity_kg"][state.player_idx])
            if capacity != self._fuel_capacity_kg:  # the tank's size comes with the car status
                self._fuel_capacity_kg = capacity
                self._publish_session()

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        if key in self._warned:
            logger.debug(message, *args)
            return
        self._warned.add(key)
        logger.warning(message, *args)


# --------------------------------------------------------------------------- the adapter


class F1UdpAdapter:
    """EA SPORTS F1 telemetry as a `SimAdapter`, from a `DatagramSource`.

    Give `source` (the driver app passes its UDP listener) or `recording` (a PitBox UDP recording,
    replayed at `speed` times real time, None: as fast as it is read). `record_to` also writes
    every datagram received to a new recording. The adapter is WAITING_FOR_SIM until the first
    frame, CONNECTED while frames arrive and STALLED after `stall_timeout_s` without one (the game
    paused, in its menus, or closed); a flashback or restart is reported as a disconnect and a
    reconnect, a new session as `SessionChanged`. Other options go to `F1Stream`.
    """

    name = "f1"

    def __init__(
        self,
        source: DatagramSource | None = None,
        *,
        recording: str | os.PathLike[str] | None = None,
        speed: float | None = 1.0,
        record_to: str | os.PathLike[str] | None = None,
        started_unix_s: float = 0.0,
        stall_timeout_s: float = STALL_TIMEOUT_S,
        **stream_options: Any,
    ) -> None:
        if (source is None) == (recording is None):
            raise AdapterError(
                "the f1 adapter reads either a datagram source (the driver app opens the UDP port) "
                "or a recording; give exactly one"
            )
        self.source: DatagramSource = source if source is not None else RecordingSource(recording or "", speed=speed)
        self.stream = F1Stream(**stream_options)
        self._record_to = Path(record_to) if record_to is not None else None
        self._started_unix_s = started_unix_s
        self._writer: RecordingWriter | None = None
        self._tracker = ConnectionTracker(stall_timeout_s=stall_timeout_s)
        self._events: list[AdapterEvent] = []
        self._opened = False
        self._restarts_seen = 0
        self._now_s = 0.0

    # ----------------------------------------------------------------- SimAdapter

    @property
    def state(self) -> AdapterState:
        return self._tracker.state

    @property
    def session_info(self) -> SessionInfo | None:
        return self.stream.session_info

    @property
    def stats(self) -> F1Stats:
        return self.stream.stats

    @property
    def recorded(self) -> int:
        """Datagrams written to `record_to` so far."""
        return 0 if self._writer is None else self._writer.count

    def connect(self, now_s: float) -> bool:
        """Open the source (once; raises SimNotFoundError if it cannot be) and take what has arrived."""
        self._now_s = now_s
        self._open()
        self._take(now_s)
        return self._tracker.state is AdapterState.CONNECTED

    def read(self, now_s: float) -> TelemetryFrame | None:
        """The oldest frame not yet returned, or None. Never blocks."""
        self._now_s = now_s
        self._open()
        frame = self.stream.pop_frame()
        while frame is None:
            if not self._take(now_s):
                if self.source.finished:
                    self.stream.release_all()
                elif self.source.realtime:
                    self.stream.release_idle(now_s)
                frame = self.stream.pop_frame()
                break
            frame = self.stream.pop_frame()
        self._follow_restarts(now_s)
        if frame is None:
            if self._tracker.idle(now_s):
                logger.info("no F1 frame for %.1f s (paused, in the menus, or closed)", self._tracker.stall_timeout_s)
        elif self._tracker.state is AdapterState.WAITING_FOR_SIM:
            self._tracker.connected(now_s, f"F1 telemetry arriving ({self.source.description})")
        else:
            self._tracker.tick(now_s)  # also STALLED -> CONNECTED
        self._collect()
        return frame

    def drain_events(self) -> list[AdapterEvent]:
        self._collect()
        drained, self._events = self._events, []
        return drained

    def close(self) -> None:
        """Close the source and the recording; `connect` opens them again."""
        if self._opened:
            self.source.close()
            self._opened = False
        if self._writer is not None:  # a recording ends with the adapter: connecting again does not resume it
            self._writer.close()
            logger.info("recorded %d datagrams to %s", self._writer.count, self._writer.path)
            self._record_to = None
        if self._tracker.state is not AdapterState.WAITING_FOR_SIM:
            self._tracker.lost(self._now_s, "closed")
        self._collect()

    def __enter__(self) -> F1UdpAdapter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------- internals

    def _open(self) -> None:
        if self._opened:
            return
        self.source.open()
        self._opened = True
        if self._record_to is not None and self._writer is None:
            self._writer = RecordingWriter(self._record_to, started_unix_s=self._started_unix_s)
            logger.info("recording F1 datagrams to %s", self._record_to)

    def _take(self, now_s: float) -> bool:
        """Feed what the source has; False when it had nothing."""
        datagrams = self.source.receive(now_s)
        for payload, received_s in datagrams:
            if self._writer is not None:
                self._writer.write(payload, received_s)
            self.stream.feed(payload, received_s)
        if datagrams and self._writer is not None:
            self._writer.flush()
        return bool(datagrams)

    def _follow_restarts(self, now_s: float) -> None:
        restarts = self.stream.stats.restarts
        if restarts != self._restarts_seen and self._tracker.state is not AdapterState.WAITING_FOR_SIM:
            self._tracker.lost(now_s, "the game went back in time (flashback or restart)")
            self._tracker.connected(now_s, "F1 timeline restarted")
        self._restarts_seen = restarts

    def _collect(self) -> None:
        self._events.extend(self._tracker.drain())
        self._events.extend(self.stream.drain_events())


# --------------------------------------------------------------------------- recordings


@dataclass(frozen=True, slots=True)
class F1Replay:
    """A whole F1 recording decoded: every frame, and the newest session description.

    `session` is None when the recording holds no session packet; a recording of several sessions
    (the game restarted) has the frames of all of them in `block`.
    """

    session: SessionInfo | None
    block: FrameBlock
    duration_s: float


def replay_datagrams(datagrams: Iterable[tuple[bytes, float]], **stream_options: Any) -> F1Replay:
    """Decode datagrams (payload, receive time) into frames at once."""
    stream = F1Stream(max_queued_frames=1 << 30, **stream_options)  # nothing read while feeding: keep every frame
    first = last = None
    for payload, received_s in datagrams:
        first = received_s if first is None else first
        last = received_s
        stream.feed(payload, received_s)
    stream.release_all()
    frames: list[TelemetryFrame] = []
    while (frame := stream.pop_frame()) is not None:
        frames.append(frame)
    sessions = [e.info for e in stream.drain_events() if isinstance(e, SessionChanged)]
    duration = 0.0 if first is None or last is None else last - first
    return F1Replay(sessions[-1] if sessions else None, FrameBlock.from_frames(frames), duration)


def replay_recording(path: str | os.PathLike[str], **stream_options: Any) -> F1Replay:
    """Decode a whole PitBox UDP recording of F1 telemetry (`pitbox replay`)."""
    recording = read_recording(path)
    return replay_datagrams(recording.datagrams, **stream_options)


def register_adapter() -> None:
    """Make the F1 adapter available as "f1" (never auto-detected here: detecting needs a socket)."""
    register(
        "f1",
        F1UdpAdapter,
        detect=None,
        description="EA SPORTS F1 2021-2025 UDP telemetry (port 20777), or a recording of it",
    )
