"""The post-session report: a recorded session's laps turned into one self-contained HTML page.

`build_report` computes the numbers (lap table, time lost per segment against the best lap,
mistake hotspots, consistency, fuel, the traces of the best lap and a compared lap, the copilot's
calls) into a `SessionReport`; `render_html` turns that into one HTML page with inline CSS and
inline SVG plots (no scripts, no external resources, no timestamps: the same input gives the same
bytes). Nothing here opens a file: the caller splits the laps, runs the copilot if it wants its
calls, and writes the page.

Segments are the corners the copilot learns (`coaching.segments`), learned here from the flying
laps. For the time lost, each segment runs from its braking zone (or corner) start to the next
segment's, so it holds the corner and the straight after it (where a poor exit costs most of its
time); the last one wraps across the line to the first. A lap's segment times then add up to its
lap time, and the losses against the best lap add up to the gap to it. Brake point and minimum
speed (from `coaching.history.segment_features`) are given for the corner itself.
"""

from __future__ import annotations

import html
import logging
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from adapters.model import FrameBlock, Lap, LapKind, SessionInfo
from coaching.errors import NotEnoughLapError
from coaching.history import SegmentFeatures, segment_features
from coaching.segments import CornerName, Segment, SegmentMap, detect_corners
from coaching.trace import LapTrace

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

MPS_TO_KMH: Final = 3.6
PLOT_POINTS: Final = 600
"""About this many points per plotted line (the traces are resampled along distance)."""
MIN_PLOT_STEP_M: Final = 1.0

BEST_COLOUR: Final = "#1f5fbf"
COMPARED_COLOUR: Final = "#d9480f"
LOSS_COLOUR: Final = "#c92a2a"
GAIN_COLOUR: Final = "#2b8a3e"
FUEL_COLOUR: Final = "#5f3dc4"


# --------------------------------------------------------------------------- the numbers


@dataclass(frozen=True, slots=True)
class LapRow:
    """One row of the lap table."""

    number: int
    kind: str
    time_s: float | None
    delta_s: float | None
    """Time behind the best lap (None for laps without a time, or when there is no best lap)."""
    fuel_used_l: float | None
    top_speed_kmh: float
    under_caution: bool
    reasons: tuple[str, ...]
    is_best: bool
    is_compared: bool


@dataclass(frozen=True, slots=True)
class SegmentSpan:
    """A segment for the time-lost table: its corner plus the straight up to the next segment (m)."""

    id: str
    name: str
    start_m: float
    end_m: float
    """Where the next segment starts; past the track length for the segment that wraps across the line."""
    corner: Segment


@dataclass(frozen=True, slots=True)
class SegmentLoss:
    """The compared lap against the best lap in one segment."""

    segment_id: str
    name: str
    best_s: float | None
    lap_s: float | None
    loss_s: float | None
    """Positive: the compared lap was slower here."""
    brake_delta_m: float | None
    """Brake point of the compared lap minus the best lap's (positive: braked later)."""
    min_speed_delta_kmh: float | None
    """Minimum corner speed of the compared lap minus the best lap's."""


@dataclass(frozen=True, slots=True)
class Hotspot:
    """Time lost in one segment over the flying laps other than the best."""

    segment_id: str
    name: str
    laps: int
    mean_loss_s: float
    std_loss_s: float | None
    """Population standard deviation of the losses (None with fewer than two laps)."""
    max_loss_s: float
    worst_lap: int


@dataclass(frozen=True, slots=True)
class Consistency:
    """How alike the flying laps were: 100 × (1 − σ/μ) of their lap times, floored at 0."""

    score: float | None
    laps: int
    mean_s: float | None
    std_s: float | None
    """Sample standard deviation of the flying-lap times."""


@dataclass(frozen=True, slots=True)
class ReportCall:
    """One call the copilot made, as the report lists it."""

    t_s: float
    lap: int
    lap_dist_m: float
    priority: str
    category: str
    text: str
    segment: str | None


@dataclass(frozen=True, slots=True, eq=False)
class SessionReport:
    """Everything the page shows, computed; `render_html` only formats it."""

    track: str
    track_config: str
    track_length_m: float
    car: str
    driver: str
    session: str
    source: str
    laps: tuple[LapRow, ...]
    best_lap: int | None
    compared_lap: int | None
    segments: tuple[SegmentSpan, ...]
    segment_times: Mapping[int, Mapping[str, float | None]]
    """Lap -> segment id -> seconds spent in the segment span (None where the lap does not cover it)."""
    losses: Mapping[int, Mapping[str, float | None]]
    """Lap -> segment id -> seconds lost against the best lap (negative: gained)."""
    compared: tuple[SegmentLoss, ...]
    hotspots: tuple[Hotspot, ...]
    consistency: Consistency
    fuel_per_lap_l: float | None
    """Mean fuel used over the flying laps."""
    theoretical_best_s: float | None
    """The best time of every segment span over the flying laps, added up."""
    best_trace: LapTrace | None
    compared_trace: LapTrace | None
    calls: tuple[ReportCall, ...] | None
    """None when the copilot did not run (not the same as a run without calls)."""
    notes: tuple[str, ...]
    """Things the reader should know (laps too short to analyse)."""

    def loss(self, lap: int, segment_id: str) -> float | None:
        return self.losses.get(lap, {}).get(segment_id)


