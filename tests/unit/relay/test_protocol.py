"""The wire format: control messages are checked field by field, batches round-trip within precision, limits hold.

Every refusal is a `ProtocolError` with a stable code; arbitrary input never raises anything else.
"""

from __future__ import annotations

import json
import struct
import tracemalloc
import zlib
from typing import Any

import numpy as np
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.model import CAR_CHANNELS, CHANNELS, MAX_CARS, FrameBlock
from relay.protocol import (
    ALL_CHANNELS,
    HEADER,
    HEADER_SIZE,
    MAX_BATCH_FRAMES,
    MAX_ID_CHARS,
    MAX_MESSAGE_BYTES,
    MAX_TEXT_CHARS,
    SCHEMAS,
    Envelope,
    ErrorCode,
    MessageType,
    ProtocolError,
    TelemetryBatch,
    channel_mask,
    decode_batch,
    decode_header,
    decode_message,
    encode_batch,
    encode_message,
    error_message,
)
from tests.support.relay import SAMPLE_DATA, batch_bytes, make_block, raw_message, within_half_precision

CODECS = ("zstd", "deflate", "none")


def header(
    *,
    version: int = 1,
    flags: int = 2,
    car_id: int = 7,
    seq: int = 1,
    frames: int = 6,
    mask: int = ALL_CHANNELS,
    raw_length: int = 0,
) -> bytes:
    return HEADER.pack(b"PB", version, flags, car_id, seq, frames, mask, raw_length)


def refused(code: ErrorCode) -> Any:
    """`pytest.raises` for a ProtocolError with `code` (checked after the block)."""
    return pytest.raises(ProtocolError, check=lambda e: e.code is code)


def envelope_text(kind: str, data: Any, message_id: Any = "") -> str:
    return json.dumps({"type": kind, "id": message_id, "data": data})


# ------------------------------------------------------------------------------------------ batches


@pytest.mark.parametrize("codec", CODECS)
def test_every_channel_round_trips_within_half_its_precision(codec: str) -> None:
    block = make_block(120, cars=True)
    wire = encode_batch(TelemetryBatch(7, 4242, block), codec=codec, include_cars=True)
    batch = decode_batch(wire)
    assert (batch.car_id, batch.seq, batch.channel_mask, len(batch.block)) == (7, 4242, ALL_CHANNELS, 120)
    for channel in CHANNELS:
        original, decoded = block.frames[channel.name], batch.block.frames[channel.name]
        assert decoded.dtype == original.dtype and decoded.shape == original.shape, channel.name
        if original.dtype.kind == "f":
            ok = within_half_precision(original, decoded, channel.precision)
            assert ok.all(), f"{channel.name}: {original[~ok][:3]} came back as {decoded[~ok][:3]}"
        else:
            np.testing.assert_array_equal(decoded, original, err_msg=channel.name)
    # NaN travels as NaN (GPS every 7th frame, the last lap time early in the block).
    assert np.isnan(batch.block.frames["latitude_deg"][::7]).all()
    assert np.isnan(batch.block.frames["last_lap_time_s"][0])
    assert np.isfinite(batch.block.frames["latitude_deg"][1])
    assert block.cars is not None and batch.block.cars is not None
    for channel in CAR_CHANNELS:
        original, decoded = block.cars[channel.name], batch.block.cars[channel.name]
        if original.dtype.kind == "f":
            ok = within_half_precision(original, decoded, channel.precision)
            assert ok.all(), f"cars.{channel.name}: {original[~ok][:3]} came back as {decoded[~ok][:3]}"
        else:
            np.testing.assert_array_equal(decoded, original, err_msg=f"cars.{channel.name}")


def test_quantisation_really_happens_at_the_declared_precision() -> None:
    block = make_block(3, cars=False)
    block.frames["speed_mps"] = [41.23456, 41.23, 41.2449]  # precision 0.01
    decoded = decode_batch(encode_batch(TelemetryBatch(7, 1, block))).block.frames["speed_mps"]
    np.testing.assert_allclose(decoded, [41.23, 41.23, 41.24], atol=1e-5)


def test_infinities_travel_as_missing_values() -> None:
    block = make_block(3, cars=False)
    block.frames["rpm"] = [np.inf, -np.inf, 7000.4]
    decoded = decode_batch(encode_batch(TelemetryBatch(7, 1, block))).block.frames["rpm"]
    assert np.isnan(decoded[:2]).all() and decoded[2] == 7000.0


