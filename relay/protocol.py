"""PitBox's one wire format (pure): JSON control messages and binary telemetry batches.

Control messages are JSON objects `{"type", "id", "data"}`. `decode_message` checks the envelope
and each type's fields; every failure is a `ProtocolError` with a stable `code`, safe to send back
to the peer (it never carries internal details).

Telemetry travels as binary batches of consecutive frames of one car:

    header (24 bytes, little-endian)
      magic "PB" | version u8 | flags u8 | car_id u16 | seq u32 | frame_count u16 |
      channel_mask u64 | raw_length u32
    body (compressed with zstd or deflate, `flags & 3`):
      for each channel in the mask (model order; per-tyre channels as 4 columns), then, when
      `flags & HAS_CARS`, a u64 mask of the cars present and each car channel of each car:
      a column = width u8 (1, 2, 4 or 8; | 0x10 for second differences) + frame_count values of
      that width, byte-shuffled.

A column holds each channel quantised to its declared precision (`adapters.model.CHANNELS`),
delta-coded along the batch (first or second differences, whichever is smaller) and
zigzag-mapped, so a slowly changing channel costs a byte or less per frame before compression.
Decoding restores every value to within half its precision (NaN stays NaN). Limits on frames,
body size and decompressed size are arguments with safe defaults: a batch that breaks them is a
`ProtocolError`, never a crash or an unbounded allocation.
"""

from __future__ import annotations

import enum
import functools
import json
import math
import struct
import threading
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import zstandard

from adapters.model import CAR_CHANNELS, CHANNELS, MAX_CARS, Channel, FrameBlock, empty_cars, empty_frames

PROTOCOL_VERSION: Final = 1
MAGIC: Final = b"PB"
HEADER: Final = struct.Struct("<2sBBHIHQI")
HEADER_SIZE: Final = HEADER.size
CODEC_NONE: Final = 0
CODEC_DEFLATE: Final = 1
CODEC_ZSTD: Final = 2
CODEC_NAMES: Final = {"none": CODEC_NONE, "deflate": CODEC_DEFLATE, "zstd": CODEC_ZSTD}
HAS_CARS: Final = 0x04
SECOND_ORDER: Final = 0x10
"""Column flag: the values are second differences (smooth signals)."""
NAN_Q: Final = -(2**62)
"""Quantised stand-in for NaN (and infinities), far outside any real channel's range."""
Q_LIMIT: Final = 2**61

MAX_MESSAGE_BYTES: Final = 64 * 1024
"""Largest JSON control message accepted."""
MAX_BATCH_FRAMES: Final = 600
"""Largest batch: ten seconds at 60 Hz."""
MAX_BATCH_BYTES: Final = 1024 * 1024
"""Largest binary batch on the wire."""
MAX_RAW_BYTES: Final = 16 * 1024 * 1024
"""Largest decompressed body (a full batch with every car is well under it)."""
MAX_ID_CHARS: Final = 64
MAX_TEXT_CHARS: Final = 500
ALL_CHANNELS: Final = (1 << len(CHANNELS)) - 1


class ErrorCode(enum.StrEnum):
    """Why a message was refused; sent to the peer in `error` messages."""

    BAD_JSON = "bad_json"
    BAD_ENVELOPE = "bad_envelope"
    UNKNOWN_TYPE = "unknown_type"
    BAD_FIELD = "bad_field"
    TOO_LARGE = "too_large"
    BAD_BATCH = "bad_batch"
    UNSUPPORTED_VERSION = "unsupported_version"
    NOT_AUTHENTICATED = "not_authenticated"
    AUTH_FAILED = "auth_failed"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    SLOW_CONSUMER = "slow_consumer"


