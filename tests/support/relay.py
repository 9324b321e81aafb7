"""Relay test helpers: a fake identity table, a core with known clients, `drive`, action filters, frames.

`RelayCore` is sans-I/O, so a test plays the server: it calls `connect`/`receive`/`tick` with a
fake clock and looks at the returned actions. `drive(core, client, message)` accepts an `Envelope`,
a `(type, data)` pair, raw text or batch bytes. Clients authenticate with the tokens of `TOKENS`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from adapters.model import CHANNELS, MAX_CARS, FrameBlock, empty_cars, empty_frames
from relay.core import Action, Close, Persist, RelayCore, RelayLimits, Send, StateChanged
from relay.protocol import Envelope, MessageType, Role, TelemetryBatch, decode_batch, decode_message, encode_batch


@dataclass(frozen=True, slots=True)
class FakeIdentity:
    """What `relay.auth.Identity` offers the core (name, role, car_id)."""

    name: str
    role: Role
    car_id: int | None = None


DRIVER_CAR: Final = 7
"""The car of the driver most tests use."""
OTHER_CAR: Final = 8

TOKENS: Final[Mapping[str, FakeIdentity]] = {
    "tok-dan": FakeIdentity("Dan", Role.DRIVER, DRIVER_CAR),
    "tok-bob": FakeIdentity("Bob", Role.DRIVER, DRIVER_CAR),  # Dan's team-mate: takes over car 7
    "tok-dora": FakeIdentity("Dora", Role.DRIVER, OTHER_CAR),
    "tok-eve": FakeIdentity("Eve", Role.ENGINEER),
    "tok-ed": FakeIdentity("Ed", Role.ENGINEER),
    "tok-vic": FakeIdentity("Vic", Role.VIEWER),
    "tok-val": FakeIdentity("Val", Role.VIEWER),
}
"""The fake identity table: token -> identity."""

ROLE_TOKENS: Final[Mapping[Role, str]] = {Role.DRIVER: "tok-dan", Role.ENGINEER: "tok-ed", Role.VIEWER: "tok-vic"}
"""One token per role (Dan drives car 7)."""


def authenticator(token: str) -> FakeIdentity | None:
    return TOKENS.get(token)


def sequential_ids() -> Callable[[str], str]:
    """Deterministic ids for handoffs and team messages: h1, h2, m3, ..."""
    counter = itertools.count(1)
    return lambda prefix: f"{prefix}{next(counter)}"


def make_core(**limits: Any) -> RelayCore:
    """A core knowing `TOKENS`, with deterministic ids and `limits` overriding `RelayLimits`."""
    return RelayCore(authenticator, limits=RelayLimits(**limits), new_id=sequential_ids())


Message = Envelope | tuple[MessageType | str, Mapping[str, Any]] | str | bytes


def wire(message: Message, message_id: str = "") -> str | bytes:
    """What goes on the wire for `message` (text for control messages, bytes for batches)."""
    if isinstance(message, str | bytes):
        return message
    if isinstance(message, Envelope):
        return json.dumps({"type": message.type.value, "id": message.id, "data": dict(message.data)})
    kind, data = message
    return json.dumps({"type": str(kind), "id": message_id, "data": dict(data)})


def raw_message(kind: str, data_json: str, message_id: str = "") -> str:
    """A control message written by hand: `data_json` goes in verbatim (for JSON json.dumps would not write)."""
    return '{"type":"' + kind + '","id":"' + message_id + '","data":' + data_json + "}"


def drive(core: RelayCore, client: str, message: Message, now_s: float = 1.0, message_id: str = "") -> list[Action]:
    """`client` sends `message` to the core at `now_s`: the actions the core answers with."""
    return core.receive(client, wire(message, message_id), now_s)


def join(
    core: RelayCore,
    client: str,
    token: str | None,
    now_s: float = 0.0,
    *,
    subscribe: Mapping[str, Any] | None = None,
) -> list[Action]:
    """Connect `client`, authenticate it with `token` (None: stay anonymous), optionally subscribe."""
    actions = core.connect(client, f"10.0.0.{len(core.clients) + 2}:5000", now_s)
    if token is not None:
        actions += drive(core, client, (MessageType.AUTHENTICATE, {"token": token}), now_s)
        (result,) = [m for m in messages_to(actions, client) if m.type is MessageType.AUTHENTICATION_RESULT]
        assert result.data["ok"], result
    if subscribe is not None:
        actions += drive(core, client, (MessageType.SUBSCRIBE, subscribe), now_s)
    return actions


# ------------------------------------------------------------------------------------------ actions


def sends(actions: Iterable[Action], client: str | None = None) -> list[Send]:
    return [a for a in actions if isinstance(a, Send) and (client is None or a.client_id == client)]


def persists(actions: Iterable[Action]) -> list[Persist]:
    return [a for a in actions if isinstance(a, Persist)]


def closes(actions: Iterable[Action]) -> list[Close]:
    return [a for a in actions if isinstance(a, Close)]


def state_changes(actions: Iterable[Action]) -> list[StateChanged]:
    return [a for a in actions if isinstance(a, StateChanged)]


def messages_to(actions: Iterable[Action], client: str) -> list[Envelope]:
    """The control messages sent to `client`, decoded (batches left out)."""
    return [decode_message(s.payload) for s in sends(actions, client) if isinstance(s.payload, str)]


def batches_to(actions: Iterable[Action], client: str) -> list[bytes]:
    return [s.payload for s in sends(actions, client) if isinstance(s.payload, bytes)]


def recipients(actions: Iterable[Action]) -> set[str]:
    return {s.client_id for s in sends(actions)}


def error_codes(actions: Iterable[Action], client: str) -> list[str]:
    return [str(m.data["code"]) for m in messages_to(actions, client) if m.type is MessageType.ERROR]


# ------------------------------------------------------------------------------------------ frames


def make_block(frames: int = 60, *, start_s: float = 1234.5, hz: float = 60.0, cars: bool = True) -> FrameBlock:
    """A real-looking block: a car accelerating out of a corner, with NaN and per-tyre channels, and cars.

    Every channel is set (GPS and the last lap time NaN on some frames, as a sim leaves them).
    """
    n = frames
    t = start_s + np.arange(n) / hz
    f = empty_frames(n)
    phase = np.linspace(0.0, 1.0, n)
    f["session_time_s"] = t
    f["tick"] = 360_000 + np.arange(n)
    f["in_world"] = True
    f["is_on_track"] = True
    f["lap"] = 12
    f["lap_completed"] = 11
    f["lap_dist_m"] = 1523.457 + 41.3 * phase
    f["lap_dist_frac"] = 0.3714159 + 0.0100713 * phase
    f["speed_mps"] = 38.123 + 6.4 * phase + 0.137 * np.sin(9 * phase)
    f["rpm"] = 6812.4 + 900 * phase
    f["gear"] = np.where(phase < 0.6, 3, 4)
    f["throttle"] = np.clip(0.2 + 1.3 * phase, 0, 1)
    f["brake"] = np.clip(0.31 - 2 * phase, 0, 1)
    f["clutch"] = 0.0
    f["steering_angle_rad"] = 0.4123 * np.cos(3 * phase)
    f["lat_accel_mps2"] = 14.218 * np.cos(3 * phase)
    f["long_accel_mps2"] = 5.123 - 2 * phase
    f["yaw_rate_radps"] = 0.5231 * np.cos(3 * phase)
    f["latitude_deg"] = 36.6340412 + 1e-5 * phase
    f["longitude_deg"] = -79.8516723 + 2e-5 * phase
    f["latitude_deg"][::7] = np.nan
    f["longitude_deg"][::7] = np.nan
    f["altitude_m"] = 251.37 + 0.3 * phase
    f["fuel_level_l"] = 41.2871 - 0.0031 * np.arange(n)
    f["fuel_use_rate_lps"] = 0.03127 + 0.01 * phase
    f["on_pit_road"] = False
    f["pit_limiter"] = np.arange(n) % 17 == 0
    f["track_surface"] = 3
    f["session_flags"] = 0x0004 | 0x040000 | 0x10000000
    f["session_state"] = 4
    f["session_time_remain_s"] = 5400.0 - (t - start_s)
    f["session_laps_remain"] = -1
    f["car_left_right"] = np.where(phase > 0.5, 2, 1)
    f["incident_count"] = 4
    f["position"] = 5
    f["class_position"] = 3
    f["last_lap_time_s"] = np.where(phase < 0.3, np.nan, 20.3417)
    f["best_lap_time_s"] = 20.1183
    f["current_lap_time_s"] = 7.8214 + (t - start_s)
    corners = np.array([0.0, 1.7, -2.3, 0.9])
    f["tyre_temp_c"] = 78.43 + corners + 3 * phase[:, None]
    f["tyre_carcass_temp_c"] = 85.17 + corners + phase[:, None]
    f["tyre_pressure_kpa"] = 182.71 + corners / 2 + 0.4 * phase[:, None]
    f["tyre_wear_frac"] = np.array([0.973, 0.961, 0.988, 0.982]) - 1e-4 * phase[:, None]
    f["track_temp_c"] = 31.4
    f["air_temp_c"] = 22.7
    assert {c.name for c in CHANNELS} <= set(f.dtype.names or ())
    car_records = None
    if cars:
        car_records = empty_cars(n)
        present = 24
        offsets = np.arange(present) / present
        car_records["lap_dist_frac"][:, :present] = (0.3714159 + offsets[None, :] + 0.01 * phase[:, None]) % 1.0
        car_records["lap"][:, :present] = 12 - (offsets[None, :] > 0.6)
        car_records["lap_completed"][:, :present] = 11 - (offsets[None, :] > 0.6)
        car_records["position"][:, :present] = np.arange(1, present + 1)
        car_records["class_position"][:, :present] = np.arange(1, present + 1) % 12 + 1
        car_records["class_id"][:, :present] = np.where(np.arange(present) < 12, 4029, 4074)
        car_records["on_pit_road"][:, 3] = True
        car_records["track_surface"][:, :present] = 3
        car_records["last_lap_time_s"][:, :present] = 20.3 + offsets[None, :]
        car_records["last_lap_time_s"][:, 5] = np.nan
        car_records["best_lap_time_s"][:, :present] = 20.1 + offsets[None, :]
        car_records["est_time_s"][:, :present] = 7.5 + 20 * offsets[None, :] + (t - start_s)[:, None]
        assert car_records.shape == (n, MAX_CARS)
    return FrameBlock(f, car_records)


def batch_bytes(
    car_id: int = DRIVER_CAR,
    seq: int = 1,
    *,
    frames: int = 6,
    start_s: float = 1234.5,
    codec: str = "zstd",
    cars: bool = False,
) -> bytes:
    """A driver's encoded batch of a real-looking block."""
    block = make_block(frames, start_s=start_s, cars=cars)
    return encode_batch(TelemetryBatch(car_id, seq, block), codec=codec, include_cars=cars)


