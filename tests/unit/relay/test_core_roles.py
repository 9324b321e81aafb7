"""The relay's role matrix and routing rules, through `RelayCore.receive` and `tick` with a fake clock.

Every message type (and the binary telemetry batch) is sent by an anonymous client, a driver, an
engineer and a viewer; the expected outcome of each pair is written out in `EXPECTED`. Then the
rules around it: drivers speak only for their own car, viewers never publish or touch a handoff,
the handoff flow from request to completion, duplicate batches, fan-out of the driver's bytes,
conflation for slow subscribers, and the limits that close abusive connections.
"""

from __future__ import annotations

import enum
import math
from typing import Any

import pytest

from relay.core import CLOSE_AUTH_FAILED, CLOSE_AUTH_TIMEOUT, CLOSE_POLICY, Close, Persist, RelayCore, Send
from relay.protocol import HANDOFF_ACTIONS, ErrorCode, MessageType, Role, decode_batch, decode_message
from tests.support.relay import (
    DRIVER_CAR,
    OTHER_CAR,
    ROLE_TOKENS,
    SAMPLE_DATA,
    batch_bytes,
    batches_to,
    closes,
    drive,
    error_codes,
    frame_times,
    join,
    make_core,
    messages_to,
    persists,
    recipients,
    sends,
    state_changes,
)

BATCH = "telemetry_batch"
"""The binary telemetry batch, as its own row of the matrix."""
SENDER = "sender"
OBSERVERS = ("obs-bob", "obs-eve", "obs-val")
"""Authenticated clients subscribed to every car at the full rate: Bob drives car 7, Eve engineers, Val views."""
EVERYONE = frozenset({SENDER, *OBSERVERS})


class Effect(enum.Enum):
    """What an allowed message does."""

    AUTHENTICATED = "the sender alone gets authentication_result ok"
    SUBSCRIBED = "the sender alone gets an ack"
    NOTHING = "nothing happens"
    BROADCAST = "persisted, then sent to every authenticated client"
    RECORDED = "persisted, state saved, then sent to every authenticated client"
    FORWARDED = "persisted, then sent to every subscriber of the car but the sender"
    COACHED = "sent to the drivers of the car only, not persisted"
    PUBLISHED = "persisted, acknowledged to the driver, the same bytes to every subscriber"


Outcome = Effect | ErrorCode
NA, FORBIDDEN, CONFLICT = ErrorCode.NOT_AUTHENTICATED, ErrorCode.FORBIDDEN, ErrorCode.CONFLICT
U, D, E, V = None, Role.DRIVER, Role.ENGINEER, Role.VIEWER

EXPECTED: dict[str, dict[Role | None, Outcome]] = {
    "connection_established": {U: NA, D: FORBIDDEN, E: FORBIDDEN, V: FORBIDDEN},
    "authenticate": {U: Effect.AUTHENTICATED, D: CONFLICT, E: CONFLICT, V: CONFLICT},
    "authentication_result": {U: NA, D: FORBIDDEN, E: FORBIDDEN, V: FORBIDDEN},
    "telemetry_update": {U: NA, D: Effect.FORWARDED, E: FORBIDDEN, V: FORBIDDEN},
    "team_message": {U: NA, D: Effect.RECORDED, E: Effect.RECORDED, V: FORBIDDEN},
    "handoff_request": {U: NA, D: FORBIDDEN, E: Effect.RECORDED, V: FORBIDDEN},  # action "request"
    "ai_coaching": {U: NA, D: FORBIDDEN, E: Effect.COACHED, V: FORBIDDEN},
    "ack": {U: NA, D: Effect.NOTHING, E: Effect.NOTHING, V: Effect.NOTHING},
    "error": {U: NA, D: Effect.NOTHING, E: Effect.NOTHING, V: Effect.NOTHING},
    "subscribe": {U: NA, D: Effect.SUBSCRIBED, E: Effect.SUBSCRIBED, V: Effect.SUBSCRIBED},
    # The newest session, strategy and stint plan of each car are part of the saved state.
    "session_info": {U: NA, D: Effect.RECORDED, E: FORBIDDEN, V: FORBIDDEN},
    "strategy_update": {U: NA, D: Effect.RECORDED, E: Effect.RECORDED, V: FORBIDDEN},
    "stint_plan": {U: NA, D: FORBIDDEN, E: Effect.RECORDED, V: FORBIDDEN},
    "video_segment_ready": {U: NA, D: Effect.BROADCAST, E: FORBIDDEN, V: FORBIDDEN},
    BATCH: {U: NA, D: Effect.PUBLISHED, E: FORBIDDEN, V: FORBIDDEN},
}
"""Message kind x sender role (None: not authenticated) -> what the relay does."""

