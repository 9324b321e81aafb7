"""Splitting a stream of frames into laps, with lap times from the timing channels.

A lap ends where the car crosses the start/finish line: the lap counter goes up by one while the
lap fraction wraps from near 1 to near 0 between two consecutive in-world frames. The crossing time
is interpolated between those two frames, so lap times are not quantised to the 60 Hz tick. Frames
that are not in the world (menus, resets, tows) never end or start a lap; a lap that contains them,
or a jump in position, is invalid.

The sim's own last-lap time arrives about 1.8 s after the line in iRacing; each lap carries it
(`sim_time_s`) so callers can check the two agree.

`split_laps` works on a whole `FrameBlock` (vectorised); `LapSplitter` is the streaming form for
live data and reuses the same code on the frames of the lap just finished. The `Lap` value itself
lives in `adapters.model`, where coaching and strategy can use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from adapters.model import CAUTION_FLAGS, FrameBlock, Lap, LapKind, TelemetryFrame, TrackSurface

SIM_LAP_TIME_DELAY_S: Final = 3.0
"""How long after the line to read the sim's last-lap time (iRacing updates it ~1.8 s late)."""
WRAP_MIN_DROP: Final = 0.5
"""A lap-fraction drop larger than this between two frames is the line being crossed."""
TELEPORT_FRAC: Final = 0.05
"""A jump in lap fraction larger than this between two in-world frames (not at the line) is a reset or tow."""
MAX_CROSSING_GAP_S: Final = 1.0
"""Two frames further apart than this cannot bracket a line crossing (a pause or a reset)."""
MAX_BUFFERED_FRAMES: Final = 60 * 60 * 10
"""The streaming splitter keeps at most this many frames (10 minutes at 60 Hz) while no lap ends."""
COUNTER_WINDOW: Final = 30
"""In-world frames either side of a lap-fraction wrap within which the lap counter must step by one."""


