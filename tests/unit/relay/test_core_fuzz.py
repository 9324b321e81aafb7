"""Bad input: generated malformed messages and batches never break the relay for anyone else.

Each test throws one family of malformed input (hypothesis) at a `RelayCore` that also serves a
well-behaved engineer and a viewer. Every input must be answered to its sender alone, with a typed
`error` and/or a `Close` with a reason: no exception, no `Persist`, nothing sent to anyone else; the
viewer still gets the engineer's next broadcast; closed clients leave `core.clients`; and the
core's memory does not grow with the number of inputs. The example counts add up to
`TOTAL_EXAMPLES` (>= 10,000); floods send many inputs per example.

The last tests pin bad inputs that once broke the relay.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import zstandard
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from relay.core import Close, RelayCore, Send
from relay.protocol import (
    ALL_CHANNELS,
    HEADER,
    HEADER_SIZE,
    MAX_ID_CHARS,
    MAX_MESSAGE_BYTES,
    MAX_TEXT_CHARS,
    SCHEMAS,
    ErrorCode,
    MessageType,
    ProtocolError,
    decode_batch,
    decode_message,
)
from tests.support.relay import (
    DRIVER_CAR,
    OTHER_CAR,
    SAMPLE_DATA,
    batch_bytes,
    drive,
    join,
    make_core,
    messages_to,
    raw_message,
)

ATTACKER_TOKENS: dict[str, str | None] = {
    "anonymous": None,
    "driver": "tok-dan",
    "engineer": "tok-ed",
    "viewer": "tok-vic",
}
ERROR_CODES = frozenset(code.value for code in ErrorCode)
MEMORY_BOUND_BYTES = 1024 * 1024
"""Growth allowed over a whole replay (a clean run grows by ~30 kB; a leak of 1 kB per input would not fit)."""
SETTINGS: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
}
EXAMPLES = {
    "text": 1500,
    "json": 1500,
    "wrong_types": 2000,
    "oversize": 300,
    "mangled_batches": 1800,
    "random_bytes": 1200,
    "absurd_headers": 1500,
    "floods": 300,
}
TOTAL_EXAMPLES = sum(EXAMPLES.values())


class Harness:
    """A core with a well-behaved engineer and viewer, and one attacker connection per role."""

    def __init__(self) -> None:
        self.core: RelayCore = make_core()
        self.now = 0.0
        self.inputs = 0
        self.reconnects = 0
        join(self.core, "good-eve", "tok-eve")
        join(self.core, "good-vic", "tok-vic", subscribe={})

    def attacker(self, role: str) -> str:
        client = f"attacker-{role}"
        if client not in self.core.clients:
            self.reconnects += 1
            join(self.core, client, ATTACKER_TOKENS[role], self.now)
        return client

    def would_accept(self, role: str, payload: str | bytes) -> bool:
        """Whether the core would take `payload` as a valid message (those are not malformed input)."""
        if isinstance(payload, str):
            try:
                decode_message(payload)
            except ProtocolError:
                return False
            return True
        if role != "driver":
            return False
        try:
            return decode_batch(payload).car_id == DRIVER_CAR
        except ProtocolError:
            return False

    def attack(self, role: str, payloads: list[str | bytes], *, spacing_s: float = 0.05) -> None:
        client = self.attacker(role)
        for payload in payloads:
            self.now += spacing_s
            self.inputs += 1
            actions = self.core.receive(client, payload, self.now)
            assert actions, "every malformed input is answered"
            closed = False
            for action in actions:
                assert not closed, "nothing after the Close"
                if isinstance(action, Close):
                    assert action.client_id == client and action.reason.strip(), action
                    closed = True
                    continue
                assert isinstance(action, Send), f"{action!r} for malformed input"
                assert action.client_id == client, f"sent to {action.client_id}"
                assert isinstance(action.payload, str)
                answer = decode_message(action.payload)
                assert answer.type is MessageType.ERROR and answer.data["code"] in ERROR_CODES
            if closed:
                assert client not in self.core.clients, "a closed client is forgotten"
                break
        self.check_others_served()

    def check_others_served(self) -> None:
        self.now += 0.05
        for action in self.core.tick(self.now):
            assert isinstance(action, Close) and action.client_id == "attacker-anonymous", action
        strategy = {"car_id": OTHER_CAR, "strategy": {"pit_lap": int(self.now) % 100}}
        actions = drive(self.core, "good-eve", ("strategy_update", strategy), self.now)
        (update,) = messages_to(actions, "good-vic")
        assert update.type is MessageType.STRATEGY_UPDATE and update.data == strategy
        assert len(self.core.clients) <= 2 + len(ATTACKER_TOKENS)


@contextmanager
def bounded_memory(harness: Harness) -> Iterator[None]:
    """The inputs sent inside leave the core's memory within MEMORY_BOUND_BYTES of where it started."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        yield
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < MEMORY_BOUND_BYTES, f"memory grew by {grown / 1e6:.1f} MB"