MATRIX_DATA: dict[str, dict[str, Any]] = {
    **{kind.value: dict(data) for kind, data in SAMPLE_DATA.items()},
    "team_message": {"text": "Box this lap", "priority": "high"},
    "subscribe": {"cars": [DRIVER_CAR], "telemetry": True},
    "ai_coaching": {"message": "Brake 5 m later into T1", "priority": 60, "car_id": DRIVER_CAR},
}
"""A valid message of each kind about car 7 (the sending driver's own car)."""


def matrix_core(role: Role | None) -> RelayCore:
    core = make_core()
    join(core, "obs-bob", "tok-bob", subscribe={})
    join(core, "obs-eve", "tok-eve", subscribe={})
    join(core, "obs-val", "tok-val", subscribe={})
    join(core, SENDER, None if role is None else ROLE_TOKENS[role])
    return core


def send_kind(core: RelayCore, kind: str) -> tuple[str | bytes, list[Any]]:
    if kind == BATCH:
        payload: str | bytes = batch_bytes(DRIVER_CAR, seq=5)
        return payload, core.receive(SENDER, payload, 1.0)
    data = MATRIX_DATA[kind]
    if kind == "authenticate":
        data = {"token": ROLE_TOKENS[Role.DRIVER]}
    actions = drive(core, SENDER, (kind, data), now_s=1.0, message_id="m-1")
    return "", actions


def assert_refused(actions: list[Any], code: ErrorCode) -> None:
    assert len(actions) == 1, actions
    (send,) = actions
    assert isinstance(send, Send) and send.client_id == SENDER
    message = decode_message(send.payload)
    assert message.type is MessageType.ERROR
    assert message.data["code"] == code.value


def assert_effect(effect: Effect, kind: str, payload: str | bytes, actions: list[Any]) -> None:
    sent = sends(actions)
    if effect is Effect.AUTHENTICATED:
        (result,) = messages_to(actions, SENDER)
        assert len(actions) == 1 and result.type is MessageType.AUTHENTICATION_RESULT
        assert result.data == {"ok": True, "role": "driver", "name": "Dan", "car_id": DRIVER_CAR}
    elif effect is Effect.SUBSCRIBED:
        assert len(actions) == 1
        assert [m.type for m in messages_to(actions, SENDER)] == [MessageType.ACK]
    elif effect is Effect.NOTHING:
        assert actions == []
    elif effect is Effect.COACHED:
        assert persists(actions) == [] and recipients(actions) == {"obs-bob"}
        (coaching,) = messages_to(actions, "obs-bob")
        assert coaching.type is MessageType.AI_COACHING and coaching.data == MATRIX_DATA[kind]
    elif effect is Effect.PUBLISHED:
        (persist,) = persists(actions)
        assert (persist.kind, persist.car_id, persist.payload) == ("telemetry", DRIVER_CAR, payload)
        (ack,) = messages_to(actions, SENDER)
        assert ack.type is MessageType.ACK and ack.data == {"seq": 5, "car_id": DRIVER_CAR}
        assert recipients(actions) == EVERYONE
        for observer in OBSERVERS:
            assert batches_to(actions, observer) == [payload]
        assert actions.index(persist) < actions.index(sends(actions, SENDER)[0])
    else:
        (persist,) = persists(actions)
        assert persist.kind == "control"
        assert (len(state_changes(actions)) == 1) is (effect is Effect.RECORDED)
        expected_to = set(OBSERVERS) if effect is Effect.FORWARDED else EVERYONE
        assert recipients(actions) == expected_to
        assert len(sent) == len(expected_to), "each recipient gets it once"
        assert len({s.payload for s in sent}) == 1, "every recipient gets the same text"
        text = sent[0].payload
        assert isinstance(text, str) and persist.payload == text.encode()
        delivered = decode_message(text)
        assert delivered.type.value == kind
        if kind != "team_message" and kind != "handoff_request":  # the relay rewrites those (ids, status)
            assert dict(delivered.data) == MATRIX_DATA[kind]
        assert actions.index(persist) < actions.index(sent[0])