def test_channels_outside_the_mask_hold_their_missing_values() -> None:
    block = make_block(10, cars=False)
    mask = channel_mask(["session_time_s", "speed_mps", "gear", "tyre_temp_c"])
    batch = decode_batch(encode_batch(TelemetryBatch(7, 1, block, mask)))
    assert batch.channel_mask == mask
    np.testing.assert_array_equal(batch.block.frames["gear"], block.frames["gear"])
    assert within_half_precision(block.frames["tyre_temp_c"], batch.block.frames["tyre_temp_c"], 0.1).all()
    assert np.isnan(batch.block.frames["rpm"]).all()
    assert (batch.block.frames["lap"] == -1).all()
    assert batch.block.cars is None


def test_cars_absent_from_the_batch_stay_missing() -> None:
    block = make_block(4, cars=True)
    batch = decode_batch(encode_batch(TelemetryBatch(7, 1, block), include_cars=True))
    assert batch.block.cars is not None
    assert np.isnan(batch.block.cars["lap_dist_frac"][:, 24:]).all()
    assert (batch.block.cars["lap"][:, 24:] == -1).all()
    assert (batch.block.cars["lap"][:, :24] >= 11).all()
    assert batch.block.cars.shape == (4, MAX_CARS)


def test_a_whole_batch_is_small_on_the_wire() -> None:
    # Ten seconds at 60 Hz, every channel: the codec's reason to exist.
    wire = encode_batch(TelemetryBatch(7, 1, make_block(600, cars=False)), codec="zstd")
    assert len(wire) < 600 * 40


def test_header_is_read_without_decoding_the_body() -> None:
    wire = batch_bytes(car_id=9, seq=77, frames=5, codec="deflate", cars=True)
    parsed = decode_header(wire[:HEADER_SIZE])
    assert (parsed.version, parsed.codec, parsed.has_cars, parsed.car_id, parsed.seq, parsed.frame_count) == (
        1,
        1,
        True,
        9,
        77,
        5,
    )
    assert parsed.channel_mask == ALL_CHANNELS


def test_too_many_frames_is_too_large() -> None:
    wire = encode_batch(TelemetryBatch(7, 1, make_block(MAX_BATCH_FRAMES + 1, cars=False)))
    with refused(ErrorCode.TOO_LARGE):
        decode_batch(wire)
    with refused(ErrorCode.TOO_LARGE):
        decode_header(wire)
    assert len(decode_batch(wire, max_frames=MAX_BATCH_FRAMES + 1).block) == MAX_BATCH_FRAMES + 1
    with refused(ErrorCode.TOO_LARGE):
        decode_batch(batch_bytes(frames=11), max_frames=10)


def test_zero_frames_is_a_bad_batch() -> None:
    with refused(ErrorCode.BAD_BATCH):
        decode_batch(header(frames=0))


def test_a_batch_bigger_than_max_bytes_is_too_large() -> None:
    wire = batch_bytes(frames=60, codec="none")
    with refused(ErrorCode.TOO_LARGE):
        decode_batch(wire, max_bytes=len(wire) - 1)
    assert decode_batch(wire, max_bytes=len(wire)).seq == 1


def test_a_declared_body_beyond_max_raw_is_too_large() -> None:
    wire = batch_bytes(frames=60, codec="zstd")
    raw_length = decode_header(wire).raw_length
    with refused(ErrorCode.TOO_LARGE):
        decode_batch(wire, max_raw=raw_length - 1)


def _peak_bytes_of(call: Any) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


BOMB_BYTES = 200_000_000
"""What the bombs below expand to: far over MAX_RAW_BYTES (16 MiB)."""