def within_half_precision(original: np.ndarray, decoded: np.ndarray, precision: float) -> np.ndarray:
    """Elementwise: NaN stays NaN, and a value is within half its precision (plus float32 rounding)."""
    ulp = np.spacing(np.abs(np.nan_to_num(original))).astype(np.float64)  # in the channel's own dtype
    a = np.asarray(original, dtype=np.float64)
    b = np.asarray(decoded, dtype=np.float64)
    slack = precision / 2 + 2 * ulp
    both_nan = np.isnan(a) & np.isnan(b)
    with np.errstate(invalid="ignore"):
        close = np.abs(a - b) <= slack
    return both_nan | close


def frame_times(payloads: Sequence[bytes]) -> list[float]:
    """The session time of the last frame of each batch (for conflation tests)."""
    return [float(decode_batch(p).block.frames["session_time_s"][-1]) for p in payloads]


# ------------------------------------------------------------------------------------------ messages

SAMPLE_DATA: Final[Mapping[MessageType, Mapping[str, Any]]] = {
    MessageType.CONNECTION_ESTABLISHED: {"relay": "PitBox relay", "protocol": 1, "client_id": "c-1"},
    MessageType.AUTHENTICATE: {"token": "tok-dan", "client": "pitbox 0.1"},
    MessageType.AUTHENTICATION_RESULT: {"ok": True, "role": "driver", "name": "Dan", "car_id": 7, "last_seq": 41},
    MessageType.TELEMETRY_UPDATE: {"car_id": 7, "telemetry": {"speed_mps": 41.2, "gear": 4, "lap": 12}},
    MessageType.TEAM_MESSAGE: {"text": "Box this lap", "priority": "high", "to": "Dan"},
    MessageType.HANDOFF_REQUEST: {
        "action": "request",
        "car_id": 7,
        "to_driver": "Bob",
        "reason": "end of stint",
        "urgency": "high",
    },
    MessageType.AI_COACHING: {"message": "Brake 5 m later into T1", "priority": 60, "distance": 1520.5, "car_id": 7},
    MessageType.ACK: {"seq": 12, "car_id": 7},
    MessageType.ERROR: {"code": "bad_field", "message": "something was wrong", "ref": "m-1"},
    MessageType.SUBSCRIBE: {"cars": [7, 8], "rate_hz": 10.0, "telemetry": True, "codec": "deflate"},
    MessageType.SESSION_INFO: {"car_id": 7, "session": {"driver": "Dan", "track": {"name": "martinsville"}}},
    MessageType.STRATEGY_UPDATE: {"car_id": 7, "strategy": {"pit_lap": 41, "fuel_to_add_l": 38.5}},
    MessageType.STINT_PLAN: {"car_id": 7, "plan": {"stints": [{"driver": "Dan", "laps": 40}]}, "approved": True},
    MessageType.VIDEO_SEGMENT_READY: {
        "car_id": 7,
        "segment_id": "seg-0001",
        "start_s": 100.0,
        "end_s": 130.5,
        "kind": "segment",
        "url": "https://relay.local/video/seg-0001",
        "bytes": 123456,
    },
}
"""A valid `data` for every message type, with most of its optional fields set."""
