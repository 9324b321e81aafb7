"""Message arbitration: one call at a time, like a race engineer on the radio.

Rules, in the order they are applied on every frame:

1. Stale messages are dropped: past their deadline, or past the place on the lap they had to be
   said before. A message is never started after it stopped being true.
2. A higher class preempts the call being spoken (`Call.interrupts` names it; the speech layer
   stops it at a word boundary). The spotter therefore gets through on the frame it arrives.
3. Nothing non-urgent starts inside a braking zone or corner, nor when it could not finish before
   the next one at the current speed: it is held for the next straight, or dropped when it goes
   stale while held.
4. Duplicates (same key spoken within the message's `repeat_after_s`, or already queued) are
   suppressed; a newer message with the key of a queued one replaces it.
5. Per-category rate limits space out the same kind of call (urgent classes are exempt).
6. Verbosity: a message is spoken only when the copilot's verbosity reaches the message's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from coaching.messages import Call, Message, Priority, Verbosity

DEFAULT_RATE_LIMITS_S: Final[Mapping[str, float]] = {
    "brake": 6.0,
    "throttle": 6.0,
    "track_guide": 4.0,
    "fuel": 45.0,
    "incident": 5.0,
    "debug": 0.0,
}
"""Minimum seconds between two calls of one category (categories not listed: none)."""
MAX_QUEUE: Final = 32
"""Messages waiting at most; beyond it the lowest class, oldest first, is dropped."""


@dataclass(slots=True)
class ArbiterStats:
    """What happened to every message submitted, for the report and the tests."""

    submitted: int = 0
    delivered: int = 0
    preempted: int = 0
    dropped_stale: int = 0
    dropped_duplicate: int = 0
    dropped_verbosity: int = 0
    dropped_overflow: int = 0


class Arbiter:
    """Chooses which message is spoken, and when. Pure: time and place are passed in."""

    def __init__(
        self,
        *,
        verbosity: Verbosity = Verbosity.NORMAL,
        rate_limits_s: Mapping[str, float] = DEFAULT_RATE_LIMITS_S,
        max_queue: int = MAX_QUEUE,
    ) -> None:
        self.verbosity = verbosity
        self.rate_limits_s = dict(rate_limits_s)
        self.max_queue = max_queue
        self.stats = ArbiterStats()
        self._queue: list[Message] = []
        self._current: Call | None = None
        self._spoken_at: dict[str, float] = {}  # dedupe key -> session time it was last started
        self._category_at: dict[str, float] = {}

    @property
    def speaking(self) -> Call | None:
        """The call being spoken (as estimated from its length), if any."""
        return self._current

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing being spoken: `step` has nothing to do."""
        return not self._queue and self._current is None

    @property
    def pending(self) -> tuple[Message, ...]:
        return tuple(self._queue)

    def submit(self, message: Message) -> None:
        """Queue a message (filtered by verbosity and duplicates)."""
        self.stats.submitted += 1
        if message.verbosity > self.verbosity:
            self.stats.dropped_verbosity += 1
            return
        key = message.dedupe_key
        last = self._spoken_at.get(key)
        if last is not None and message.created_s - last < message.repeat_after_s:
            self.stats.dropped_duplicate += 1
            return
        for index, queued in enumerate(self._queue):
            if queued.dedupe_key == key:
                self._queue[index] = message  # the newer one is truer
                self.stats.dropped_duplicate += 1
                return
        self._queue.append(message)
        if len(self._queue) > self.max_queue:
            victim = max(self._queue, key=lambda m: (m.priority, -m.created_s))
            self._queue.remove(victim)
            self.stats.dropped_overflow += 1

    def clear(self, *, category: str | None = None) -> None:
        """Forget queued messages (all, or one category's): the situation they describe changed."""
        kept = [m for m in self._queue if category is not None and m.category != category]
        self.stats.dropped_stale += len(self._queue) - len(kept)
        self._queue = kept

    def step(self, now_s: float, lap: int, lap_dist_m: float, *, in_zone: bool, clear_ahead_s: float) -> Call | None:
        """Advance to `now_s`; returns the call that starts now, if any.

        `in_zone`: the car is in a braking zone or corner. `clear_ahead_s`: time until the next one
        at the current speed (inf when unknown).
        """
        current = self._current
        if current is not None and now_s >= current.ends_s:
            current = self._current = None
        if not self._queue:
            return None
        best: Message | None = None
        kept: list[Message] = []
        for message in self._queue:
            if message.deadline_s < now_s or _passed(message.say_before, lap, lap_dist_m):
                self.stats.dropped_stale += 1
                continue
            kept.append(message)
            if best is not None and (message.priority, message.created_s) >= (best.priority, best.created_s):
                continue
            if not message.priority.urgent:
                if in_zone or message.speaking_s > clear_ahead_s:
                    continue
                limit = self.rate_limits_s.get(message.category, 0.0)
                last = self._category_at.get(message.category)
                if limit and last is not None and now_s - last < limit:
                    continue
            best = message
        self._queue = kept
        if best is None:
            return None
        if current is not None and best.priority >= current.message.priority and not _supersedes(best, current.message):
            return None  # wait for the current call to end
        self._queue.remove(best)
        call = Call(
            message=best,
            start_s=now_s,
            lap=lap,
            lap_dist_m=lap_dist_m,
            ends_s=now_s + best.speaking_s,
            interrupts=None if current is None else current.message,
        )
        if current is not None:
            self.stats.preempted += 1
        self.stats.delivered += 1
        self._current = call
        self._spoken_at[best.dedupe_key] = now_s
        self._category_at[best.category] = now_s
        if len(self._spoken_at) > 4 * MAX_QUEUE:
            horizon = now_s - 600.0
            self._spoken_at = {k: t for k, t in self._spoken_at.items() if t >= horizon}
        return call


def _supersedes(new: Message, current: Message) -> bool:
    """A newer spotter call replaces the one being spoken ("car left" is no longer true once "clear")."""
    return new.priority is Priority.SPOTTER and current.priority is Priority.SPOTTER


def _passed(say_before: tuple[int, float] | None, lap: int, lap_dist_m: float) -> bool:
    if say_before is None:
        return False
    before_lap, before_m = say_before
    return lap > before_lap or (lap == before_lap and lap_dist_m > before_m)


def time_to_m(distance_m: float, speed_mps: float) -> float:
    """Seconds to cover `distance_m` at `speed_mps` (inf when standing still)."""
    return distance_m / speed_mps if speed_mps > 0.5 else math.inf