@pytest.fixture(scope="module")
def deflate_bomb() -> bytes:
    compressor = zlib.compressobj(9)
    chunk = bytes(1_000_000)
    return b"".join(compressor.compress(chunk) for _ in range(BOMB_BYTES // len(chunk))) + compressor.flush()


@pytest.fixture(scope="module")
def zstd_bomb() -> bytes:
    compressor = zstandard.ZstdCompressor(level=19).compressobj(size=BOMB_BYTES)
    chunk = bytes(1_000_000)
    return b"".join(compressor.compress(chunk) for _ in range(BOMB_BYTES // len(chunk))) + compressor.flush()


def test_deflate_bomb_is_refused_without_inflating_it(deflate_bomb: bytes) -> None:
    assert len(deflate_bomb) < 300_000
    wire = header(flags=1, frames=6, raw_length=2000) + deflate_bomb

    def decode() -> None:
        with refused(ErrorCode.BAD_BATCH):
            decode_batch(wire)

    assert _peak_bytes_of(decode) < 4_000_000


def test_zstd_bomb_declaring_its_size_is_too_large_without_decompressing(zstd_bomb: bytes) -> None:
    assert zstandard.frame_content_size(zstd_bomb) == BOMB_BYTES
    honest = header(flags=2, raw_length=BOMB_BYTES) + zstd_bomb

    def decode_honest() -> None:
        with refused(ErrorCode.TOO_LARGE):
            decode_batch(honest)

    assert _peak_bytes_of(decode_honest) < 4_000_000


def test_zstd_bomb_lying_about_its_size_is_refused_without_decompressing(zstd_bomb: bytes) -> None:
    lying = header(flags=2, raw_length=2000) + zstd_bomb

    def decode_lying() -> None:
        with refused(ErrorCode.BAD_BATCH):
            decode_batch(lying)

    assert _peak_bytes_of(decode_lying) < 4_000_000


def test_zstd_body_without_a_content_size_is_refused() -> None:
    wire = batch_bytes(frames=6, codec="zstd")
    raw = zstandard.ZstdDecompressor().decompress(wire[HEADER_SIZE:])
    streamed = zstandard.ZstdCompressor(write_content_size=False).compress(raw)
    with refused(ErrorCode.BAD_BATCH):
        decode_batch(wire[:HEADER_SIZE] + streamed)


def test_unknown_version_is_unsupported() -> None:
    wire = bytearray(batch_bytes())
    wire[2] = 2
    with refused(ErrorCode.UNSUPPORTED_VERSION):
        decode_batch(bytes(wire))
    with refused(ErrorCode.UNSUPPORTED_VERSION):
        decode_header(bytes(wire))


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("shorter than a header", b"PB\x01\x02"),
        ("wrong magic", b"XX" + header()[2:]),
        ("unknown codec", header(flags=3)),
        ("unknown flag bits", header(flags=2 | 0x40)),
        ("no channels", header(mask=0)),
        ("channels that do not exist", header(mask=ALL_CHANNELS + 1)),
    ],
)
def test_malformed_headers_are_bad_batches(name: str, data: bytes) -> None:
    with refused(ErrorCode.BAD_BATCH):
        decode_batch(data + bytes(64))


@pytest.mark.parametrize("codec", CODECS)
def test_truncated_batches_are_bad_batches(codec: str) -> None:
    wire = batch_bytes(frames=12, codec=codec, cars=True)
    for cut in (HEADER_SIZE, HEADER_SIZE + 1, len(wire) // 2, len(wire) - 1):
        with refused(ErrorCode.BAD_BATCH):
            decode_batch(wire[:cut])


def test_a_body_that_ends_early_or_runs_on_is_a_bad_batch() -> None:
    mask = channel_mask(["speed_mps"])
    wire = encode_batch(TelemetryBatch(7, 1, make_block(4, cars=False), mask), codec="none")
    raw = wire[HEADER_SIZE:]
    for body in (raw[:-1], raw + b"\x00"):
        with refused(ErrorCode.BAD_BATCH):
            decode_batch(header(flags=0, frames=4, mask=mask, raw_length=len(body)) + body)


def test_a_column_of_unknown_width_is_a_bad_batch() -> None:
    mask = channel_mask(["speed_mps"])
    body = bytes((3,)) + bytes(12)
    with refused(ErrorCode.BAD_BATCH):
        decode_batch(header(flags=0, frames=4, mask=mask, raw_length=len(body)) + body)


@pytest.mark.parametrize("codec", ["zstd", "deflate"])
def test_bytes_after_the_compressed_body_are_refused(codec: str) -> None:
    wire = batch_bytes(frames=6, codec=codec)
    with refused(ErrorCode.BAD_BATCH):
        decode_batch(wire + b"junk that is not part of any batch" * 100)


def test_encoder_refuses_what_it_cannot_write() -> None:
    block = make_block(2, cars=False)
    with pytest.raises(ValueError, match="codec"):
        encode_batch(TelemetryBatch(7, 1, block), codec="lz4")
    with pytest.raises(ValueError):
        TelemetryBatch(70_000, 1, block)
    with pytest.raises(ValueError):
        TelemetryBatch(7, 1, block, channel_mask=0)
    with pytest.raises(ValueError):
        TelemetryBatch(7, 1, FrameBlock(block.frames[:0]))


# ------------------------------------------------------------------------------------------ messages


@pytest.mark.parametrize("kind", list(MessageType))
def test_every_message_type_round_trips(kind: MessageType) -> None:
    sent = Envelope(kind, "m-17", SAMPLE_DATA[kind])
    text = encode_message(sent)
    assert json.loads(text) == {"type": kind.value, "id": "m-17", "data": dict(SAMPLE_DATA[kind])}
    received = decode_message(text)
    assert received == Envelope(kind, "m-17", dict(SAMPLE_DATA[kind]))
    assert decode_message(text.encode()) == received


def test_every_message_type_has_a_schema() -> None:
    assert set(SCHEMAS) == set(MessageType)


@pytest.mark.parametrize("kind", list(MessageType))
def test_unknown_fields_are_refused(kind: MessageType) -> None:
    with refused(ErrorCode.BAD_FIELD):
        decode_message(envelope_text(kind.value, {**SAMPLE_DATA[kind], "admin": True}))
    with refused(ErrorCode.BAD_FIELD):
        encode_message(Envelope(kind, "", {**SAMPLE_DATA[kind], "admin": True}))


@pytest.mark.parametrize(
    ("kind", "name"), [(k, n) for k, schema in SCHEMAS.items() for n, spec in schema.items() if spec.required]
)
def test_required_fields_are_required(kind: MessageType, name: str) -> None:
    data = {k: v for k, v in SAMPLE_DATA[kind].items() if k != name}
    with refused(ErrorCode.BAD_FIELD):
        decode_message(envelope_text(kind.value, data))
    with refused(ErrorCode.BAD_FIELD):
        decode_message(envelope_text(kind.value, {**data, name: None}))


@pytest.mark.parametrize(
    ("kind", "name"),
    [(k, n) for k, schema in SCHEMAS.items() for n, spec in schema.items() if int in spec.kinds],
)
def test_bools_are_not_numbers(kind: MessageType, name: str) -> None:
    for value in (True, False):
        with refused(ErrorCode.BAD_FIELD):
            decode_message(envelope_text(kind.value, {**SAMPLE_DATA[kind], name: value}))


@pytest.mark.parametrize(
    ("kind", "name"),
    [(k, n) for k, schema in SCHEMAS.items() for n, spec in schema.items() if spec.kinds == (bool,)],
)
def test_numbers_are_not_bools(kind: MessageType, name: str) -> None:
    for value in (0, 1, "true"):
        with refused(ErrorCode.BAD_FIELD):
            decode_message(envelope_text(kind.value, {**SAMPLE_DATA[kind], name: value}))


def test_floats_are_not_ints() -> None:
    with refused(ErrorCode.BAD_FIELD):
        decode_message(envelope_text("ack", {"seq": 1.5}))
    with refused(ErrorCode.BAD_FIELD):
        decode_message(envelope_text("ack", {"car_id": "7"}))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_literals_are_refused_everywhere(literal: str) -> None:
    top = raw_message("ai_coaching", '{"message":"x","distance":' + literal + "}")
    nested = raw_message("session_info", '{"session":{"fuel":[1.0,' + literal + "]}}")
    for text in (top, nested):
        with refused(ErrorCode.BAD_JSON):
            decode_message(text)


def test_overflowing_numbers_are_refused_in_fields() -> None:
    with refused(ErrorCode.BAD_JSON):
        decode_message('{"type":"ai_coaching","id":"","data":{"message":"x","distance":1e999}}')


def test_overflowing_numbers_are_refused_inside_free_form_objects() -> None:
    with pytest.raises(ProtocolError):
        decode_message('{"type":"session_info","id":"","data":{"session":{"fuel_l":1e999}}}')


def test_nan_is_never_written() -> None:
    with refused(ErrorCode.BAD_FIELD):
        encode_message(Envelope(MessageType.AI_COACHING, "", {"message": "x", "distance": float("nan")}))
    with pytest.raises(ValueError):
        encode_message(Envelope(MessageType.SESSION_INFO, "", {"session": {"x": float("inf")}}))


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", ErrorCode.BAD_JSON),
        ("{", ErrorCode.BAD_JSON),
        ("{'type': 'ack'}", ErrorCode.BAD_JSON),
        ('{"type":"ack","id":"","data":{}} trailing', ErrorCode.BAD_JSON),
        ("[" * 10_000 + "]" * 10_000, ErrorCode.BAD_JSON),
        ('["ack"]', ErrorCode.BAD_ENVELOPE),
        ("null", ErrorCode.BAD_ENVELOPE),
        ('{"type":"ack","id":"","data":{},"extra":1}', ErrorCode.BAD_ENVELOPE),
        ('{"id":"","data":{}}', ErrorCode.BAD_ENVELOPE),
        ('{"type":7,"id":"","data":{}}', ErrorCode.BAD_ENVELOPE),
        ('{"type":"ack","id":7,"data":{}}', ErrorCode.BAD_ENVELOPE),
        (raw_message("ack", "{}", message_id="x" * (MAX_ID_CHARS + 1)), ErrorCode.BAD_ENVELOPE),
        ('{"type":"ack","id":"","data":[]}', ErrorCode.BAD_ENVELOPE),
        ('{"type":"ack","id":"","data":null}', ErrorCode.BAD_ENVELOPE),
        ('{"type":"shutdown","id":"","data":{}}', ErrorCode.UNKNOWN_TYPE),
        ('{"type":"ACK","id":"","data":{}}', ErrorCode.UNKNOWN_TYPE),
    ],
)
def test_broken_envelopes_get_their_codes(text: str, code: ErrorCode) -> None:
    with refused(code):
        decode_message(text)


def test_invalid_utf8_is_bad_json() -> None:
    with refused(ErrorCode.BAD_JSON):
        decode_message(b'{"type":"ack","id":"\xff\xfe","data":{}}')


def test_id_and_data_may_be_left_out() -> None:
    assert decode_message('{"type":"ack"}') == Envelope(MessageType.ACK, "", {})


def test_a_message_over_the_size_limit_is_too_large() -> None:
    text = envelope_text("team_message", {"text": "x" * MAX_MESSAGE_BYTES})
    with refused(ErrorCode.TOO_LARGE):
        decode_message(text)
    multibyte = raw_message("team_message", '{"text":"' + "é" * (MAX_MESSAGE_BYTES // 2) + '"}')
    assert len(multibyte) < MAX_MESSAGE_BYTES < len(multibyte.encode())
    with refused(ErrorCode.TOO_LARGE):
        decode_message(multibyte)


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("team_message", {"text": "x" * (MAX_TEXT_CHARS + 1)}),
        ("team_message", {"text": "x", "priority": "critical"}),
        ("handoff_request", {"action": "steal"}),
        ("handoff_request", {"action": "request", "car_id": 65536}),
        ("handoff_request", {"action": "request", "car_id": -1}),
        ("ai_coaching", {"message": "x", "priority": 101}),
        ("subscribe", {"rate_hz": 0.0}),
        ("subscribe", {"rate_hz": 61}),
        ("subscribe", {"codec": "none"}),
        ("subscribe", {"cars": 7}),
        ("ack", {"seq": 2**32}),
        ("error", {"code": "oops", "message": "x"}),
        ("authenticate", {"token": "t" * 257}),
        ("authentication_result", {"ok": True, "role": "admin"}),
        ("video_segment_ready", {"segment_id": "s", "start_s": 0, "end_s": "1"}),
        ("video_segment_ready", {"segment_id": "s", "start_s": 0, "end_s": 1, "bytes": -1}),
        ("session_info", {"session": "not an object"}),
        ("stint_plan", {"plan": []}),
        ("telemetry_update", {"car_id": 7, "telemetry": [1, 2]}),
    ],
)
def test_out_of_range_and_wrongly_typed_fields_are_bad_fields(kind: str, data: dict[str, Any]) -> None:
    with refused(ErrorCode.BAD_FIELD):
        decode_message(envelope_text(kind, data))


def test_error_messages_are_valid_and_bounded() -> None:
    text = error_message(ProtocolError(ErrorCode.FORBIDDEN, "no " * 1000), ref="r" * 200)
    message = decode_message(text)
    assert message.type is MessageType.ERROR and message.data["code"] == "forbidden"
    assert len(message.data["message"]) == MAX_TEXT_CHARS
    assert len(message.data["ref"]) == MAX_ID_CHARS


def test_protocol_error_carries_code_and_safe_message() -> None:
    error = ProtocolError(ErrorCode.CONFLICT, "handoff h1 is completed")
    assert error.code is ErrorCode.CONFLICT and error.message == "handoff h1 is completed"
    assert str(error) == "conflict: handoff h1 is completed"


# ------------------------------------------------------------------------------------------ fuzz

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=16,
)
envelopes = st.fixed_dictionaries(
    {"type": st.sampled_from([t.value for t in MessageType]) | st.text(max_size=12)},
    optional={
        "id": st.text(max_size=70) | json_values,
        "data": st.dictionaries(
            st.sampled_from(sorted({n for s in SCHEMAS.values() for n in s})) | st.text(max_size=8),
            json_values,
            max_size=6,
        ),
        "extra": json_values,
    },
).map(json.dumps)


