"""Handoffs and team messages: which transitions apply, the audit log, and the saved form.

A handoff goes requested -> accepted or rejected -> completed, or is cancelled while open; any
other step is a `conflict`. Every step appends one event to the history.
"""

from __future__ import annotations

import json

import pytest

from relay.handoffs import (
    TERMINAL,
    TRANSITIONS,
    Handoff,
    HandoffEvent,
    HandoffStatus,
    TeamMessage,
    advance,
    request_handoff,
)
from relay.protocol import ErrorCode, ProtocolError

S = HandoffStatus

ALLOWED: dict[tuple[HandoffStatus, str], HandoffStatus] = {
    (S.REQUESTED, "accept"): S.ACCEPTED,
    (S.REQUESTED, "reject"): S.REJECTED,
    (S.REQUESTED, "complete"): S.COMPLETED,
    (S.REQUESTED, "cancel"): S.CANCELLED,
    (S.ACCEPTED, "complete"): S.COMPLETED,
    (S.ACCEPTED, "cancel"): S.CANCELLED,
}
"""Every transition that applies; every other (status, action) pair is a conflict."""
ACTIONS = ("accept", "reject", "complete", "cancel")


def requested(now_s: float = 100.0) -> Handoff:
    return request_handoff("h1", 7, "Bob", "Dan", "end of stint", "high", by="Eve", now_s=now_s)


def in_status(status: HandoffStatus) -> Handoff:
    """A handoff that reached `status` the ordinary way."""
    handoff = requested()
    path = {
        S.REQUESTED: [],
        S.ACCEPTED: ["accept"],
        S.REJECTED: ["reject"],
        S.COMPLETED: ["accept", "complete"],
        S.CANCELLED: ["cancel"],
    }[status]
    for step, action in enumerate(path, start=1):
        handoff = advance(handoff, action, by="x", now_s=100.0 + step)
    assert handoff.status is status
    return handoff


def test_a_request_opens_a_handoff_with_one_event() -> None:
    handoff = requested(now_s=100.25)
    assert handoff.status is S.REQUESTED and handoff.open
    assert (handoff.car_id, handoff.to_driver, handoff.from_driver) == (7, "Bob", "Dan")
    assert (handoff.reason, handoff.urgency) == ("end of stint", "high")
    assert handoff.history == (HandoffEvent(S.REQUESTED, 100.25, "Eve", "end of stint"),)


@pytest.mark.parametrize("to_driver", ["", "   "])
def test_a_request_needs_a_driver_to_hand_over_to(to_driver: str) -> None:
    with pytest.raises(ProtocolError) as info:
        request_handoff("h1", 7, to_driver, "Dan", "", "normal", by="Eve", now_s=0.0)
    assert info.value.code is ErrorCode.BAD_FIELD


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("action", ACTIONS)
def test_transitions_apply_or_conflict(status: HandoffStatus, action: str) -> None:
    before = in_status(status)
    expected = ALLOWED.get((status, action))
    if expected is None:
        with pytest.raises(ProtocolError) as info:
            advance(before, action, by="Dan", now_s=200.0)
        assert info.value.code is ErrorCode.CONFLICT
        assert status.value in info.value.message and action in info.value.message
        return
    after = advance(before, action, by="Dan", now_s=200.0, note="tyres gone")
    assert after.status is expected
    assert after.history == (*before.history, HandoffEvent(expected, 200.0, "Dan", "tyres gone"))
    assert after.open is (expected.value not in TERMINAL)
    assert (after.handoff_id, after.car_id, after.to_driver) == (before.handoff_id, before.car_id, before.to_driver)


def test_the_transition_table_is_the_one_the_module_declares() -> None:
    declared = {(s, action): target for action, (sources, target) in TRANSITIONS.items() for s in sources}
    assert declared == ALLOWED


def test_advancing_leaves_the_original_untouched() -> None:
    before = requested()
    advance(before, "accept", by="Dan", now_s=101.0)
    assert before.status is S.REQUESTED and len(before.history) == 1


@pytest.mark.parametrize("action", ["request", "steal", ""])
def test_unknown_actions_are_bad_fields(action: str) -> None:
    with pytest.raises(ProtocolError) as info:
        advance(requested(), action, by="Dan", now_s=1.0)
    assert info.value.code is ErrorCode.BAD_FIELD


def test_history_grows_one_event_per_step_in_order() -> None:
    handoff = requested(now_s=10.0)
    handoff = advance(handoff, "accept", by="Dan", now_s=20.0, note="ok, boxing")
    handoff = advance(handoff, "complete", by="sim", now_s=30.0, note="new driver in the car")
    assert [(e.status, e.at_s, e.by, e.note) for e in handoff.history] == [
        (S.REQUESTED, 10.0, "Eve", "end of stint"),
        (S.ACCEPTED, 20.0, "Dan", "ok, boxing"),
        (S.COMPLETED, 30.0, "sim", "new driver in the car"),
    ]
    assert not handoff.open


@pytest.mark.parametrize("status", list(S))
def test_only_requested_and_accepted_are_open(status: HandoffStatus) -> None:
    assert in_status(status).open is (status in {S.REQUESTED, S.ACCEPTED})


@pytest.mark.parametrize("status", list(S))
def test_to_dict_and_from_dict_round_trip(status: HandoffStatus) -> None:
    handoff = in_status(status)
    saved = json.loads(json.dumps(handoff.to_dict()))  # what the server writes to disk
    assert saved["status"] == status.value
    assert len(saved["history"]) == len(handoff.history)
    assert Handoff.from_dict(saved) == handoff


def test_saved_times_are_rounded_to_the_millisecond() -> None:
    handoff = request_handoff("h9", 3, "Bob", "", "", "low", by="Eve", now_s=12.34567)
    assert handoff.to_dict()["history"][0]["at_s"] == 12.346
    assert Handoff.from_dict(handoff.to_dict()).history[0].at_s == 12.346


def test_from_dict_refuses_an_unknown_status() -> None:
    saved = requested().to_dict()
    saved["status"] = "stolen"
    with pytest.raises(ValueError):
        Handoff.from_dict(saved)


def test_team_message_collects_each_read_receipt_once() -> None:
    message = TeamMessage("m1", "Eve", "all", "urgent", "Box now", 50.1234)
    read_once = message.read("Dan")
    assert read_once.read_by == ("Dan",) and message.read_by == ()
    assert read_once.read("Dan") is read_once
    assert read_once.read("Bob").read_by == ("Dan", "Bob")
    assert read_once.to_data() == {
        "message_id": "m1",
        "from": "Eve",
        "to": "all",
        "priority": "urgent",
        "text": "Box now",
        "sent_s": 50.123,
        "read_by": ["Dan"],
    }
