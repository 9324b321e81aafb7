"""What the copilot says: a `Message` with its priority class, deadline and place on the lap, and the `Call` it becomes.

Priority classes are ordered like a race engineer's radio: the spotter first, then critical calls
(black flag, fuel running out), answers to the driver's own questions, important information
(flags, pit calls), and regular coaching. A message carries a deadline (session time after which
it is no longer true) and, for calls about a place on the track, the lap and lap distance before
which it must have started.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

WORDS_PER_S: Final = 2.8
"""Speaking rate used to estimate how long a call takes (about 170 words per minute)."""
SPEECH_OVERHEAD_S: Final = 0.25
"""Time a synthesiser takes to start and end a phrase."""


class Priority(enum.IntEnum):
    """Message classes, highest first (a lower value preempts a higher one)."""

    SPOTTER = 0
    CRITICAL = 1
    VOICE_REPLY = 2
    IMPORTANT = 3
    REGULAR = 4

    @property
    def urgent(self) -> bool:
        """Urgent calls may be spoken anywhere, braking zones and corners included."""
        return self <= Priority.CRITICAL


class Verbosity(enum.IntEnum):
    """How much the copilot says: each message states the lowest verbosity that speaks it."""

    QUIET = 0
    """Spotter, critical calls, answers, flags and pit calls only."""
    NORMAL = 1
    """Adds fuel, incidents and regular race information."""
    COACHING = 2
    """Adds driving coaching: brake points, throttle, track guide."""


def speaking_time_s(text: str) -> float:
    """Estimated time to say `text` aloud (numbers count as two words: 'thirty five')."""
    words = 0
    for word in text.split():
        words += 2 if any(ch.isdigit() for ch in word) else 1
    return SPEECH_OVERHEAD_S + words / WORDS_PER_S


@dataclass(frozen=True, slots=True)
class Message:
    """One thing to say.

    `deadline_s`: session time after which the message is stale and must not start.
    `say_before`: (lap, lap distance m) the message must start before (calls about a corner).
    `key`: equal keys are the same information (duplicates are suppressed within `repeat_after_s`).
    `category`: the application that made it (rate limits are per category).
    `segment_id`: the track segment the message is about, if any.
    """

    text: str
    priority: Priority
    category: str
    created_s: float
    deadline_s: float
    key: str = ""
    verbosity: Verbosity = Verbosity.QUIET
    say_before: tuple[int, float] | None = None
    segment_id: str | None = None
    repeat_after_s: float = 30.0
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise ValueError("a message needs text")
        if math.isnan(self.deadline_s) or self.deadline_s < self.created_s:
            raise ValueError(f"deadline {self.deadline_s} is before the message was made ({self.created_s})")

    @property
    def dedupe_key(self) -> str:
        return self.key or f"{self.category}:{self.text}"

    @property
    def speaking_s(self) -> float:
        return speaking_time_s(self.text)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "priority": self.priority.name.lower(),
            "category": self.category,
            "segment": self.segment_id,
            "created_s": round(self.created_s, 3),
            "deadline_s": round(self.deadline_s, 3),
            **({"data": dict(self.data)} if self.data else {}),
        }


@dataclass(frozen=True, slots=True)
class Call:
    """A message the copilot started speaking.

    `interrupts`: the lower-class message this call cut off, if any (the speech layer stops that
    one at its next word boundary). `ends_s`: when the call is expected to finish.
    """

    message: Message
    start_s: float
    lap: int
    lap_dist_m: float
    ends_s: float
    interrupts: Message | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": round(self.start_s, 3),
            "lap": self.lap,
            "lap_dist_m": round(self.lap_dist_m, 1),
            **self.message.to_dict(),
            **({"interrupts": self.interrupts.text} if self.interrupts is not None else {}),
        }

    def line(self) -> str:
        """The call as one line, as the driver hears it."""
        m = self.message
        where = f"lap {self.lap:>3}  {self.lap_dist_m:7.1f} m"
        return f"{self.start_s:10.3f}s  {where}  {m.priority.name.lower():<11} {m.text}"