def test_the_matrix_covers_every_message_type_and_role() -> None:
    assert set(EXPECTED) == {t.value for t in MessageType} | {BATCH}
    assert all(set(row) == {U, D, E, V} for row in EXPECTED.values())


@pytest.mark.parametrize("role", [U, D, E, V], ids=["anonymous", "driver", "engineer", "viewer"])
@pytest.mark.parametrize("kind", list(EXPECTED))
def test_role_matrix(kind: str, role: Role | None) -> None:
    core = matrix_core(role)
    payload, actions = send_kind(core, kind)
    expected = EXPECTED[kind][role]
    if isinstance(expected, ErrorCode):
        assert_refused(actions, expected)
        assert core.clients[SENDER].errors == 1
    else:
        assert_effect(expected, kind, payload, actions)
        assert core.clients[SENDER].errors == 0


# ------------------------------------------------------------------------------------------ own car only


def driver_and_watchers() -> RelayCore:
    core = make_core()
    join(core, "dan", "tok-dan")
    join(core, "eve", "tok-eve", subscribe={})
    join(core, "vic", "tok-vic", subscribe={})
    return core


def test_a_driver_cannot_publish_a_batch_for_another_car() -> None:
    core = driver_and_watchers()
    actions = core.receive("dan", batch_bytes(OTHER_CAR, seq=1), 1.0)
    assert error_codes(actions, "dan") == ["forbidden"]
    assert len(actions) == 1 and persists(actions) == []
    assert OTHER_CAR not in core.last_seq and core.counters["batches"] == 0


@pytest.mark.parametrize("kind", ["session_info", "telemetry_update", "strategy_update", "video_segment_ready"])
def test_a_driver_cannot_speak_for_another_car(kind: str) -> None:
    core = driver_and_watchers()
    actions = drive(core, "dan", (kind, {**SAMPLE_DATA[MessageType(kind)], "car_id": OTHER_CAR}))
    assert error_codes(actions, "dan") == ["forbidden"]
    assert len(actions) == 1 and persists(actions) == []
    assert core.session_info == {} and core.strategy == {}


def test_a_driver_message_without_car_id_is_stamped_with_the_drivers_car() -> None:
    core = driver_and_watchers()
    actions = drive(core, "dan", ("session_info", {"session": {"driver": "Dan"}}))
    (delivered,) = messages_to(actions, "vic")
    assert delivered.data["car_id"] == DRIVER_CAR
    assert persists(actions)[0].car_id == DRIVER_CAR
    assert core.session_info == {DRIVER_CAR: {"driver": "Dan"}}


# ------------------------------------------------------------------------------------------ handoffs


def handoff_core() -> RelayCore:
    """Dan in car 7 (and says so), Bob waiting to take over, Dora in car 8, Eve engineering, Vic viewing."""
    core = make_core()
    for client, token in (("dan", "tok-dan"), ("bob", "tok-bob"), ("dora", "tok-dora")):
        join(core, client, token)
    join(core, "eve", "tok-eve")
    join(core, "vic", "tok-vic")
    drive(core, "dan", ("session_info", {"session": {"driver": "Dan"}}))
    return core


def request_h1(core: RelayCore) -> list[Any]:
    return drive(
        core, "eve", ("handoff_request", {"action": "request", "car_id": 7, "to_driver": "Bob", "reason": "stint"})
    )


@pytest.mark.parametrize("action", HANDOFF_ACTIONS)
def test_a_viewer_cannot_trigger_any_handoff_action(action: str) -> None:
    core = handoff_core()
    request_h1(core)
    before = core.handoffs["h1"]
    data = {"action": action, "handoff_id": "h1", "car_id": DRIVER_CAR, "to_driver": "Bob"}
    actions = drive(core, "vic", ("handoff_request", data))
    assert error_codes(actions, "vic") == ["forbidden"] and len(actions) == 1
    assert core.handoffs == {"h1": before}