def _decode_message_or_protocol_error(payload: str | bytes) -> None:
    try:
        message = decode_message(payload)
    except ProtocolError as error:
        assert isinstance(error.code, ErrorCode) and error.message
    else:
        assert isinstance(message.type, MessageType)


@settings(max_examples=1500, deadline=None)
@given(st.text(max_size=400) | st.binary(max_size=400) | json_values.map(json.dumps) | envelopes)
def test_decode_message_raises_only_protocol_errors(payload: str | bytes) -> None:
    _decode_message_or_protocol_error(payload)


BASE_BATCHES = [batch_bytes(frames=n, codec=c, cars=cars) for c in CODECS for n, cars in ((1, False), (9, True))]


@st.composite
def mangled_batches(draw: st.DrawFn) -> bytes:
    wire = bytearray(draw(st.sampled_from(BASE_BATCHES)))
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(["cut", "flip", "set", "insert"]))
        position = draw(st.integers(0, max(0, len(wire) - 1)))
        if operation == "cut":
            del wire[position:]
        elif operation == "flip" and wire:
            wire[position] ^= 1 << draw(st.integers(0, 7))
        elif operation == "set" and wire:
            wire[position] = draw(st.integers(0, 255))
        else:
            wire[position:position] = draw(st.binary(min_size=1, max_size=16))
    return bytes(wire)