class ProtocolError(Exception):
    """A message or batch that breaks the protocol. `code` is stable; `message` is safe to show the peer."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message


class MessageType(enum.StrEnum):
    CONNECTION_ESTABLISHED = "connection_established"
    AUTHENTICATE = "authenticate"
    AUTHENTICATION_RESULT = "authentication_result"
    TELEMETRY_UPDATE = "telemetry_update"
    TEAM_MESSAGE = "team_message"
    HANDOFF_REQUEST = "handoff_request"
    AI_COACHING = "ai_coaching"
    ACK = "ack"
    ERROR = "error"
    SUBSCRIBE = "subscribe"
    SESSION_INFO = "session_info"
    STRATEGY_UPDATE = "strategy_update"
    STINT_PLAN = "stint_plan"
    VIDEO_SEGMENT_READY = "video_segment_ready"


class Role(enum.StrEnum):
    DRIVER = "driver"
    ENGINEER = "engineer"
    VIEWER = "viewer"


TEAM_MESSAGE_PRIORITIES: Final = ("low", "normal", "high", "urgent")
HANDOFF_URGENCIES: Final = ("low", "normal", "high")
HANDOFF_ACTIONS: Final = ("request", "accept", "reject", "complete", "cancel")


# ------------------------------------------------------------------------------------------------
# JSON control messages


@dataclass(frozen=True, slots=True)
class Envelope:
    """One control message."""

    type: MessageType
    id: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def encode(self) -> str:
        return encode_message(self)


@dataclass(frozen=True, slots=True)
class _Field:
    kinds: tuple[type, ...]
    required: bool = False
    choices: tuple[str, ...] = ()
    max_chars: int = MAX_TEXT_CHARS
    low: float | None = None
    high: float | None = None


_STR = (str,)
_INT = (int,)
_NUM = (int, float)
_BOOL = (bool,)
_OBJ = (dict,)
_LIST = (list,)

SCHEMAS: Final[Mapping[MessageType, Mapping[str, _Field]]] = {
    MessageType.CONNECTION_ESTABLISHED: {
        "relay": _Field(_STR, True, max_chars=100),
        "protocol": _Field(_INT, True, low=1, high=1000),
        "client_id": _Field(_STR, True, max_chars=MAX_ID_CHARS),
    },
    MessageType.AUTHENTICATE: {
        "token": _Field(_STR, True, max_chars=256),
        "client": _Field(_STR, max_chars=100),
    },
    MessageType.AUTHENTICATION_RESULT: {
        "ok": _Field(_BOOL, True),
        "role": _Field(_STR, choices=tuple(Role)),
        "name": _Field(_STR, max_chars=100),
        "car_id": _Field(_INT, low=0, high=65535),
        "last_seq": _Field(_INT, low=0, high=2**32 - 1),
        "error": _Field(_STR),
    },
    MessageType.TELEMETRY_UPDATE: {
        "car_id": _Field(_INT, True, low=0, high=65535),
        "telemetry": _Field(_OBJ, True),
    },
    MessageType.TEAM_MESSAGE: {
        "text": _Field(_STR, True),
        "priority": _Field(_STR, choices=TEAM_MESSAGE_PRIORITIES),
        "to": _Field(_STR, max_chars=100),
        "message_id": _Field(_STR, max_chars=MAX_ID_CHARS),
        "from": _Field(_STR, max_chars=100),
        "sent_s": _Field(_NUM),
        "read_by": _Field(_LIST),
    },
    MessageType.HANDOFF_REQUEST: {
        "action": _Field(_STR, True, choices=HANDOFF_ACTIONS),
        "handoff_id": _Field(_STR, max_chars=MAX_ID_CHARS),
        "car_id": _Field(_INT, low=0, high=65535),
        "to_driver": _Field(_STR, max_chars=100),
        "reason": _Field(_STR),
        "urgency": _Field(_STR, choices=HANDOFF_URGENCIES),
        # Set by the relay on the updates it sends every party:
        "status": _Field(_STR, choices=("requested", "accepted", "rejected", "completed", "cancelled")),
        "from_driver": _Field(_STR, max_chars=100),
        "history": _Field(_LIST),
    },
    MessageType.AI_COACHING: {
        "message": _Field(_STR, True),
        "priority": _Field(_NUM, low=0, high=100),
        "distance": _Field(_NUM),
        "max_distance": _Field(_NUM),
        "car_id": _Field(_INT, low=0, high=65535),
        "driver": _Field(_STR, max_chars=100),
    },
    MessageType.ACK: {
        "seq": _Field(_INT, low=0, high=2**32 - 1),
        "car_id": _Field(_INT, low=0, high=65535),
        "message_id": _Field(_STR, max_chars=MAX_ID_CHARS),
        "read": _Field(_BOOL),
    },
    MessageType.ERROR: {
        "code": _Field(_STR, True, choices=tuple(ErrorCode)),
        "message": _Field(_STR, True),
        "ref": _Field(_STR, max_chars=MAX_ID_CHARS),
    },
    MessageType.SUBSCRIBE: {
        "cars": _Field(_LIST),
        "rate_hz": _Field(_NUM, low=0.1, high=60.0),
        "telemetry": _Field(_BOOL),
        "codec": _Field(_STR, choices=("any", "zstd", "deflate")),
    },
    MessageType.SESSION_INFO: {
        "car_id": _Field(_INT, low=0, high=65535),
        "session": _Field(_OBJ, True),
    },
    MessageType.STRATEGY_UPDATE: {
        "car_id": _Field(_INT, low=0, high=65535),
        "strategy": _Field(_OBJ, True),
    },
    MessageType.STINT_PLAN: {
        "car_id": _Field(_INT, low=0, high=65535),
        "plan": _Field(_OBJ, True),
        "approved": _Field(_BOOL),
    },
    MessageType.VIDEO_SEGMENT_READY: {
        "car_id": _Field(_INT, low=0, high=65535),
        "segment_id": _Field(_STR, True, max_chars=MAX_ID_CHARS),
        "start_s": _Field(_NUM, True),
        "end_s": _Field(_NUM, True),
        "kind": _Field(_STR, choices=("segment", "clip")),
        "url": _Field(_STR, max_chars=300),
        "bytes": _Field(_INT, low=0),
    },
}


def _check_field(message_type: MessageType, name: str, spec: _Field, value: Any) -> None:
    where = f"{message_type.value}.{name}"
    # bool is an int in Python: only accept it where a bool is asked for.
    if isinstance(value, bool) and bool not in spec.kinds:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"{where} must not be a boolean")
    if not isinstance(value, spec.kinds):
        expected = " or ".join(k.__name__ for k in spec.kinds)
        raise ProtocolError(ErrorCode.BAD_FIELD, f"{where} must be {expected}")
    if isinstance(value, str):
        if len(value) > spec.max_chars:
            raise ProtocolError(ErrorCode.BAD_FIELD, f"{where} is longer than {spec.max_chars} characters")
        if spec.choices and value not in spec.choices:
            raise ProtocolError(ErrorCode.BAD_FIELD, f"{where} must be one of {', '.join(spec.choices)}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise ProtocolError(ErrorCode.BAD_FIELD, f"{where} must be finite")
        if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
            raise ProtocolError(ErrorCode.BAD_FIELD, f"{where} must be within {spec.low}..{spec.high}")


def validate_data(message_type: MessageType, data: Mapping[str, Any]) -> None:
    """Check a message's fields against its type's schema (unknown fields are refused)."""
    schema = SCHEMAS[message_type]
    for name in data:
        if name not in schema:
            raise ProtocolError(ErrorCode.BAD_FIELD, f"{message_type.value} has no field {name!r}")
    for name, spec in schema.items():
        if name not in data or data[name] is None:
            if spec.required:
                raise ProtocolError(ErrorCode.BAD_FIELD, f"{message_type.value}.{name} is required")
            continue
        _check_field(message_type, name, spec, data[name])


MAX_DEPTH: Final = 16
"""Nesting allowed inside a message's data (session info is about four levels deep)."""