@pytest.mark.parametrize(
    ("client", "action", "code"),
    [
        ("dan", "request", "forbidden"),
        ("dan", "complete", "forbidden"),
        ("dan", "cancel", "forbidden"),
        ("eve", "accept", "forbidden"),
        ("eve", "reject", "forbidden"),
        ("dora", "accept", "forbidden"),  # a driver, but of another car
        ("dora", "reject", "forbidden"),
    ],
)
def test_each_role_answers_only_its_part_of_a_handoff(client: str, action: str, code: str) -> None:
    core = handoff_core()
    request_h1(core)
    data: dict[str, Any] = {"action": action, "handoff_id": "h1"}
    if action == "request":
        data = {"action": "request", "car_id": DRIVER_CAR, "to_driver": "Bob"}
    actions = drive(core, client, ("handoff_request", data))
    assert error_codes(actions, client) == [code] and len(actions) == 1
    assert core.handoffs["h1"].status.value == "requested"


def handoff_updates(actions: list[Any], client: str) -> list[dict[str, Any]]:
    return [dict(m.data) for m in messages_to(actions, client) if m.type is MessageType.HANDOFF_REQUEST]


def test_handoff_from_request_to_completion() -> None:
    core = handoff_core()
    parties = ("dan", "bob", "dora", "eve", "vic")

    requested = request_h1(core)
    (update,) = handoff_updates(requested, "dan")  # the driver of the car hears of it
    assert update["status"] == "requested" and update["action"] == "request"
    assert [update[k] for k in ("handoff_id", "car_id", "to_driver", "from_driver")] == ["h1", 7, "Bob", "Dan"]
    assert all(handoff_updates(requested, p) == [update] for p in parties)
    assert len(persists(requested)) == 1 and len(state_changes(requested)) == 1

    accepted = drive(core, "dan", ("handoff_request", {"action": "accept", "handoff_id": "h1", "reason": "boxing"}))
    for party in parties:
        (seen,) = handoff_updates(accepted, party)
        assert seen["status"] == "accepted" and seen["action"] == "accept"
        assert [e["status"] for e in seen["history"]] == ["requested", "accepted"]
    assert len(persists(accepted)) == 1 and len(state_changes(accepted)) == 1

    # The sim reports Bob in car 7 (from Bob's driver app): the handoff completes by itself.
    completed = drive(core, "bob", ("session_info", {"session": {"driver": "Bob"}}), now_s=5.0)
    for party in parties:
        (seen,) = handoff_updates(completed, party)
        assert seen["status"] == "completed"
        assert [(e["status"], e["by"]) for e in seen["history"]] == [
            ("requested", "Eve"),
            ("accepted", "Dan"),
            ("completed", "sim"),
        ]
    assert [p.key for p in persists(completed)][-1] == "h:h1:3"
    assert core.handoffs["h1"].status.value == "completed" and not core.handoffs["h1"].open
    assert core.state()["handoffs"][0]["status"] == "completed"


def test_session_info_with_another_driver_does_not_complete_a_handoff() -> None:
    core = handoff_core()
    request_h1(core)
    drive(core, "dan", ("handoff_request", {"action": "accept", "handoff_id": "h1"}))
    actions = drive(core, "dan", ("session_info", {"session": {"driver": "Dan"}}))
    assert handoff_updates(actions, "eve") == []
    assert core.handoffs["h1"].status.value == "accepted"


def test_a_car_has_one_open_handoff_at_a_time() -> None:
    core = handoff_core()
    request_h1(core)
    assert error_codes(request_h1(core), "eve") == ["conflict"]
    drive(core, "eve", ("handoff_request", {"action": "cancel", "handoff_id": "h1"}))
    again = request_h1(core)
    assert handoff_updates(again, "dan")[0]["handoff_id"] == "h2"


def test_handoff_steps_that_do_not_apply_are_conflicts() -> None:
    core = handoff_core()
    request_h1(core)
    drive(core, "dan", ("handoff_request", {"action": "reject", "handoff_id": "h1"}))
    for client, action in (("dan", "accept"), ("eve", "complete"), ("eve", "cancel")):
        actions = drive(core, client, ("handoff_request", {"action": action, "handoff_id": "h1"}))
        assert error_codes(actions, client) == ["conflict"] and persists(actions) == []
    assert core.handoffs["h1"].status.value == "rejected"