@st.composite
def absurd_headers(draw: st.DrawFn) -> bytes:
    head = HEADER.pack(
        b"PB",
        draw(st.sampled_from([1, 1, 1, 0, 2, 255])),
        draw(st.integers(0, 255)),
        draw(st.integers(0, 0xFFFF)),
        draw(st.integers(0, 0xFFFFFFFF)),
        draw(st.sampled_from([1, 2, 600, 601, 0xFFFF]) | st.integers(0, 0xFFFF)),
        draw(st.sampled_from([ALL_CHANNELS, 1, 1 << 63, 2**64 - 1]) | st.integers(0, 2**64 - 1)),
        draw(st.sampled_from([0, 1, 2**24, 2**32 - 1]) | st.integers(0, 2**32 - 1)),
    )
    body = draw(st.sampled_from([b[HEADER_SIZE:] for b in BASE_BATCHES]) | st.binary(max_size=200))
    return head + body


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600) | mangled_batches() | absurd_headers())
def test_decode_batch_raises_only_protocol_errors(data: bytes) -> None:
    try:
        batch = decode_batch(data)
    except ProtocolError as error:
        assert isinstance(error.code, ErrorCode) and error.message
    else:
        assert 1 <= len(batch.block) <= MAX_BATCH_FRAMES
        assert batch.block.frames.dtype.names == tuple(c.name for c in CHANNELS)


def test_header_layout_is_24_bytes_little_endian() -> None:
    assert HEADER_SIZE == 24
    wire = batch_bytes(car_id=0x0102, seq=0x03040506, frames=3)
    assert wire[:4] == b"PB\x01\x02"
    assert struct.unpack_from("<HIH", wire, 4) == (0x0102, 0x03040506, 3)


def test_batches_encode_and_decode_the_same_from_several_threads_at_once() -> None:
    # Two driver pipelines in one process once crashed inside zstd: its contexts are per thread now.
    import threading

    blocks = [make_block(60, start_s=100.0 + i) for i in range(8)]
    expected = [
        encode_batch(TelemetryBatch(7, i, block), codec="zstd", include_cars=True) for i, block in enumerate(blocks)
    ]
    failures: list[str] = []

    def work() -> None:
        for _ in range(40):
            for i, block in enumerate(blocks):
                data = encode_batch(TelemetryBatch(7, i, block), codec="zstd", include_cars=True)
                if data != expected[i] or decode_batch(data).seq != i:
                    failures.append(f"batch {i} differs")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