def _check_plain(value: Any, depth: int) -> None:
    """Free-form parts of a message (session, strategy...) must nest shallowly and hold finite numbers."""
    if depth > MAX_DEPTH:
        raise ProtocolError(ErrorCode.BAD_JSON, f"data nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, float) and not math.isfinite(value):
        raise ProtocolError(ErrorCode.BAD_JSON, "numbers must be finite")
    if isinstance(value, dict):
        for item in value.values():
            _check_plain(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_plain(item, depth + 1)


def _reject_constant(name: str) -> Any:
    raise ProtocolError(ErrorCode.BAD_JSON, f"{name} is not valid JSON")


def decode_message(payload: str | bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> Envelope:
    """Parse and validate one control message. Raises ProtocolError."""
    size = len(payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload)
    if size > max_bytes:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"message of {size} bytes exceeds {max_bytes}")
    try:
        obj = json.loads(payload, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, ProtocolError):
            raise
        raise ProtocolError(ErrorCode.BAD_JSON, "not valid JSON") from exc
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.BAD_ENVELOPE, "a message must be a JSON object")
    if set(obj) - {"type", "id", "data"}:
        raise ProtocolError(ErrorCode.BAD_ENVELOPE, "a message has only the keys type, id and data")
    kind, message_id, data = obj.get("type"), obj.get("id", ""), obj.get("data", {})
    if not isinstance(kind, str):
        raise ProtocolError(ErrorCode.BAD_ENVELOPE, "type must be a string")
    try:
        message_type = MessageType(kind)
    except ValueError:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {kind[:40]!r}") from None
    if not isinstance(message_id, str) or len(message_id) > MAX_ID_CHARS:
        raise ProtocolError(ErrorCode.BAD_ENVELOPE, f"id must be a string of at most {MAX_ID_CHARS} characters")
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.BAD_ENVELOPE, "data must be a JSON object")
    _check_plain(data, 0)
    validate_data(message_type, data)
    return Envelope(message_type, message_id, data)