def consistency_score(lap_times_s: Sequence[float]) -> Consistency:
    """100 × (1 − σ/μ) of the lap times (σ the sample standard deviation), floored at 0.

    Identical laps score 100; each point below it is a spread of 1 % of the lap time. None with
    fewer than two laps.
    """
    times = [float(t) for t in lap_times_s if t is not None and math.isfinite(t) and t > 0]
    if len(times) < 2:
        return Consistency(None, len(times), times[0] if times else None, None)
    mean = statistics.fmean(times)
    std = statistics.stdev(times)
    return Consistency(max(0.0, 100.0 * (1.0 - std / mean)), len(times), mean, std)


def _segment_spans(segments: Sequence[Segment], length_m: float) -> tuple[SegmentSpan, ...]:
    ordered = sorted(segments, key=lambda s: s.zone_start_m)
    spans: list[SegmentSpan] = []
    for i, segment in enumerate(ordered):
        nxt = ordered[i + 1].zone_start_m if i + 1 < len(ordered) else ordered[0].zone_start_m + length_m
        spans.append(SegmentSpan(segment.id, segment.name, segment.zone_start_m, nxt, segment))
    return tuple(spans)


def _span_times(trace: LapTrace, lap: Lap, spans: Sequence[SegmentSpan], length_m: float) -> dict[str, float | None]:
    """Seconds the lap spent in each span; the wrapping span needs a timed lap that started at the line."""
    first, last = float(trace.dist_m[0]), float(trace.dist_m[-1])
    result: dict[str, float | None] = {}
    for span in spans:
        if span.end_m <= length_m:
            covered = first <= span.start_m and span.end_m <= last
            result[span.id] = float(trace.time_at(span.end_m) - trace.time_at(span.start_m)) if covered else None
        elif lap.time_s is not None and lap.start_time_s is not None and last >= span.start_m:
            wrapped = span.end_m - length_m
            before_line = lap.time_s - float(trace.time_at(span.start_m))
            result[span.id] = before_line + float(trace.time_at(wrapped)) if first <= wrapped else None
        else:
            result[span.id] = None
    return result


def _default_compared(flying: Sequence[Lap], best: Lap | None) -> int | None:
    others = [lap for lap in flying if best is None or lap.number != best.number]
    if not others:
        return None
    return max(others, key=lambda lap: (lap.time_s or 0.0, -lap.number)).number


def _hotspots(
    spans: Sequence[SegmentSpan], losses: Mapping[int, Mapping[str, float | None]], laps: Sequence[int]
) -> tuple[Hotspot, ...]:
    spots: list[tuple[int, Hotspot]] = []
    for order, span in enumerate(spans):
        values = [(lap, v) for lap in laps if (v := losses.get(lap, {}).get(span.id)) is not None]
        if not values:
            continue
        array = np.asarray([v for _, v in values], dtype=np.float64)
        worst_lap, worst = max(values, key=lambda item: item[1])
        spots.append(
            (
                order,
                Hotspot(
                    segment_id=span.id,
                    name=span.name,
                    laps=len(values),
                    mean_loss_s=float(array.mean()),
                    std_loss_s=float(array.std()) if len(values) > 1 else None,
                    max_loss_s=worst,
                    worst_lap=worst_lap,
                ),
            )
        )
    spots.sort(key=lambda item: (-item[1].mean_loss_s, -(item[1].std_loss_s or 0.0), item[0]))
    return tuple(spot for _, spot in spots)


def _compared_rows(
    spans: Sequence[SegmentSpan],
    times: Mapping[int, Mapping[str, float | None]],
    losses: Mapping[int, Mapping[str, float | None]],
    best: int,
    compared: int,
    features: Mapping[int, Mapping[str, SegmentFeatures]],
) -> tuple[SegmentLoss, ...]:
    rows: list[SegmentLoss] = []
    for span in spans:
        fb = features.get(best, {}).get(span.id)
        fc = features.get(compared, {}).get(span.id)
        brake_delta = None
        if fb is not None and fc is not None and fb.brake_point_m is not None and fc.brake_point_m is not None:
            brake_delta = fc.brake_point_m - fb.brake_point_m
        speed_delta = None if fb is None or fc is None else (fc.min_speed_mps - fb.min_speed_mps) * MPS_TO_KMH
        rows.append(
            SegmentLoss(
                segment_id=span.id,
                name=span.name,
                best_s=times.get(best, {}).get(span.id),
                lap_s=times.get(compared, {}).get(span.id),
                loss_s=losses.get(compared, {}).get(span.id),
                brake_delta_m=brake_delta,
                min_speed_delta_kmh=speed_delta,
            )
        )
    return tuple(rows)


def _calls(calls: Sequence[Mapping[str, Any]]) -> tuple[ReportCall, ...]:
    result = []
    for call in calls:
        segment = call.get("segment")
        result.append(
            ReportCall(
                t_s=float(call.get("t", 0.0)),
                lap=int(call.get("lap", 0)),
                lap_dist_m=float(call.get("lap_dist_m", 0.0)),
                priority=str(call.get("priority", "")),
                category=str(call.get("category", "")),
                text=str(call.get("text", "")),
                segment=None if segment is None else str(segment),
            )
        )
    return tuple(result)