def _crossings(
    block: FrameBlock,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Line crossings: index of the first frame after each, interpolated time, and the lap it ended.

    The lap fraction wrapping is the crossing; the lap counter must have gone up by exactly one
    within COUNTER_WINDOW frames of it (sims do not always move both on the same tick).
    """
    world = np.flatnonzero(block.in_world)
    empty = np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float64), np.empty(0, dtype=np.int64)
    if len(world) < 2:
        return empty
    lap = block.lap[world].astype(np.int64)
    frac = block.lap_dist_frac[world].astype(np.float64)
    times = block.session_time_s[world]
    before, after = slice(None, -1), slice(1, None)
    wraps = np.flatnonzero(
        (frac[before] - frac[after] > WRAP_MIN_DROP)
        & (times[after] - times[before] <= MAX_CROSSING_GAP_S)
        & (world[after] - world[before] <= int(MAX_CROSSING_GAP_S * 60) + 1)
    )
    lap_before = lap[np.maximum(wraps - COUNTER_WINDOW, 0)]
    lap_after = lap[np.minimum(wraps + 1 + COUNTER_WINDOW, len(lap) - 1)]
    # Near the ends of the stream the window is cut short; fall back to the frames at the wrap.
    lap_before = np.where(wraps - COUNTER_WINDOW < 0, lap[wraps], lap_before)
    lap_after = np.where(wraps + 1 + COUNTER_WINDOW > len(lap) - 1, lap[wraps + 1], lap_after)
    k = wraps[lap_after == lap_before + 1]
    ended = lap_before[lap_after == lap_before + 1]
    f0, f1 = frac[k], frac[k + 1] + 1.0
    t0, t1 = times[k], times[k + 1]
    share = np.clip((1.0 - f0) / np.maximum(f1 - f0, 1e-9), 0.0, 1.0)
    return world[k + 1], t0 + share * (t1 - t0), ended


def _sim_lap_time(block: FrameBlock, crossing_index: int, crossing_time_s: float, limit_index: int) -> float | None:
    """The sim's last-lap time as reported SIM_LAP_TIME_DELAY_S after the line (or just before `limit_index`)."""
    times = block.session_time_s
    stop = int(np.searchsorted(times, crossing_time_s + SIM_LAP_TIME_DELAY_S, side="right"))
    stop = min(stop, limit_index)
    if stop <= crossing_index or times[stop - 1] < crossing_time_s + 1.0:
        return None  # the recording ends before the sim could report it
    value = float(block.last_lap_time_s[stop - 1])
    return None if np.isnan(value) else value


def _lap_between(
    block: FrameBlock,
    number: int,
    start_index: int,
    start_time_s: float | None,
    end_index: int,
    end_time_s: float,
    next_limit: int,
) -> Lap:
    part = block.slice(start_index, end_index)
    world = part.in_world
    reasons: list[str] = []
    if not world.all():
        reasons.append("not in the world for part of the lap")
    frac = part.lap_dist_frac[world]
    if len(frac) > 1 and (np.abs(np.diff(frac.astype(np.float64))) > TELEPORT_FRAC).any():
        reasons.append("reset or tow")
    if (part.track_surface[world] == TrackSurface.OFF_TRACK).any():
        reasons.append("off track")
    on_pit = part.on_pit_road[world]
    started_in_pits = start_time_s is None or bool(on_pit[:1].any())
    ended_in_pits = bool(block.on_pit_road[end_index]) if end_index < len(block) else bool(on_pit[-1:].any())
    entered_pits = bool(len(on_pit) > 1 and (~on_pit[:-1] & on_pit[1:]).any())

    if reasons:
        kind = LapKind.INVALID
    elif ended_in_pits or entered_pits:
        kind = LapKind.IN
        reasons.append("entered pit road")
    elif started_in_pits:
        kind = LapKind.OUT
        reasons.append("started from pit road")
    else:
        kind = LapKind.FLYING

    under_caution = bool((part.session_flags[world] & np.uint32(CAUTION_FLAGS)).any())
    fuel = part.fuel_level_l[world].astype(np.float64)
    fuel = fuel[~np.isnan(fuel)]
    # Sum of drops only: a refuel during the lap must not cancel what was burnt.
    fuel_used = float(np.clip(-np.diff(fuel), 0.0, None).sum()) if len(fuel) > 1 else None
    speeds = part.speed_mps[world]
    return Lap(
        number=number,
        kind=kind,
        start_index=start_index,
        end_index=end_index,
        start_time_s=start_time_s,
        end_time_s=end_time_s,
        time_s=None if start_time_s is None else end_time_s - start_time_s,
        sim_time_s=_sim_lap_time(block, end_index, end_time_s, next_limit),
        fuel_used_l=fuel_used,
        top_speed_mps=float(speeds.max()) if len(speeds) else 0.0,
        reasons=tuple(reasons),
        under_caution=under_caution,
    )


def split_laps(block: FrameBlock) -> list[Lap]:
    """Every lap in `block` that ends at the line, oldest first.

    The fragment before the first crossing is a lap only when it started on pit road (an out-lap
    from the garage or pit box); a fragment that starts mid-lap, and the unfinished lap at the end,
    are not laps.
    """
    indices, times, ended = _crossings(block)
    laps: list[Lap] = []
    if len(indices) == 0:
        return laps
    world = np.flatnonzero(block.in_world)
    first_world = int(world[0])
    first_end = int(indices[0])
    limits = list(indices[1:]) + [len(block)]
    if bool(block.on_pit_road[first_world]) and first_end > first_world:
        laps.append(_lap_between(block, int(ended[0]), first_world, None, first_end, float(times[0]), int(limits[0])))
    for j in range(1, len(indices)):
        start, end = int(indices[j - 1]), int(indices[j])
        laps.append(
            _lap_between(block, int(ended[j]), start, float(times[j - 1]), end, float(times[j]), int(limits[j]))
        )
    return laps


class LapSplitter:
    """Streaming lap splitting: feed frames as they arrive, get each lap once it is final.

    A lap is final SIM_LAP_TIME_DELAY_S after its line crossing (so the sim's own lap time can be
    attached) or at the next crossing, whichever comes first. Memory is bounded by about two laps.
    """

    def __init__(self) -> None:
        self._frames: list[TelemetryFrame] = []
        self._last_world: TelemetryFrame | None = None
        self._pending_crossings = 0
        self._crossing_time_s: float | None = None
        # After the first flush the buffer starts one frame before a crossing; the fragment
        # before that crossing was already reported and must not come back as an out-lap.
        self._min_start_index = 0

    def feed(self, frame: TelemetryFrame) -> list[Lap]:
        """Add one frame; returns the laps that became final with it (usually none)."""
        self._frames.append(frame.__class__(frame.record.copy(), None))
        finished: list[Lap] = []
        if frame.in_world:
            previous = self._last_world
            # Only the wrap here: `split_laps` checks the lap counter when the lap is flushed.
            if previous is not None and previous.lap_dist_frac - frame.lap_dist_frac > WRAP_MIN_DROP:
                if self._pending_crossings:
                    finished += self._flush(keep_last_crossing=True)
                self._pending_crossings += 1
                self._crossing_time_s = frame.session_time_s
            self._last_world = frame
        if (
            self._pending_crossings
            and self._crossing_time_s is not None
            and frame.session_time_s - self._crossing_time_s >= SIM_LAP_TIME_DELAY_S
        ):
            finished += self._flush(keep_last_crossing=False)
        if not self._pending_crossings and len(self._frames) > MAX_BUFFERED_FRAMES:
            # No lap has ended for a long time (sitting in the pits, a long pause): the lap in
            # progress can no longer be timed from its start, so keep only the recent frames.
            self._frames = self._frames[-MAX_BUFFERED_FRAMES // 2 :]
            self._min_start_index = 0
        return finished

    def finish(self) -> list[Lap]:
        """End of stream: laps whose crossing was seen but not yet reported."""
        return self._flush(keep_last_crossing=False) if self._pending_crossings else []

    def _flush(self, *, keep_last_crossing: bool) -> list[Lap]:
        block = FrameBlock.from_frames(self._frames)
        laps = [lap for lap in split_laps(block) if lap.start_index >= self._min_start_index]
        if keep_last_crossing:
            # The newest crossing belongs to the frame just added; its lap is reported later.
            laps = [lap for lap in laps if lap.end_index < len(block) - 1]
        if not laps:
            self._pending_crossings = 0
            return []
        last_end = laps[-1].end_index
        # Keep the frames of the lap now running (from one frame before the crossing, for interpolation).
        self._frames = self._frames[max(0, last_end - 1) :]
        self._min_start_index = 1 if last_end >= 1 else 0
        self._pending_crossings = 1 if keep_last_crossing else 0
        return laps


def lap_table(laps: Sequence[Lap]) -> list[dict[str, Any]]:
    """JSON-ready rows for a lap table."""
    return [lap.to_dict() for lap in laps]