def encode_message(envelope: Envelope) -> str:
    """Serialise a control message (compact JSON, no NaN)."""
    validate_data(envelope.type, envelope.data)
    return json.dumps(
        {"type": envelope.type.value, "id": envelope.id, "data": dict(envelope.data)},
        separators=(",", ":"),
        allow_nan=False,
    )


def error_message(error: ProtocolError, ref: str = "") -> str:
    """The `error` message answering a refused message."""
    data: dict[str, Any] = {"code": error.code.value, "message": error.message[:MAX_TEXT_CHARS]}
    if ref:
        data["ref"] = ref[:MAX_ID_CHARS]
    return encode_message(Envelope(MessageType.ERROR, "", data))


# ------------------------------------------------------------------------------------------------
# Binary telemetry batches


def channel_mask(names: Sequence[str] | None) -> int:
    """The mask of the named frame channels (None: every channel)."""
    if names is None:
        return ALL_CHANNELS
    index = {c.name: i for i, c in enumerate(CHANNELS)}
    mask = 0
    for name in names:
        if name not in index:
            raise ValueError(f"unknown channel {name!r}")
        mask |= 1 << index[name]
    return mask


def _channels_of(mask: int) -> list[Channel]:
    return [c for i, c in enumerate(CHANNELS) if mask >> i & 1]


@dataclass(frozen=True, slots=True)
class TelemetryBatch:
    """Consecutive frames of one car. Channels outside `channel_mask` hold their missing values."""

    car_id: int
    seq: int
    block: FrameBlock
    channel_mask: int = ALL_CHANNELS

    def __post_init__(self) -> None:
        if not 0 <= self.car_id <= 0xFFFF or not 0 <= self.seq <= 0xFFFFFFFF:
            raise ValueError("car_id must fit 16 bits and seq 32 bits")
        if not 1 <= len(self.block) <= 0xFFFF:
            raise ValueError("a batch holds 1 to 65535 frames")
        if self.channel_mask & ~ALL_CHANNELS or not self.channel_mask:
            raise ValueError("channel_mask names channels that do not exist")


def _dequantise(q: npt.NDArray[np.int64], channel_dtype: np.dtype[Any], precision: float) -> npt.NDArray[Any]:
    if channel_dtype.kind == "f":
        out = q.astype(np.float64) * precision
        out[q == NAN_Q] = np.nan
        return out.astype(channel_dtype)
    if channel_dtype.kind == "b":
        flags: npt.NDArray[np.bool_] = q != 0
        return flags
    info = np.iinfo(channel_dtype)
    return np.clip(q, info.min, info.max).astype(channel_dtype)


