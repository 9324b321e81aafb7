"""Driver handoffs and team messages: the relay's two small state machines (pure, time passed in).

A handoff is requested by an engineer for a car (target driver, reason, urgency), then accepted or
rejected by the driver in that car, and completed when the sim reports the new driver in the car
(session info) or when the engineer closes it; the engineer may cancel it before. Every change is
appended to the handoff's history (the audit log) and is a value the relay persists and shows to
every party. Team messages carry a priority and collect read receipts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any, Final

from relay.protocol import ErrorCode, ProtocolError

TERMINAL: Final = frozenset({"rejected", "completed", "cancelled"})


class HandoffStatus(enum.StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# action -> (statuses it may follow, status it leads to)
TRANSITIONS: Final[dict[str, tuple[frozenset[HandoffStatus], HandoffStatus]]] = {
    "accept": (frozenset({HandoffStatus.REQUESTED}), HandoffStatus.ACCEPTED),
    "reject": (frozenset({HandoffStatus.REQUESTED}), HandoffStatus.REJECTED),
    "complete": (frozenset({HandoffStatus.REQUESTED, HandoffStatus.ACCEPTED}), HandoffStatus.COMPLETED),
    "cancel": (frozenset({HandoffStatus.REQUESTED, HandoffStatus.ACCEPTED}), HandoffStatus.CANCELLED),
}


@dataclass(frozen=True, slots=True)
class HandoffEvent:
    """One line of the audit log."""

    status: HandoffStatus
    at_s: float
    by: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status.value, "at_s": round(self.at_s, 3), "by": self.by, "note": self.note}


@dataclass(frozen=True, slots=True)
class Handoff:
    handoff_id: str
    car_id: int
    to_driver: str
    from_driver: str
    reason: str
    urgency: str
    status: HandoffStatus
    history: tuple[HandoffEvent, ...] = field(default_factory=tuple)

    @property
    def open(self) -> bool:
        return self.status.value not in TERMINAL

    def to_dict(self) -> dict[str, Any]:
        return {
            "handoff_id": self.handoff_id,
            "car_id": self.car_id,
            "to_driver": self.to_driver,
            "from_driver": self.from_driver,
            "reason": self.reason,
            "urgency": self.urgency,
            "status": self.status.value,
            "history": [event.to_dict() for event in self.history],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Handoff:
        return cls(
            handoff_id=str(data["handoff_id"]),
            car_id=int(data["car_id"]),
            to_driver=str(data["to_driver"]),
            from_driver=str(data["from_driver"]),
            reason=str(data["reason"]),
            urgency=str(data["urgency"]),
            status=HandoffStatus(data["status"]),
            history=tuple(
                HandoffEvent(HandoffStatus(e["status"]), float(e["at_s"]), str(e["by"]), str(e.get("note", "")))
                for e in data["history"]
            ),
        )


def request_handoff(
    handoff_id: str, car_id: int, to_driver: str, from_driver: str, reason: str, urgency: str, *, by: str, now_s: float
) -> Handoff:
    if not to_driver.strip():
        raise ProtocolError(ErrorCode.BAD_FIELD, "a handoff needs the driver to hand over to")
    event = HandoffEvent(HandoffStatus.REQUESTED, now_s, by, reason)
    return Handoff(handoff_id, car_id, to_driver, from_driver, reason, urgency, HandoffStatus.REQUESTED, (event,))


def advance(handoff: Handoff, action: str, *, by: str, now_s: float, note: str = "") -> Handoff:
    """The handoff after `action`; ProtocolError(CONFLICT) when the action does not apply now."""
    if action not in TRANSITIONS:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"unknown handoff action {action!r}")
    allowed, target = TRANSITIONS[action]
    if handoff.status not in allowed:
        raise ProtocolError(
            ErrorCode.CONFLICT, f"handoff {handoff.handoff_id} is {handoff.status.value}: cannot {action}"
        )
    return replace(handoff, status=target, history=(*handoff.history, HandoffEvent(target, now_s, by, note)))


@dataclass(frozen=True, slots=True)
class TeamMessage:
    message_id: str
    sender: str
    to: str
    priority: str
    text: str
    sent_s: float
    read_by: tuple[str, ...] = ()

    def to_data(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "from": self.sender,
            "to": self.to,
            "priority": self.priority,
            "text": self.text,
            "sent_s": round(self.sent_s, 3),
            "read_by": list(self.read_by),
        }

    def read(self, reader: str) -> TeamMessage:
        return self if reader in self.read_by else replace(self, read_by=(*self.read_by, reader))
