"""When a call about a place on the track must be spoken: finished, with time to react, before it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import numpy as np

from coaching.applications.base import Context, PlannedCall
from coaching.messages import Priority, Verbosity, speaking_time_s

RELEASE_WINDOW_S: Final = 4.0
"""How long before its last moment a call may start (earlier, and it is about a corner far away)."""
MARGIN: Final = 1.15
"""Room for the car being quicker than the reference lap where the call is made."""


def plan_before(
    ctx: Context,
    *,
    lap: int,
    point_m: float,
    text: str,
    category: str,
    segment_id: str | None,
    priority: Priority = Priority.REGULAR,
    verbosity: Verbosity = Verbosity.COACHING,
    key: str = "",
    data: Mapping[str, Any] | None = None,
) -> None:
    """Plan `text` on `lap` so that it ends `reaction_s` before the car reaches `point_m`.

    lead = speed x reaction time + speaking time, with the speed of the reference lap (or of the
    newest lap) at that point.
    """
    reference = ctx.reference
    trace = reference.trace if reference is not None else None

    def speed_at(lap_dist_m: float) -> float:
        speed = float(np.interp(lap_dist_m, trace.dist_m, trace.speed_mps)) if trace is not None else 30.0
        return max(speed, 5.0)

    length = ctx.segments.track_length_m
    speaking_s = speaking_time_s(text)
    say_before = point_m - speed_at(point_m) * (ctx.settings.reaction_s + speaking_s)
    # Calls are not spoken inside a corner, and must end before the next one (the arbiter's rule):
    # when the straight before this point is too short to hold the call, it moves before the
    # corner(s) ahead of it.
    zones = sorted((s.zone_start_m, s.end_m) for s in ctx.segments.segments if s.zone_start_m < point_m - 1.0)
    for zone_start_m, zone_end_m in reversed(zones):
        if say_before - zone_end_m >= speed_at(say_before) * speaking_s * MARGIN:
            break
        say_before = min(say_before, zone_start_m - speed_at(zone_start_m) * speaking_s * MARGIN)
    ready = say_before - speed_at(say_before) * RELEASE_WINDOW_S
    if say_before < 0 and length > 0:  # the call belongs on the end of the lap before
        lap, say_before, ready = lap - 1, say_before + length, ready + length
    ctx.plan(
        PlannedCall(
            lap=lap,
            ready_m=max(ready, 0.0),
            say_before_m=say_before,
            text=text,
            priority=priority,
            category=category,
            verbosity=verbosity,
            segment_id=segment_id,
            key=key or f"{category}:{segment_id}:{lap}",
            data=dict(data or {}),
        )
    )