def test_unknown_handoffs_are_not_found_and_requests_need_a_car() -> None:
    core = handoff_core()
    actions = drive(core, "dan", ("handoff_request", {"action": "accept", "handoff_id": "h404"}))
    assert error_codes(actions, "dan") == ["not_found"]
    actions = drive(core, "eve", ("handoff_request", {"action": "request", "to_driver": "Bob"}))
    assert error_codes(actions, "eve") == ["bad_field"]


def test_a_late_joiner_catches_up_on_open_handoffs_and_session_info() -> None:
    core = handoff_core()
    request_h1(core)
    actions = join(core, "val", "tok-val", now_s=3.0)
    kinds = [m.type for m in messages_to(actions, "val")]
    assert kinds[:2] == [MessageType.CONNECTION_ESTABLISHED, MessageType.AUTHENTICATION_RESULT]
    assert MessageType.HANDOFF_REQUEST in kinds and MessageType.SESSION_INFO in kinds


# ------------------------------------------------------------------------------------------ telemetry


def test_duplicate_batches_are_acknowledged_but_persisted_and_forwarded_once() -> None:
    core = driver_and_watchers()
    first = core.receive("dan", batch_bytes(seq=10), 1.0)
    again = core.receive("dan", batch_bytes(seq=10), 1.1)
    older = core.receive("dan", batch_bytes(seq=9), 1.2)
    assert len(persists(first)) == 1 and recipients(first) == {"dan", "eve", "vic"}
    for repeat in (again, older):
        assert persists(repeat) == [] and recipients(repeat) == {"dan"}
        (ack,) = messages_to(repeat, "dan")
        assert ack.type is MessageType.ACK and ack.data["car_id"] == DRIVER_CAR
    assert [messages_to(a, "dan")[0].data["seq"] for a in (first, again, older)] == [10, 10, 9]
    assert core.counters["batches"] == 1 and core.counters["duplicates"] == 2
    assert core.last_seq == {DRIVER_CAR: 10}


def test_full_rate_subscribers_get_the_very_bytes_the_driver_sent() -> None:
    core = driver_and_watchers()
    join(core, "val", "tok-val", subscribe={"codec": "deflate"})
    join(core, "ed", "tok-ed", subscribe={"codec": "deflate"})
    sent = batch_bytes(seq=1, frames=30)
    actions = core.receive("dan", sent, 1.0)
    for client in ("eve", "vic"):
        (send,) = sends(actions, client)
        assert send.payload is sent and send.telemetry_car == DRIVER_CAR
    (to_val,), (to_ed,) = batches_to(actions, "val"), batches_to(actions, "ed")
    assert to_val is to_ed, "recoded once for everyone who asked for deflate"
    assert to_val[3] & 0x03 == 1
    assert frame_times([to_val]) == frame_times([sent])


def test_subscribers_get_only_the_cars_they_asked_for() -> None:
    core = make_core()
    join(core, "dan", "tok-dan")
    join(core, "dora", "tok-dora")
    join(core, "vic", "tok-vic", subscribe={"cars": [OTHER_CAR]})
    join(core, "val", "tok-val", subscribe={"telemetry": False})
    join(core, "eve", "tok-eve")  # never subscribed
    assert recipients(core.receive("dan", batch_bytes(DRIVER_CAR, 1), 1.0)) == {"dan"}
    assert recipients(core.receive("dora", batch_bytes(OTHER_CAR, 1), 1.0)) == {"dora", "vic"}