def _session_name(info: SessionInfo) -> str:
    kind = info.session_type.value
    name = info.session_name.strip()
    if not name or name.lower() == kind:
        return kind
    return f"{name} ({kind})"


def build_report(
    info: SessionInfo,
    block: FrameBlock,
    laps: Sequence[Lap],
    *,
    calls: Sequence[Mapping[str, Any]] | None = None,
    compare_lap: int | None = None,
    corner_names: Sequence[CornerName] = (),
    source: str = "",
) -> SessionReport:
    """The report of one recorded session.

    `laps`: the laps of `block` (`adapters.laps.split_laps`). `calls`: the copilot's calls as
    `Call.to_dict()` gives them, or None when it did not run. `compare_lap`: the lap plotted and
    compared against the best lap (default: the slowest flying lap other than the best); a number
    that is not one of `laps` raises ValueError. `corner_names`: names for the segments (track notes).
    `source`: what the page says the data came from (a file name).
    """
    numbers = [lap.number for lap in laps]
    if compare_lap is not None and compare_lap not in numbers:
        listed = ", ".join(str(n) for n in numbers) or "none"
        raise ValueError(f"lap {compare_lap} is not a lap of this recording (laps: {listed})")

    notes: list[str] = []
    traces: dict[int, LapTrace] = {}
    for lap in laps:
        try:
            traces[lap.number] = LapTrace.from_block(
                block.slice(lap.start_index, lap.end_index), lap, info.track.length_m
            )
        except NotEnoughLapError as exc:
            logger.info("report: lap %d left out: %s", lap.number, exc)
            notes.append(f"Lap {lap.number} has too few samples to analyse.")
    length = info.track.length_m
    if length <= 0:
        length = max((float(t.dist_m[-1]) for t in traces.values()), default=0.0)

    flying = [lap for lap in laps if lap.kind is LapKind.FLYING and lap.time_s is not None]
    best = min(flying, key=lambda lap: (lap.time_s or 0.0, lap.number), default=None)
    compared = compare_lap if compare_lap is not None else _default_compared(flying, best)

    segment_map = SegmentMap(length, names=corner_names)
    for lap in flying:
        if lap.number in traces:
            segment_map.learn(detect_corners(traces[lap.number]))
    spans = _segment_spans(segment_map.segments, length) if length > 0 else ()
    lap_by_number = {lap.number: lap for lap in laps}
    times = {n: _span_times(trace, lap_by_number[n], spans, length) for n, trace in traces.items()}

    losses: dict[int, dict[str, float | None]] = {}
    if best is not None and best.number in times:
        reference = times[best.number]
        for n, row in times.items():
            losses[n] = {
                sid: None if value is None or reference.get(sid) is None else value - (reference[sid] or 0.0)
                for sid, value in row.items()
            }

    features = {
        n: segment_features(traces[n], segment_map.segments)
        for n in {best.number if best else None, compared}
        if n is not None and n in traces
    }
    compared_rows: tuple[SegmentLoss, ...] = ()
    if best is not None and compared is not None and best.number in traces and compared in traces:
        compared_rows = _compared_rows(spans, times, losses, best.number, compared, features)

    others = [lap.number for lap in flying if best is None or lap.number != best.number]
    hotspots = _hotspots(spans, losses, others)

    theoretical = None
    if spans and flying:
        per_span = [[times[lap.number][s.id] for lap in flying if lap.number in times] for s in spans]
        if all(any(v is not None for v in values) for values in per_span):
            theoretical = sum(min(v for v in values if v is not None) for values in per_span)

    fuel = [lap.fuel_used_l for lap in flying if lap.fuel_used_l is not None]
    step = max(MIN_PLOT_STEP_M, length / PLOT_POINTS) if length > 0 else MIN_PLOT_STEP_M
    best_trace = traces[best.number].resample(step) if best is not None and best.number in traces else None
    compared_trace = traces[compared].resample(step) if compared is not None and compared in traces else None
    if compared is not None and compared not in traces:
        notes.append(f"Lap {compared} cannot be plotted: too few samples.")

    player = info.player
    rows = tuple(
        LapRow(
            number=lap.number,
            kind=lap.kind.value,
            time_s=lap.time_s,
            delta_s=None if best is None or lap.time_s is None else lap.time_s - (best.time_s or 0.0),
            fuel_used_l=lap.fuel_used_l,
            top_speed_kmh=lap.top_speed_mps * MPS_TO_KMH,
            under_caution=lap.under_caution,
            reasons=lap.reasons,
            is_best=best is not None and lap.number == best.number,
            is_compared=lap.number == compared,
        )
        for lap in laps
    )
    return SessionReport(
        track=info.track.display_name or info.track.name,
        track_config=info.track.config,
        track_length_m=length,
        car=player.car_name if player else "",
        driver=player.driver_name if player else "",
        session=_session_name(info),
        source=source,
        laps=rows,
        best_lap=None if best is None else best.number,
        compared_lap=compared,
        segments=spans,
        segment_times=times,
        losses=losses,
        compared=compared_rows,
        hotspots=hotspots,
        consistency=consistency_score([lap.time_s for lap in flying if lap.time_s is not None]),
        fuel_per_lap_l=statistics.fmean(fuel) if fuel else None,
        theoretical_best_s=theoretical,
        best_trace=best_trace,
        compared_trace=compared_trace,
        calls=None if calls is None else _calls(calls),
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------- formatting


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _lap_time(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)}:{rest:06.3f}" if minutes else f"{rest:.3f}"