def _zigzag(values: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
    result: npt.NDArray[np.uint64] = ((values << np.int64(1)) ^ (values >> np.int64(63))).view(np.uint64)
    return result


@functools.lru_cache(maxsize=64)
def _frame_columns(mask: int) -> tuple[tuple[str, int | None], ...]:
    """The (channel, tyre index) of every column of a channel set, in wire order."""
    columns: list[tuple[str, int | None]] = []
    for channel in _channels_of(mask):
        columns += [(channel.name, k) for k in range(channel.shape[0])] if channel.shape else [(channel.name, None)]
    return tuple(columns)


@functools.lru_cache(maxsize=64)
def _precisions(mask: int) -> npt.NDArray[np.float64]:
    steps = [
        c.precision if np.dtype(c.dtype).kind == "f" else 1.0
        for c in _channels_of(mask)
        for _ in range(c.shape[0] if c.shape else 1)
    ]
    return np.asarray(steps, dtype=np.float64)


_CAR_PRECISIONS: Final = np.asarray(
    [c.precision if np.dtype(c.dtype).kind == "f" else 1.0 for c in CAR_CHANNELS], dtype=np.float64
)


def _pack_columns(
    values: npt.NDArray[np.float64], precisions: npt.NDArray[np.float64], out: list[bytes | memoryview]
) -> None:
    """Every column of `values` (frames x columns) in wire form, vectorised across columns.

    Each column is quantised to its precision (integer and boolean channels are exact in float64,
    with precision 1; NaN and infinities become NAN_Q), then first or second differences are kept,
    whichever sums smaller (smooth signals: second; counters and steps: first), zigzag-mapped, and
    written at the narrowest width that holds them, byte-shuffled.
    """
    n, m = values.shape
    bad = ~np.isfinite(values)
    with np.errstate(invalid="ignore", over="ignore"):
        q = np.rint(np.where(bad, 0.0, values) / precisions)
    q = np.clip(q, -Q_LIMIT, Q_LIMIT).astype(np.int64)
    q[bad] = NAN_Q
    zero = np.zeros((1, m), dtype=np.int64)
    first = np.diff(q, axis=0, prepend=zero)
    second = np.diff(first, axis=0, prepend=zero)
    z1, z2 = _zigzag(first), _zigzag(second)
    if n > 2:
        use_second = z2[1:].astype(np.float64).sum(axis=0) < z1[1:].astype(np.float64).sum(axis=0)
    else:
        use_second = np.zeros(m, dtype=bool)
    zigzag = np.where(use_second, z2, z1)
    top = zigzag.max(axis=0) if n else np.zeros(m, dtype=np.uint64)
    widths = np.where(top < 1 << 8, 1, np.where(top < 1 << 16, 2, np.where(top < 1 << 32, 4, 8)))
    chunks: list[memoryview | None] = [None] * m
    for width in (1, 2, 4, 8):
        picked = np.flatnonzero(widths == width)
        if not len(picked):
            continue
        group = (
            np.ascontiguousarray(zigzag[:, picked].astype(f"<u{width}")).view(np.uint8).reshape(n, len(picked), width)
        )
        shuffled = memoryview(np.ascontiguousarray(group.transpose(1, 2, 0)).tobytes())
        size = width * n
        for i, column in enumerate(picked.tolist()):
            chunks[column] = shuffled[i * size : (i + 1) * size]
    flag_bytes = (widths | np.where(use_second, SECOND_ORDER, 0)).astype(np.uint8).tobytes()
    for column in range(m):
        out.append(flag_bytes[column : column + 1])
        chunk = chunks[column]
        assert chunk is not None
        out.append(chunk)


class _Reader:
    def __init__(self, body: bytes, frames: int) -> None:
        self.body = body
        self.frames = frames
        self.pos = 0

    def column(self) -> npt.NDArray[np.int64]:
        if self.pos >= len(self.body):
            raise ProtocolError(ErrorCode.BAD_BATCH, "batch body ends early")
        flags = self.body[self.pos]
        width, second_order = flags & ~SECOND_ORDER, bool(flags & SECOND_ORDER)
        if width not in (1, 2, 4, 8):
            raise ProtocolError(ErrorCode.BAD_BATCH, f"column width {width} is not 1, 2, 4 or 8")
        start, stop = self.pos + 1, self.pos + 1 + width * self.frames
        if stop > len(self.body):
            raise ProtocolError(ErrorCode.BAD_BATCH, "batch body ends early")
        self.pos = stop
        shuffled = np.frombuffer(self.body, dtype=np.uint8, count=width * self.frames, offset=start)
        zigzag = np.ascontiguousarray(shuffled.reshape(width, self.frames).T).view(f"<u{width}").ravel()
        z = zigzag.astype(np.uint64)
        deltas = ((z >> np.uint64(1)).astype(np.int64)) ^ -((z & np.uint64(1)).astype(np.int64))
        if second_order:
            deltas = np.cumsum(deltas, dtype=np.int64)
        return np.cumsum(deltas, dtype=np.int64)

    def u64(self) -> int:
        if self.pos + 8 > len(self.body):
            raise ProtocolError(ErrorCode.BAD_BATCH, "batch body ends early")
        (value,) = struct.unpack_from("<Q", self.body, self.pos)
        self.pos += 8
        return int(value)


class _ZstdContexts(threading.local):
    """One zstd compressor and decompressor per thread: their contexts are not thread-safe (two
    driver pipelines in one process once crashed inside `compress`), and making one per call costs
    more than encoding a 10 Hz batch."""

    def __init__(self) -> None:
        self.compressor = zstandard.ZstdCompressor(level=3)
        self.decompressor = zstandard.ZstdDecompressor()


_ZSTD = _ZstdContexts()


def encode_batch(batch: TelemetryBatch, *, codec: str = "auto", include_cars: bool = False) -> bytes:
    """The wire bytes of a batch (quantised to each channel's precision).

    `codec`: "zstd", "deflate", "none", or "auto": whichever of zstd and deflate is smaller for this
    batch (deflate wins on small 10 Hz batches, zstd on long ones; decoders read the codec from the
    header, so the choice costs a reader nothing).
    """
    if codec != "auto" and codec not in CODEC_NAMES:
        raise ValueError(f"codec must be auto or one of {', '.join(CODEC_NAMES)}")
    frames = batch.block.frames
    parts: list[bytes | memoryview] = []
    columns = _frame_columns(batch.channel_mask)
    values = np.empty((len(frames), len(columns)), dtype=np.float64)
    for j, (name, sub) in enumerate(columns):
        values[:, j] = frames[name] if sub is None else frames[name][:, sub]
    _pack_columns(values, _precisions(batch.channel_mask), parts)
    flags = CODEC_NAMES.get(codec, CODEC_NONE)
    cars = batch.block.cars
    if include_cars and cars is not None:
        flags |= HAS_CARS
        present = np.flatnonzero((cars["lap_dist_frac"] >= 0).any(axis=0))
        car_mask = 0
        for car in present.tolist():
            car_mask |= 1 << car
        parts.append(struct.pack("<Q", car_mask))
        if len(present):
            car_values = np.empty((len(frames), len(present) * len(CAR_CHANNELS)), dtype=np.float64)
            for i, channel in enumerate(CAR_CHANNELS):
                car_values[:, i :: len(CAR_CHANNELS)] = cars[channel.name][:, present]
            _pack_columns(car_values, np.tile(_CAR_PRECISIONS, len(present)), parts)
    raw = b"".join(parts)
    if codec == "auto":
        zstd_body, deflate_body = _ZSTD.compressor.compress(raw), zlib.compress(raw, 6)
        codec, body = ("zstd", zstd_body) if len(zstd_body) <= len(deflate_body) else ("deflate", deflate_body)
        flags = (flags & ~0x03) | CODEC_NAMES[codec]
    elif codec == "zstd":
        body = _ZSTD.compressor.compress(raw)
    elif codec == "deflate":
        body = zlib.compress(raw, 6)
    else:
        body = raw
    header = HEADER.pack(
        MAGIC, PROTOCOL_VERSION, flags, batch.car_id, batch.seq, len(frames), batch.channel_mask, len(raw)
    )
    return header + body


@dataclass(frozen=True, slots=True)
class BatchHeader:
    version: int
    codec: int
    has_cars: bool
    car_id: int
    seq: int
    frame_count: int
    channel_mask: int
    raw_length: int


def decode_header(data: bytes, *, max_frames: int = MAX_BATCH_FRAMES) -> BatchHeader:
    """Read and check a batch's header (cheap: the relay routes batches on it without decoding)."""
    if len(data) < HEADER_SIZE:
        raise ProtocolError(ErrorCode.BAD_BATCH, f"a batch is at least {HEADER_SIZE} bytes")
    magic, version, flags, car_id, seq, count, mask, raw_length = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ProtocolError(ErrorCode.BAD_BATCH, "not a PitBox telemetry batch")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_VERSION, f"batch version {version}, this relay speaks {PROTOCOL_VERSION}"
        )
    codec = flags & 0x03
    if codec not in CODEC_NAMES.values() or flags & ~(0x03 | HAS_CARS):
        raise ProtocolError(ErrorCode.BAD_BATCH, f"unknown batch flags {flags:#x}")
    if not 1 <= count <= max_frames:
        raise ProtocolError(ErrorCode.TOO_LARGE if count else ErrorCode.BAD_BATCH, f"{count} frames (1..{max_frames})")
    if not mask or mask & ~ALL_CHANNELS:
        raise ProtocolError(ErrorCode.BAD_BATCH, "channel set names channels that do not exist")
    return BatchHeader(version, codec, bool(flags & HAS_CARS), car_id, seq, count, mask, raw_length)