def conflation_run(
    seconds: float, rate_hz: float = 10.0
) -> tuple[list[tuple[float, int, float]], dict[int, list[tuple[float, float]]]]:
    """Dan (car 7) and Dora (car 8) publish one frame per batch at 60 Hz, ticks at 60 Hz; Vic subscribes at
    `rate_hz`. Returns Vic's batches (tick time, car, frame time) and each car's published frame times."""
    core = make_core()
    join(core, "dan", "tok-dan")
    join(core, "dora", "tok-dora")
    join(core, "vic", "tok-vic", subscribe={"rate_hz": rate_hz})
    received: list[tuple[float, int, float]] = []
    published: dict[int, list[tuple[float, float]]] = {DRIVER_CAR: [], OTHER_CAR: []}
    seqs = {DRIVER_CAR: 0, OTHER_CAR: 0}  # each car's batches are numbered without gaps
    for k in range(1, round(seconds * 60) + 1):
        now = k / 60
        for client, car in (("dan", DRIVER_CAR), ("dora", OTHER_CAR)):
            if car == OTHER_CAR and k % 3:
                continue  # Dora's app publishes at 20 Hz
            seqs[car] += 1
            sent = batch_bytes(car, seq=seqs[car], frames=2, start_s=1000.0 + now)
            published[car].append((now, frame_times([sent])[0]))
            assert batches_to(core.receive(client, sent, now), "vic") == []
        for send in sends(core.tick(now), "vic"):
            assert isinstance(send.payload, bytes)
            batch = decode_batch(send.payload)
            assert len(batch.block) == 1 and send.telemetry_car == batch.car_id
            received.append((now, batch.car_id, float(batch.block.frames["session_time_s"][-1])))
    return received, published


def test_a_10_hz_viewer_gets_the_newest_frame_of_each_car_at_most_ten_times_a_second() -> None:
    seconds = 3.0
    received, published = conflation_run(seconds)
    for car in (DRIVER_CAR, OTHER_CAR):
        times = [t for t, c, _ in received if c == car]
        assert 0.8 * seconds * 10 <= len(times) <= math.floor(seconds * 10) + 1, (car, len(times))
        # In any whole-second window, at most ten batches of the car.
        for start in range(round(seconds)):
            assert sum(start <= t < start + 1 for t in times) <= 10
    for now, car, frame_s in received:
        newest = max(f for t, f in published[car] if t <= now)
        assert frame_s == pytest.approx(newest, abs=1e-3), "the newest frame, not an older one"


def test_a_10_hz_viewer_never_gets_two_batches_of_a_car_within_a_tenth_of_a_second() -> None:
    received, _ = conflation_run(2.0)
    for car in (DRIVER_CAR, OTHER_CAR):
        times = [t for t, c, _ in received if c == car]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert min(gaps) >= 0.1 - 1e-9, f"car {car}: batches {min(gaps) * 1000:.0f} ms apart"


def test_a_slow_subscriber_gets_nothing_new_when_no_car_published() -> None:
    core = make_core()
    join(core, "dan", "tok-dan")
    join(core, "vic", "tok-vic", subscribe={"rate_hz": 5.0})
    assert core.has_rate_groups
    core.receive("dan", batch_bytes(seq=1), 0.1)
    assert len(sends(core.tick(0.2), "vic")) == 1
    assert sends(core.tick(0.5), "vic") == [] and sends(core.tick(1.0), "vic") == []


# ------------------------------------------------------------------------------------------ limits


def test_an_anonymous_client_is_closed_when_authentication_times_out() -> None:
    core = make_core(auth_timeout_s=10.0)
    join(core, "anon", None, now_s=0.0)
    join(core, "vic", "tok-vic", now_s=0.0)
    assert core.tick(10.0) == []
    (close,) = core.tick(10.5)
    assert close == Close("anon", CLOSE_AUTH_TIMEOUT, "authentication timed out")
    assert set(core.clients) == {"vic"}
    assert core.tick(100.0) == []


def test_too_many_failed_authentications_close_the_client() -> None:
    core = make_core(max_auth_failures=3)
    join(core, "anon", None)
    for attempt in (1, 2, 3):
        actions = drive(core, "anon", ("authenticate", {"token": f"guess-{attempt}"}), message_id=f"a{attempt}")
        (result,) = messages_to(actions, "anon")
        assert result.type is MessageType.AUTHENTICATION_RESULT and result.data["ok"] is False
        assert result.id == f"a{attempt}"
        if attempt < 3:
            assert closes(actions) == []
    assert closes(actions) == [Close("anon", CLOSE_AUTH_FAILED, "too many failed authentications")]
    assert "anon" not in core.clients
    assert core.counters["auth_failures"] == 3


def test_a_failed_authentication_can_be_followed_by_a_good_one() -> None:
    core = make_core()
    join(core, "anon", None)
    drive(core, "anon", ("authenticate", {"token": "typo"}))
    actions = drive(core, "anon", ("authenticate", {"token": "tok-vic"}))
    assert messages_to(actions, "anon")[0].data["ok"] is True
    assert core.clients["anon"].role is Role.VIEWER