def run_fuzz(name: str, inputs: st.SearchStrategy[tuple[str, list[str | bytes]]], *, spacing_s: float = 0.05) -> None:
    """Throw EXAMPLES[name] generated inputs at one core, then all of them once more under tracemalloc.

    (Tracing the hypothesis run itself would measure hypothesis and cost five times the time; the
    replay goes through the same core and the same checks, so a leak per input shows as well.)
    """
    harness = Harness()
    seen: list[tuple[str, list[str | bytes]]] = []

    @settings(max_examples=EXAMPLES[name], **SETTINGS)
    @given(inputs)
    def attack(example: tuple[str, list[str | bytes]]) -> None:
        role, payloads = example
        assume(not any(harness.would_accept(role, p) for p in payloads))
        harness.attack(role, payloads, spacing_s=spacing_s)
        seen.append(example)

    attack()
    assert len(seen) >= EXAMPLES[name]
    with bounded_memory(harness):
        for role, payloads in seen:
            harness.attack(role, payloads, spacing_s=spacing_s)
    core = harness.core
    assert len(core.clients) <= 2 + len(ATTACKER_TOKENS)
    assert {"good-eve", "good-vic"} <= set(core.clients)
    assert core.counters["batches"] == 0 and core.last_seq == {}, "nothing malformed was taken for telemetry"
    assert core.handoffs == {} and core.messages == {} and core.session_info == {}


roles = st.sampled_from(list(ATTACKER_TOKENS))


def one(payloads: st.SearchStrategy[Any], role: st.SearchStrategy[str] = roles) -> st.SearchStrategy[Any]:
    return st.tuples(role, payloads.map(lambda p: [p]))


# ------------------------------------------------------------------------------------------ strategies

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
type_names = st.sampled_from([t.value for t in MessageType]) | st.text(max_size=15)
field_names = st.sampled_from(sorted({n for schema in SCHEMAS.values() for n in schema})) | st.text(max_size=10)
json_ish = st.text(alphabet='{}[]":,.-+0123456789eEtruefalsnNIiy \\/', max_size=200)


@st.composite
def random_json(draw: st.DrawFn) -> str:
    shape = draw(st.sampled_from(["value", "envelope"]))
    if shape == "value":
        return json.dumps(draw(json_values))
    obj: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        obj["type"] = draw(type_names | json_values)
    if draw(st.booleans()):
        obj["id"] = draw(st.text(max_size=70) | json_values)
    if draw(st.booleans()):
        obj["data"] = draw(st.dictionaries(field_names, json_values, max_size=6) | json_values)
    if draw(st.integers(0, 5)) == 0:
        obj[draw(st.text(max_size=8))] = draw(json_values)
    return json.dumps(obj)


WRONG_VALUES = st.sampled_from(
    [True, False, None, 0, 1, -1, 2**32, 2**64, 1.5, -0.0, 1e308, "", "x", "7", "driver", [], [1, "a"], {}, {"a": 1}]
)


@st.composite
def wrong_types(draw: st.DrawFn) -> str:
    """A valid message of some type with one field broken (wrong type, range, choice, length, name)."""
    kind = draw(st.sampled_from(list(MessageType)))
    data: dict[str, Any] = dict(SAMPLE_DATA[kind])
    schema = SCHEMAS[kind]
    how = draw(st.sampled_from(["value", "value", "value", "unknown", "missing", "long", "id"]))
    message_id: Any = "m-1"
    if how == "value":
        data[draw(st.sampled_from(sorted(schema)))] = draw(WRONG_VALUES | json_values)
    elif how == "unknown":
        data[draw(st.text(min_size=1, max_size=20).filter(lambda n: n not in schema))] = draw(json_values)
    elif how == "missing":
        required = [n for n, spec in schema.items() if spec.required] or sorted(schema)
        data.pop(draw(st.sampled_from(required)), None)
        data[draw(st.sampled_from(sorted(schema)))] = draw(WRONG_VALUES)
    elif how == "long":
        name = draw(st.sampled_from([n for n, spec in schema.items() if str in spec.kinds] or sorted(schema)))
        data[name] = "w" * draw(st.integers(min_value=schema[name].max_chars + 1, max_value=5000))
    else:
        message_id = draw(WRONG_VALUES | st.just("i" * (MAX_ID_CHARS + 1)))
    return json.dumps({"type": kind.value, "id": message_id, "data": data})