def _num(value: float | None, digits: int, *, signed: bool = False, unit: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if round(value, digits) == 0:
        return f"{0.0:.{digits}f}{unit}"
    text = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    return f"{text}{unit}"


def _nice_step(span: float, target: int) -> float:
    raw = span / max(target, 1)
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10.0 * magnitude


def _ticks(low: float, high: float, target: int) -> list[float]:
    step = _nice_step(high - low, target)
    first = math.ceil(low / step - 1e-9) * step
    count = int(math.floor((high - first) / step + 1e-9)) + 1
    return [round(first + i * step, 10) for i in range(max(count, 0))]


def _tick_label(value: float) -> str:
    if abs(value - round(value)) < 1e-9:
        return f"{round(value):d}"
    return f"{value:g}"


@dataclass(frozen=True, slots=True)
class _Series:
    label: str
    colour: str
    xs: FloatArray
    ys: FloatArray


class _Frame:
    """Plot area geometry and the data-to-pixel mapping of one chart."""

    WIDTH: Final = 960
    LEFT: Final = 64
    RIGHT: Final = 20
    TOP: Final = 34
    BOTTOM: Final = 46

    def __init__(self, height: int, x0: float, x1: float, y0: float, y1: float) -> None:
        self.height = height
        self.x0, self.x1 = x0, x1 if x1 > x0 else x0 + 1.0
        self.y0, self.y1 = y0, y1 if y1 > y0 else y0 + 1.0
        self.px0, self.px1 = float(self.LEFT), float(self.WIDTH - self.RIGHT)
        self.py0, self.py1 = float(height - self.BOTTOM), float(self.TOP)

    def x(self, value: float) -> float:
        return self.px0 + (value - self.x0) / (self.x1 - self.x0) * (self.px1 - self.px0)

    def y(self, value: float) -> float:
        return self.py0 + (value - self.y0) / (self.y1 - self.y0) * (self.py1 - self.py0)

    def open(self, title: str, label: str) -> list[str]:
        return [
            f'<svg class="plot" role="img" aria-label="{_e(label)}" viewBox="0 0 {self.WIDTH} {self.height}" '
            f'width="{self.WIDTH}" height="{self.height}" preserveAspectRatio="xMidYMid meet">',
            f"<title>{_e(label)}</title>",
            f'<text class="title" x="{self.px0:.0f}" y="20">{_e(title)}</text>',
        ]

    def y_axis(self, ticks: Sequence[float], label: str, *, fmt: Any = _tick_label) -> list[str]:
        parts = []
        for tick in ticks:
            py = self.y(tick)
            parts.append(f'<path class="grid" d="M{self.px0:.1f} {py:.1f}H{self.px1:.1f}"/>')
            parts.append(
                f'<text class="tick" x="{self.px0 - 6:.1f}" y="{py + 4:.1f}" text-anchor="end">{_e(fmt(tick))}</text>'
            )
        mid = (self.py0 + self.py1) / 2
        parts.append(
            f'<text class="axis-label" x="14" y="{mid:.1f}" text-anchor="middle" '
            f'transform="rotate(-90 14 {mid:.1f})">{_e(label)}</text>'
        )
        return parts

    def x_axis(self, ticks: Sequence[float], label: str) -> list[str]:
        parts = [self.axes()]
        for tick in ticks:
            px = self.x(tick)
            parts.append(f'<path class="axis" d="M{px:.1f} {self.py0:.1f}v5"/>')
            parts.append(self.text("tick", px, self.py0 + 18, _tick_label(tick)))
        parts.append(
            f'<text class="axis-label" x="{(self.px0 + self.px1) / 2:.1f}" y="{self.height - 6}" '
            f'text-anchor="middle">{_e(label)}</text>'
        )
        return parts

    def axes(self) -> str:
        x0, y0 = f"{self.px0:.1f}", f"{self.py0:.1f}"
        return f'<path class="axis" d="M{x0} {y0}H{self.px1:.1f}M{x0} {y0}V{self.py1:.1f}"/>'

    @staticmethod
    def text(cls: str, x: float, y: float, content: str, anchor: str = "middle") -> str:
        return f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{_e(content)}</text>'

    def legend(self, entries: Sequence[tuple[str, str]]) -> list[str]:
        parts = []
        x = self.px1
        for label, colour in reversed(entries):
            width = 7.2 * len(label) + 30
            x -= width
            parts.append(f'<path d="M{x:.1f} 16h18" stroke="{colour}" stroke-width="3"/>')
            parts.append(f'<text class="legend" x="{x + 24:.1f}" y="20">{_e(label)}</text>')
        return parts


def _bands(frame: _Frame, segments: Sequence[SegmentSpan], length_m: float) -> list[str]:
    """Light bands over each segment's corner (braking zone to throttle pickup), labelled with its id."""
    parts = []
    for span in segments:
        corner = span.corner
        start, end = max(corner.zone_start_m, 0.0), min(corner.end_m, length_m)
        if end <= start:
            continue
        x0, x1 = frame.x(start), frame.x(end)
        top, bottom = frame.py1, frame.py0
        parts.append(
            f'<rect class="band" x="{x0:.1f}" y="{top:.1f}" width="{x1 - x0:.1f}" height="{bottom - top:.1f}"/>'
        )
        parts.append(frame.text("band-label", (x0 + x1) / 2, top + 12, span.id))
    return parts


def _line_chart(
    *,
    title: str,
    y_label: str,
    series: Sequence[_Series],
    length_m: float,
    y_range: tuple[float, float] | None,
    segments: Sequence[SegmentSpan],
    height: int = 230,
    zero_line: bool = False,
) -> str:
    ys = [s.ys[np.isfinite(s.ys)] for s in series]
    if y_range is None:
        low = min((float(y.min()) for y in ys if len(y)), default=0.0)
        high = max((float(y.max()) for y in ys if len(y)), default=1.0)
        if zero_line:
            low, high = min(low, 0.0), max(high, 0.0)
        pad = (high - low) * 0.05 or 1.0
        step = _nice_step(high - low + 2 * pad, 5)
        y_range = (math.floor((low - pad) / step) * step, math.ceil((high + pad) / step) * step)
    frame = _Frame(height, 0.0, length_m, *y_range)
    parts = frame.open(title, title)
    parts += _bands(frame, segments, length_m)
    parts += frame.y_axis(_ticks(frame.y0, frame.y1, 5), y_label)
    parts += frame.x_axis(_ticks(0.0, length_m, 10), "lap distance (m)")
    if zero_line:
        parts.append(f'<path class="zero" d="M{frame.px0:.1f} {frame.y(0.0):.1f}H{frame.px1:.1f}"/>')
    for s in series:
        ok = np.isfinite(s.xs) & np.isfinite(s.ys)
        points = " ".join(
            f"{frame.x(float(x)):.1f},{frame.y(float(min(max(y, frame.y0), frame.y1))):.1f}"
            for x, y in zip(s.xs[ok], s.ys[ok], strict=True)
        )
        parts.append(f'<polyline class="series" fill="none" stroke="{s.colour}" stroke-width="1.6" points="{points}"/>')
    parts += frame.legend([(s.label, s.colour) for s in series])
    parts.append("</svg>")
    return "\n".join(parts)


def _bar_chart(
    *,
    title: str,
    y_label: str,
    x_label: str,
    bars: Sequence[tuple[str, float, str, str]],
    height: int = 260,
) -> str:
    """Vertical bars: (label under the bar, value, colour, value text)."""
    values = [v for _, v, _, _ in bars]
    low, high = min([0.0, *values]), max([0.0, *values])
    if high - low <= 0:
        high = low + 1.0
    pad = (high - low) * 0.12
    step = _nice_step(high - low + 2 * pad, 5)
    y0 = math.floor((low - (pad if low < 0 else 0.0)) / step) * step
    y1 = math.ceil((high + pad) / step) * step
    frame = _Frame(height, 0.0, float(max(len(bars), 1)), y0, y1)
    parts = frame.open(title, title)
    parts += frame.y_axis(_ticks(y0, y1, 5), y_label)
    parts.append(frame.axes())
    slot = (frame.px1 - frame.px0) / max(len(bars), 1)
    width = min(slot * 0.6, 60.0)
    zero = frame.y(0.0)
    for i, (label, value, colour, text) in enumerate(bars):
        cx = frame.px0 + slot * (i + 0.5)
        top = min(frame.y(value), zero)
        bar_h = max(abs(frame.y(value) - zero), 1.0)
        parts.append(
            f'<rect class="bar" x="{cx - width / 2:.1f}" y="{top:.1f}" width="{width:.1f}" height="{bar_h:.1f}" '
            f'fill="{colour}"><title>{_e(label)}: {_e(text)}</title></rect>'
        )
        ty = top - 5 if value >= 0 else top + bar_h + 13
        parts.append(f'<text class="value" x="{cx:.1f}" y="{ty:.1f}" text-anchor="middle">{_e(text)}</text>')
        parts.append(
            f'<text class="tick" x="{cx:.1f}" y="{frame.py0 + 18:.1f}" text-anchor="middle">{_e(label)}</text>'
        )
    parts.append(f'<path class="zero" d="M{frame.px0:.1f} {zero:.1f}H{frame.px1:.1f}"/>')
    parts.append(frame.text("axis-label", (frame.px0 + frame.px1) / 2, height - 6, x_label))
    parts.append("</svg>")
    return "\n".join(parts)


def _figure(svg: str, caption: str) -> str:
    return f'<figure class="chart">\n{svg}\n<figcaption>{_e(caption)}</figcaption>\n</figure>'


def _table(
    headers: Sequence[str],
    rows: Sequence[tuple[Sequence[str], str]],
    *,
    table_id: str = "",
    text_columns: Sequence[int] = (),
) -> str:
    """`rows`: (already escaped cells, row class). Numbers align right; `text_columns` align left."""
    ident = f' id="{_e(table_id)}"' if table_id else ""

    def cell(tag: str, i: int, content: str) -> str:
        return f'<{tag} class="text">{content}</{tag}>' if i in text_columns else f"<{tag}>{content}</{tag}>"

    head = "".join(cell("th", i, _e(h)) for i, h in enumerate(headers))
    lines = []
    for cells, row_class in rows:
        opening = f'<tr class="{_e(row_class)}">' if row_class else "<tr>"
        lines.append(opening + "".join(cell("td", i, c) for i, c in enumerate(cells)) + "</tr>")
    body = "\n".join(lines)
    return f"<table{ident}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


CSS: Final = """
:root { color-scheme: light; }
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: #1b1f24; background: #f6f7f9;
  margin: 0; line-height: 1.45; }
main { max-width: 1000px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 1.7rem; margin: 0 0 4px; }
h2 { font-size: 1.2rem; margin: 32px 0 8px; border-bottom: 2px solid #d0d5dc; padding-bottom: 4px; }
p.meta { color: #4a525c; margin: 0 0 16px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.card { background: #fff; border: 1px solid #d0d5dc; border-radius: 6px; padding: 10px 14px; min-width: 150px; }
.card .label { font-size: 0.8rem; color: #4a525c; text-transform: uppercase; letter-spacing: 0.04em; }
.card .value { font-size: 1.35rem; font-weight: bold; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; background: #fff; margin: 8px 0 12px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d5dc; padding: 4px 10px; text-align: right; }
th { background: #e9ecf0; }
td.text, th.text { text-align: left; }
tr.best td { background: #e3efff; }
tr.compared td { background: #fff0e6; }
.loss { color: #c92a2a; }
.gain { color: #2b8a3e; }
figure.chart { margin: 12px 0; background: #fff; border: 1px solid #d0d5dc; border-radius: 6px; padding: 8px; }
figure.chart svg { display: block; width: 100%; height: auto; }
figcaption { font-size: 0.85rem; color: #4a525c; margin-top: 4px; }
svg text { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; font-size: 12px; fill: #1b1f24; }
svg text.title { font-size: 14px; font-weight: bold; }
svg text.axis-label { font-size: 12px; fill: #4a525c; }
svg text.tick, svg text.band-label { font-size: 11px; fill: #4a525c; }
svg text.value { font-size: 11px; }
svg .grid { stroke: #e3e6ea; stroke-width: 1; }
svg .axis { stroke: #6b737d; stroke-width: 1; fill: none; }
svg .zero { stroke: #1b1f24; stroke-width: 1; }
svg .band { fill: #eef0f3; }
.note { background: #fff8db; border: 1px solid #f0d98c; border-radius: 6px; padding: 8px 12px; }
.explain { color: #333a42; max-width: 80ch; }
"""


def _card(label: str, value: str) -> str:
    return f'<div class="card"><div class="label">{_e(label)}</div><div class="value">{_e(value)}</div></div>'


def _signed_cell(value: float | None, digits: int, unit: str = "") -> str:
    text = _e(_num(value, digits, signed=True, unit=unit))
    if value is None or round(value, digits) == 0:
        return text
    return f'<span class="{"loss" if value > 0 else "gain"}">{text}</span>'


def _lap_section(report: SessionReport) -> list[str]:
    rows = []
    for lap in report.laps:
        cls = "best" if lap.is_best else "compared" if lap.is_compared else ""
        tags = [
            t for t, on in (("best", lap.is_best), ("compared", lap.is_compared), ("caution", lap.under_caution)) if on
        ]
        rows.append(
            (
                [
                    _e(lap.number),
                    _e(_lap_time(lap.time_s)),
                    f'<span class="kind">{_e(lap.kind)}</span>',
                    _e("best" if lap.is_best else "–")
                    if lap.delta_s is None or lap.is_best
                    else _signed_cell(lap.delta_s, 3),
                    _e(_num(lap.fuel_used_l, 2)),
                    _e(_num(lap.top_speed_kmh, 1)),
                    _e("; ".join([*tags, *lap.reasons]) or "–"),
                ],
                cls,
            )
        )
    headers = ["lap", "time", "kind", "delta to best (s)", "fuel used (l)", "top speed (km/h)", "notes"]
    return [
        '<section id="laps">',
        "<h2>Laps</h2>",
        _table(headers, rows, table_id="lap-table", text_columns=(2, 6)),
        "</section>",
    ]


def _segment_section(report: SessionReport) -> list[str]:
    parts = ['<section id="segments">', "<h2>Time lost per segment</h2>"]
    if report.best_lap is None or not report.segments:
        why = (
            "no flying lap to compare against" if report.best_lap is None else "no corner was found on the flying laps"
        )
        parts += [f'<p class="note">Nothing to compare: {_e(why)}.</p>', "</section>"]
        return parts
    parts.append(
        '<p class="explain">Each segment runs from the start of a corner&#8217;s braking zone to the start of the next '
        "one, so it holds the corner and the straight after it; the last segment runs across the line. A lap&#8217;s "
        "segment times add up to its lap time, so the time lost in each segment adds up to the gap to the best lap "
        f"(lap {_e(report.best_lap)}). Positive numbers are time lost, negative time gained.</p>"
    )
    if report.compared and report.compared_lap is not None and report.compared_lap != report.best_lap:
        bars = [
            (
                row.segment_id,
                row.loss_s,
                LOSS_COLOUR if row.loss_s > 0 else GAIN_COLOUR,
                _num(row.loss_s, 3, signed=True),
            )
            for row in report.compared
            if row.loss_s is not None
        ]
        if bars:
            title = f"Time lost per segment: lap {report.compared_lap} against lap {report.best_lap}"
            svg = _bar_chart(title=title, y_label="time lost (s)", x_label="segment", bars=bars)
            parts.append(_figure(svg, "Bars above zero: time lost to the best lap; below zero: time gained."))
        rows = [
            (
                [
                    _e(row.segment_id),
                    _e(row.name),
                    _e(_num(row.best_s, 3)),
                    _e(_num(row.lap_s, 3)),
                    _signed_cell(row.loss_s, 3),
                    _e(_num(row.brake_delta_m, 1, signed=True)),
                    _e(_num(row.min_speed_delta_kmh, 1, signed=True)),
                ],
                "",
            )
            for row in report.compared
        ]
        headers = [
            "segment",
            "name",
            f"lap {report.best_lap} (s)",
            f"lap {report.compared_lap} (s)",
            "time lost (s)",
            "brake point (m, + later)",
            "min speed (km/h)",
        ]
        parts.append(f"<h3>Lap {_e(report.compared_lap)} against the best lap, lap {_e(report.best_lap)}</h3>")
        parts.append(_table(headers, rows, table_id="segment-table", text_columns=(0, 1)))
    lap_numbers = [lap.number for lap in report.laps if lap.number in report.losses and lap.kind == "flying"]
    if lap_numbers:
        matrix = [
            ([_e(span.id), *(_signed_cell(report.loss(n, span.id), 3) for n in lap_numbers)], "")
            for span in report.segments
        ]
        parts.append("<h3>Every flying lap against the best (s lost)</h3>")
        parts.append(
            _table(["segment", *(f"lap {n}" for n in lap_numbers)], matrix, table_id="loss-matrix", text_columns=(0,))
        )
    parts.append("</section>")
    return parts


def _hotspot_section(report: SessionReport) -> list[str]:
    parts = ['<section id="hotspots">', "<h2>Mistake hotspots</h2>"]
    if not report.hotspots:
        parts += ['<p class="note">Needs at least two flying laps: nothing to rank yet.</p>', "</section>"]
        return parts
    parts.append(
        '<p class="explain">Segments ranked by the mean time lost to the best lap over the other flying laps. The '
        "spread (standard deviation) says whether the loss is the same every lap (a technique to change) or comes "
        "and goes (a mistake to avoid).</p>"
    )
    rows = [
        (
            [
                _e(rank),
                _e(spot.segment_id),
                _e(spot.name),
                _signed_cell(spot.mean_loss_s, 3),
                _e(_num(spot.std_loss_s, 3)),
                _signed_cell(spot.max_loss_s, 3),
                _e(spot.worst_lap),
                _e(spot.laps),
            ],
            "",
        )
        for rank, spot in enumerate(report.hotspots, start=1)
    ]
    headers = ["rank", "segment", "name", "mean lost (s)", "spread σ (s)", "most lost (s)", "on lap", "laps"]
    parts += [_table(headers, rows, table_id="hotspot-table", text_columns=(1, 2)), "</section>"]
    return parts


def _consistency_section(report: SessionReport) -> list[str]:
    c = report.consistency
    parts = ['<section id="consistency">', "<h2>Consistency</h2>"]
    if c.score is None:
        parts.append(f'<p class="note">Needs at least two flying laps (this session has {_e(c.laps)}).</p>')
    else:
        parts.append(
            f'<p>Score <strong id="consistency-score">{_e(_num(c.score, 2))}</strong> over {_e(c.laps)} flying laps: '
            f"mean {_e(_lap_time(c.mean_s))}, spread σ {_e(_num(c.std_s, 3))} s.</p>"
        )
    parts.append(
        '<p class="explain">Consistency = 100 × (1 − σ / μ), where μ is the mean and σ the sample standard deviation '
        "of the flying-lap times (out-laps, in-laps and invalid laps left out), floored at 0. Identical laps "
        "score 100; each point below 100 is a spread of 1 % of the lap time (a spread of 0.2 s on 20 s laps "
        "scores 99).</p>"
    )
    parts.append("</section>")
    return parts


def _fuel_section(report: SessionReport) -> list[str]:
    parts = ['<section id="fuel">', "<h2>Fuel per lap</h2>"]
    fuelled = [lap for lap in report.laps if lap.fuel_used_l is not None]
    if not fuelled:
        parts += ['<p class="note">The recording has no fuel level.</p>', "</section>"]
        return parts
    parts.append(
        f"<p>Mean over the flying laps: <strong>{_e(_num(report.fuel_per_lap_l, 3, unit=' l'))}</strong> per lap.</p>"
    )
    bars = [
        (
            f"{lap.number}",
            lap.fuel_used_l or 0.0,
            FUEL_COLOUR if lap.kind == "flying" else "#a5a9b0",
            _num(lap.fuel_used_l, 2),
        )
        for lap in fuelled
    ]
    svg = _bar_chart(title="Fuel used per lap", y_label="fuel (l)", x_label="lap", bars=bars)
    parts += [_figure(svg, "Flying laps in purple, out-laps, in-laps and invalid laps in grey."), "</section>"]
    return parts


def _trace_section(report: SessionReport) -> list[str]:
    parts = ['<section id="traces">']
    best, other = report.best_trace, report.compared_trace
    if best is None and other is None:
        parts += ["<h2>Speed, throttle and brake</h2>", '<p class="note">No lap to plot.</p>', "</section>"]
        return parts
    shown = [t for t in (best, other) if t is not None]
    if best is not None and other is not None and other.lap != best.lap:
        heading = f"Best lap {best.lap} against lap {other.lap}"
        shown_labels = [(best, f"lap {best.lap} (best)", BEST_COLOUR), (other, f"lap {other.lap}", COMPARED_COLOUR)]
    else:
        only = shown[0]
        heading = f"Lap {only.lap}" + (" (best)" if report.best_lap == only.lap else "")
        shown_labels = [(only, f"lap {only.lap}", BEST_COLOUR)]
    parts.append(f"<h2>Speed, throttle and brake: {_e(heading)}</h2>")
    length = report.track_length_m

    def series(channel: str, scale: float) -> list[_Series]:
        return [
            _Series(label, colour, trace.dist_m, np.asarray(getattr(trace, channel), dtype=np.float64) * scale)
            for trace, label, colour in shown_labels
        ]

    charts = [
        ("Speed", "speed (km/h)", series("speed_mps", MPS_TO_KMH), None),
        ("Throttle", "throttle (%)", series("throttle", 100.0), (0.0, 100.0)),
        ("Brake", "brake (%)", series("brake", 100.0), (0.0, 100.0)),
    ]
    for title, y_label, lines, y_range in charts:
        svg = _line_chart(
            title=f"{title} along the lap",
            y_label=y_label,
            series=lines,
            length_m=length,
            y_range=y_range,
            segments=report.segments,
        )
        parts.append(_figure(svg, f"{title} against lap distance; grey bands are the corners (segment ids on top)."))
    if best is not None and other is not None and other.lap != best.lap:
        grid = best.dist_m
        inside = (grid >= other.dist_m[0]) & (grid <= other.dist_m[-1])
        delta = np.where(inside, other.time_at(grid) - best.time_at(grid), np.nan)
        svg = _line_chart(
            title=f"Time delta: lap {other.lap} minus lap {best.lap}",
            y_label="delta (s)",
            series=[_Series(f"lap {other.lap} behind (+) / ahead (−)", COMPARED_COLOUR, grid, delta)],
            length_m=length,
            y_range=None,
            segments=report.segments,
            zero_line=True,
        )
        parts.append(_figure(svg, "Where the time went: the line rises where the compared lap loses time."))
    parts.append("</section>")
    return parts


def _calls_section(report: SessionReport) -> list[str]:
    if report.calls is None:
        return []
    parts = ['<section id="coaching">', "<h2>Coaching calls</h2>"]
    if not report.calls:
        parts += ['<p class="note">The copilot ran but made no calls.</p>', "</section>"]
        return parts
    rows = [
        (
            [
                _e(_num(call.t_s, 3)),
                _e(call.lap),
                _e(_num(call.lap_dist_m, 1)),
                _e(call.priority),
                _e(call.category),
                _e(call.segment or "–"),
                _e(call.text),
            ],
            "",
        )
        for call in report.calls
    ]
    headers = ["session time (s)", "lap", "lap distance (m)", "priority", "from", "segment", "call"]
    parts += [_table(headers, rows, table_id="calls-table", text_columns=(3, 4, 5, 6)), "</section>"]
    return parts


def render_html(report: SessionReport) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG, no scripts, no external resources)."""
    title = f"PitBox session report: {report.track}"
    meta = [
        f"{report.track} {report.track_config}".strip(),
        f"{report.track_length_m:.0f} m" if report.track_length_m > 0 else "",
        f"car: {report.car}" if report.car else "",
        f"driver: {report.driver}" if report.driver else "",
        f"session: {report.session}",
        f"source: {report.source}" if report.source else "",
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">{" · ".join(_e(m) for m in meta if m)}</p>',
    ]
    if not report.laps:
        parts += [
            '<p class="note" id="no-laps">No complete lap in this recording: there is nothing to report on.</p>',
            *_calls_section(report),
            "</main>",
            "</body>",
            "</html>",
        ]
        return "\n".join(parts) + "\n"
    best_row = next((lap for lap in report.laps if lap.is_best), None)
    c = report.consistency
    parts.append('<div class="cards">')
    parts.append(_card("best lap", f"{_lap_time(best_row.time_s)} (lap {best_row.number})" if best_row else "–"))
    parts.append(_card("theoretical best", _lap_time(report.theoretical_best_s)))
    parts.append(_card("consistency", _num(c.score, 2)))
    parts.append(_card("fuel per lap", _num(report.fuel_per_lap_l, 3, unit=" l")))
    parts.append(_card("laps", f"{len(report.laps)} ({sum(lap.kind == 'flying' for lap in report.laps)} flying)"))
    parts.append("</div>")
    parts += [f'<p class="note">{_e(note)}</p>' for note in report.notes]
    parts += _lap_section(report)
    parts += _segment_section(report)
    parts += _hotspot_section(report)
    parts += _consistency_section(report)
    parts += _fuel_section(report)
    parts += _trace_section(report)
    parts += _calls_section(report)
    parts += ["</main>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"
