"""The reference lap: the lap the driver is compared with.

The best valid lap of the session (a flying lap with a time, not under caution), or the stored
personal best for the track and car when that is quicker; it improves as the driver does. A lap
from elsewhere (a teammate's, through the relay) can be offered the same way with its own source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from adapters.model import Lap, LapKind
from coaching.errors import SegmentStoreError
from coaching.trace import LapTrace

SESSION: Final = "session"
PERSONAL_BEST: Final = "personal best"
TEAMMATE: Final = "teammate"


@dataclass(frozen=True, slots=True, eq=False)
class ReferenceLap:
    """A lap to compare with: its trace, where it came from, and who drove it."""

    trace: LapTrace
    source: str
    driver: str = ""

    @property
    def lap_time_s(self) -> float:
        time = self.trace.lap_time_s
        return float("inf") if time is None else time

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "driver": self.driver, "trace": self.trace.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReferenceLap:
        if not isinstance(data, dict) or "trace" not in data:
            raise SegmentStoreError("stored reference lap has no trace")
        trace = LapTrace.from_dict(data["trace"])
        if trace.lap_time_s is None:
            raise SegmentStoreError("stored reference lap has no lap time")
        return cls(trace, str(data.get("source", PERSONAL_BEST)), str(data.get("driver", "")))


def is_reference_candidate(lap: Lap) -> bool:
    """A lap fit to be a reference: flying, timed, clean and green."""
    return lap.kind is LapKind.FLYING and lap.time_s is not None and not lap.under_caution and not lap.reasons


def better(candidate: ReferenceLap, current: ReferenceLap | None) -> bool:
    """True when `candidate` should replace `current` (a quicker lap)."""
    return current is None or candidate.lap_time_s < current.lap_time_s