@st.composite
def oversize(draw: st.DrawFn) -> str:
    size = draw(st.sampled_from([MAX_TEXT_CHARS + 1, MAX_MESSAGE_BYTES - 40, MAX_MESSAGE_BYTES + 1, 300_000]))
    filler = draw(st.sampled_from(["a", "é", "€", "\U0001f3ce", "\\u0000", '\\"']))
    where = draw(st.sampled_from(["text", "id", "key", "number", "nesting", "raw"]))
    body = filler * (size // len(filler.encode()))
    if where == "text":
        return raw_message("team_message", '{"text":"' + body + '"}')
    if where == "id":
        return raw_message("ack", "{}", message_id=body)
    if where == "key":
        return raw_message("ack", '{"' + body + '":1}')
    if where == "number":
        return raw_message("ack", '{"seq":' + "9" * min(size, MAX_MESSAGE_BYTES - 60) + "}")
    if where == "nesting":
        depth = min(size, MAX_MESSAGE_BYTES) // 2 - 40
        return raw_message("session_info", '{"session":' + "[" * depth + "]" * depth + "}")
    return body


BASE_BATCHES = [
    batch_bytes(car, seq, frames=frames, codec=codec, cars=cars)
    for car in (DRIVER_CAR, OTHER_CAR)
    for codec in ("zstd", "deflate", "none")
    for seq, frames, cars in ((1, 1, False), (2**32 - 1, 12, True))
]


@st.composite
def mangled_batches(draw: st.DrawFn) -> bytes:
    """A real batch cut short, bit-flipped, overwritten or spliced."""
    wire = bytearray(draw(st.sampled_from(BASE_BATCHES)))
    for _ in range(draw(st.integers(1, 3))):
        operation = draw(st.sampled_from(["cut", "flip", "flip", "set", "insert", "header"]))
        if operation == "header":
            position = draw(st.integers(0, HEADER_SIZE - 1))
        else:
            position = draw(st.integers(0, max(0, len(wire) - 1)))
        if operation == "cut":
            del wire[position:]
        elif operation in ("flip", "header") and position < len(wire):
            wire[position] ^= 1 << draw(st.integers(0, 7))
        elif operation == "set" and position < len(wire):
            wire[position] = draw(st.integers(0, 255))
        else:
            wire[position:position] = draw(st.binary(min_size=1, max_size=16))
    return bytes(wire)


ZEROS_DEFLATE = zlib.compress(bytes(20_000_000), 9)
ZEROS_ZSTD = zstandard.ZstdCompressor().compress(bytes(20_000_000))


@st.composite
def absurd_headers(draw: st.DrawFn) -> bytes:
    """A batch header with absurd frame counts, masks, flags or declared lengths over some body."""
    flags = draw(st.sampled_from([0, 1, 2, 2 | 4, 1 | 4]) | st.integers(0, 255))
    head = HEADER.pack(
        draw(st.sampled_from([b"PB", b"PB", b"PB", b"BP", b"\x00\x00"])),
        draw(st.sampled_from([1, 1, 1, 0, 2, 255])),
        flags,
        draw(st.sampled_from([DRIVER_CAR, DRIVER_CAR, OTHER_CAR, 0xFFFF])),
        draw(st.integers(0, 2**32 - 1)),
        draw(st.sampled_from([0, 1, 12, 600, 601, 0xFFFF]) | st.integers(0, 0xFFFF)),
        draw(st.sampled_from([ALL_CHANNELS, 0, 1, ALL_CHANNELS + 1, 1 << 63, 2**64 - 1]) | st.integers(0, 2**64 - 1)),
        draw(st.sampled_from([0, 1, 2**24, 16 * 2**20 + 1, 20_000_000, 2**32 - 1]) | st.integers(0, 2**32 - 1)),
    )
    body = draw(
        st.sampled_from([b[HEADER_SIZE:] for b in BASE_BATCHES] + [ZEROS_DEFLATE, ZEROS_ZSTD, b""])
        | st.binary(max_size=300)
    )
    return head + body


flood_payloads = st.sampled_from(
    [
        "",
        "{",
        '{"type":"nope"}',
        '{"type":"ack","id":7}',
        b"",
        b"PB\x01",
        BASE_BATCHES[0][:-3],
        # Valid messages the attacker's role may not send: refused one by one, too.
        '{"type":"stint_plan","id":"","data":{"plan":{}}}',
        '{"type":"connection_established","id":"","data":{"relay":"r","protocol":1,"client_id":"c"}}',
    ]
)


@st.composite
def floods(draw: st.DrawFn) -> tuple[str, list[str | bytes]]:
    """Many inputs at the same instant: rate limits, then the close, must hold."""
    role = draw(st.sampled_from(["anonymous", "viewer", "driver"]))
    pool = draw(st.lists(flood_payloads, min_size=1, max_size=4))
    count = draw(st.integers(10, 250))
    payloads: list[str | bytes] = [pool[i % len(pool)] for i in range(count)]
    return role, payloads


# ------------------------------------------------------------------------------------------ tests


def test_example_counts_add_up_to_ten_thousand_inputs() -> None:
    assert TOTAL_EXAMPLES >= 10_000


def test_arbitrary_text_is_refused_or_closed() -> None:
    run_fuzz("text", one(st.text(max_size=300) | json_ish))


def test_random_json_structures_are_refused_or_closed() -> None:
    run_fuzz("json", one(random_json()))


def test_valid_envelopes_with_wrong_fields_are_refused_or_closed() -> None:
    run_fuzz("wrong_types", one(wrong_types()))


def test_oversize_messages_are_refused_or_closed() -> None:
    run_fuzz("oversize", one(oversize()))


def test_truncated_and_bit_flipped_batches_are_refused_or_closed() -> None:
    run_fuzz("mangled_batches", one(mangled_batches(), st.sampled_from(["driver", "driver", "driver", "viewer"])))


def test_random_bytes_are_refused_or_closed() -> None:
    run_fuzz("random_bytes", one(st.binary(max_size=500) | st.binary(max_size=200).map(lambda b: b"PB\x01" + b)))


def test_batches_with_absurd_headers_are_refused_or_closed() -> None:
    run_fuzz("absurd_headers", one(absurd_headers(), st.sampled_from(["driver", "driver", "driver", "anonymous"])))


def test_floods_are_rate_limited_then_closed() -> None:
    run_fuzz("floods", floods(), spacing_s=0.0)


def test_a_flood_closes_its_sender_with_a_reason_after_max_errors() -> None:
    harness = Harness()
    client = harness.attacker("viewer")
    answers = [harness.core.receive(client, "{", 1.0) for _ in range(21)]
    assert all(len(a) == 1 for a in answers[:20])
    close = answers[20][-1]
    assert isinstance(close, Close) and "too many refused messages" in close.reason
    assert client not in harness.core.clients
    harness.check_others_served()


# ------------------------------------------------------------------------------------------ known breakages


def viewer_and_driver() -> RelayCore:
    core = make_core()
    join(core, "dan", "tok-dan")
    join(core, "vic", "tok-vic")
    return core


def test_subscribe_with_a_null_rate_is_handled() -> None:
    core = viewer_and_driver()
    actions = drive(core, "vic", ("subscribe", {"rate_hz": None}))
    assert [m.type for m in messages_to(actions, "vic")] in ([MessageType.ACK], [MessageType.ERROR])


def test_subscribe_with_a_null_codec_does_not_break_the_drivers_publishing() -> None:
    core = viewer_and_driver()
    drive(core, "vic", ("subscribe", {"codec": None}))
    actions = core.receive("dan", batch_bytes(seq=1), 2.0)
    assert len([a for a in actions if isinstance(a, Send) and a.client_id == "dan"]) == 1


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("session_info", '{"session":{"fuel_l":1e999}}'),
        ("telemetry_update", '{"car_id":7,"telemetry":{"speed_mps":-1e999}}'),
        ("strategy_update", '{"strategy":{"pit_lap":1e400}}'),
    ],
)
def test_an_overflowing_number_in_a_free_form_object_is_refused(kind: str, data: str) -> None:
    core = viewer_and_driver()
    actions = core.receive("dan", raw_message(kind, data), 1.0)
    assert [m.data["code"] for m in messages_to(actions, "dan")] == ["bad_json"]


def test_deeply_nested_objects_never_raise_out_of_receive() -> None:
    core = viewer_and_driver()
    # Steps, not every depth: the client is (rightly) closed after `max_errors` refusals.
    for depth in range(600, 1200, 40):
        text = raw_message("session_info", '{"session":{"x":' + "[" * depth + "]" * depth + "}}")
        actions = core.receive("dan", text, float(depth))
        assert actions


def test_rate_groups_do_not_outlive_their_subscribers() -> None:
    core = viewer_and_driver()
    for i in range(500):
        drive(core, "vic", ("subscribe", {"rate_hz": 1.0 + i / 1000}), now_s=float(i))
    core.disconnect("vic", 600.0)
    assert not core.has_rate_groups
