"""What a sink is: where the forwarder sends spool records (cloud HTTP, MQTT), and its retry schedule.

A sink's `send` makes one attempt at delivering a batch of records, in order, and either returns
(the sink accepted all of them) or raises `SinkError` (none is known to be delivered: the forwarder
sends the same batch again). Delivery is therefore at least once; every record carries its
idempotency key so the receiver can drop duplicates. `retry_delay_s` is how long the forwarder waits
before the next attempt (the sink's exponential backoff, and for HTTP its circuit breaker).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from relay.spool import SpoolRecord


class Sink(Protocol):
    """A destination for spool records."""

    @property
    def batch_records(self) -> int:
        """The most records one `send` takes."""
        ...

    async def send(self, records: Sequence[SpoolRecord]) -> None:
        """Deliver `records` in order, or raise `SinkError`."""
        ...

    def retry_delay_s(self) -> float:
        """Seconds to wait before retrying after a failed `send`."""
        ...

    async def close(self) -> None:
        """Release connections (the sink may be used again: it reconnects)."""
        ...


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Exponential backoff: `initial_s`, doubling after each consecutive failure, at most `max_s`."""

    initial_s: float = 0.5
    max_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.max_s:
            raise ValueError("backoff needs 0 < initial_s <= max_s")

    def delay_s(self, failures: int) -> float:
        """The wait after `failures` consecutive failures (0 failures: no wait)."""
        if failures <= 0:
            return 0.0
        return min(self.max_s, self.initial_s * 2.0 ** min(failures - 1, 60))


__all__ = ["BackoffPolicy", "Sink"]