def test_too_many_refused_messages_close_the_client_with_a_reason() -> None:
    core = make_core(max_errors=20)
    join(core, "vic", "tok-vic")
    join(core, "eve", "tok-eve")
    plan = ("stint_plan", {"plan": {"stints": []}})
    for _ in range(20):
        actions = drive(core, "vic", plan)
        assert error_codes(actions, "vic") == ["forbidden"] and closes(actions) == []
    actions = drive(core, "vic", plan)
    assert error_codes(actions, "vic") == ["forbidden"]
    (close,) = closes(actions)
    assert (close.client_id, close.code) == ("vic", CLOSE_POLICY)
    assert "too many refused messages" in close.reason and "forbidden" in close.reason
    assert "vic" not in core.clients
    assert drive(core, "vic", plan) == []
    assert "eve" in core.clients


def test_control_messages_beyond_the_rate_limit_are_rate_limited() -> None:
    core = make_core(control_rate_per_s=50.0, control_burst=100.0, max_errors=1000)
    join(core, "vic", "tok-vic", now_s=0.0)
    # One token went on authenticating; the bucket refills to its burst by t=5.
    for _ in range(100):
        assert error_codes(drive(core, "vic", ("subscribe", {}), now_s=5.0), "vic") == []
    assert error_codes(drive(core, "vic", ("subscribe", {}), now_s=5.0), "vic") == ["rate_limited"]
    allowed_after_a_second = [not error_codes(drive(core, "vic", ("ack", {}), now_s=6.0), "vic") for _ in range(60)]
    assert allowed_after_a_second.count(True) == 50


def test_batches_beyond_the_rate_limit_are_rate_limited() -> None:
    core = make_core(batch_rate_per_s=10.0, batch_burst=3.0)
    join(core, "dan", "tok-dan")
    codes = [error_codes(core.receive("dan", batch_bytes(seq=s), 1.0), "dan") for s in range(1, 6)]
    # One refusal is enough for the driver to slow down and resend: the next is not answered.
    assert codes == [[], [], [], ["rate_limited"], []]
    assert core.last_seq == {DRIVER_CAR: 3}


def test_nothing_is_answered_to_a_client_the_relay_does_not_know() -> None:
    core = make_core()
    assert core.receive("ghost", '{"type":"ack"}', 1.0) == []
    assert core.receive("ghost", b"PB", 1.0) == []


def test_read_receipts_reach_the_sender_and_the_engineers() -> None:
    core = make_core()
    join(core, "dan", "tok-dan")
    join(core, "eve", "tok-eve")
    join(core, "vic", "tok-vic")
    sent = drive(core, "eve", ("team_message", {"text": "Box this lap", "to": "Dan", "priority": "urgent"}))
    assert recipients(sent) == {"dan", "eve"}
    (message,) = messages_to(sent, "dan")
    receipt = drive(core, "dan", ("ack", {"message_id": message.data["message_id"], "read": True}))
    assert len(state_changes(receipt)) == 1 and recipients(receipt) == {"dan", "eve"}
    assert messages_to(receipt, "eve")[0].data["read_by"] == ["Dan"]
    assert drive(core, "dan", ("ack", {"message_id": message.data["message_id"], "read": True})) == []
    assert error_codes(drive(core, "dan", ("ack", {"message_id": "m404", "read": True})), "dan") == ["not_found"]


def test_a_batch_after_a_gap_is_refused_not_acknowledged_and_the_gap_can_be_filled() -> None:
    core = make_core()
    join(core, "dan", "tok-dan")
    assert error_codes(core.receive("dan", batch_bytes(seq=1), 1.0), "dan") == []
    gap = core.receive("dan", batch_bytes(seq=3), 1.1)
    assert error_codes(gap, "dan") == ["conflict"]
    assert not [a for a in gap if isinstance(a, Persist)]  # batch 3 is not stored while 2 is missing
    assert core.last_seq == {DRIVER_CAR: 1}
    for seq in (2, 3):
        assert error_codes(core.receive("dan", batch_bytes(seq=seq), 1.2), "dan") == []
    assert core.last_seq == {DRIVER_CAR: 3}