def _zstd_frame_size(body: bytes) -> int:
    """Bytes of the zstd frame after its header (the compressed blocks and optional checksum)."""
    obj = zstandard.ZstdDecompressor().decompressobj()
    obj.decompress(body)
    return len(body) - len(obj.unused_data) - zstandard.frame_header_size(body)


def _decompress(codec: int, body: bytes, raw_length: int) -> bytes:
    try:
        if codec == CODEC_ZSTD:
            # The frame's content size was checked against raw_length (and max_raw) by the caller;
            # decompress() allocates exactly that and fails on a frame that produces more.
            raw = _ZSTD.decompressor.decompress(body)
            if zstandard.frame_header_size(body) + _zstd_frame_size(body) != len(body):
                raise ProtocolError(ErrorCode.BAD_BATCH, "bytes after the compressed body")
        elif codec == CODEC_DEFLATE:
            inflater = zlib.decompressobj()
            raw = inflater.decompress(body, raw_length + 1)
            if inflater.unconsumed_tail or inflater.unused_data or not inflater.eof:
                raise ProtocolError(ErrorCode.BAD_BATCH, "compressed body does not match its declared length")
        else:
            raw = body
    except (zstandard.ZstdError, zlib.error) as exc:
        raise ProtocolError(ErrorCode.BAD_BATCH, "compressed body is corrupt") from exc
    if len(raw) != raw_length:
        raise ProtocolError(ErrorCode.BAD_BATCH, "decompressed body does not match its declared length")
    return raw


def decode_batch(
    data: bytes, *, max_frames: int = MAX_BATCH_FRAMES, max_bytes: int = MAX_BATCH_BYTES, max_raw: int = MAX_RAW_BYTES
) -> TelemetryBatch:
    """Parse a batch back into frames. Raises ProtocolError; allocates at most `max_raw` bytes."""
    if len(data) > max_bytes:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"batch of {len(data)} bytes exceeds {max_bytes}")
    header = decode_header(data, max_frames=max_frames)
    if header.raw_length > max_raw:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"batch body of {header.raw_length} bytes exceeds {max_raw}")
    body = data[HEADER_SIZE:]
    if header.codec == CODEC_ZSTD:
        try:
            declared = zstandard.frame_content_size(body)
        except zstandard.ZstdError as exc:
            raise ProtocolError(ErrorCode.BAD_BATCH, "compressed body is corrupt") from exc
        if declared != header.raw_length:
            raise ProtocolError(ErrorCode.BAD_BATCH, "compressed body does not match its declared length")
    raw = _decompress(header.codec, body, header.raw_length)
    n = header.frame_count
    reader = _Reader(raw, n)
    frames = empty_frames(n)
    for channel in _channels_of(header.channel_mask):
        dtype = np.dtype(channel.dtype)
        if channel.shape:
            for k in range(channel.shape[0]):
                frames[channel.name][:, k] = _dequantise(reader.column(), dtype, channel.precision)
        else:
            frames[channel.name] = _dequantise(reader.column(), dtype, channel.precision)
    cars = None
    if header.has_cars:
        cars = empty_cars(n)
        car_mask = reader.u64()
        for car in range(MAX_CARS):
            if car_mask >> car & 1:
                for channel in CAR_CHANNELS:
                    cars[channel.name][:, car] = _dequantise(
                        reader.column(), np.dtype(channel.dtype), channel.precision
                    )
    if reader.pos != len(raw):
        raise ProtocolError(ErrorCode.BAD_BATCH, "batch body has trailing bytes")
    return TelemetryBatch(header.car_id, header.seq, FrameBlock(frames, cars), header.channel_mask)


def legacy_telemetry_json(car_id: int, frame: Mapping[str, Any]) -> str:
    """The original design's per-frame JSON `telemetry_update` (for old clients and as a size baseline)."""
    return encode_message(Envelope(MessageType.TELEMETRY_UPDATE, "", {"car_id": car_id, "telemetry": dict(frame)}))
