"""Track maps for the dashboard: the 2-D outline of a track, learned from laps or taken from a track file.

Pure (numpy only, no file or socket I/O). An outline is an (N, 2) array of metres, x east and y
north, with point i at lap fraction i/N; it is closed (point N would be point 0), so every car can
be placed on it by its lap-distance fraction alone.

Where an outline comes from (`TrackMap.source`):

* ``"file"``: a PitBox track file (`assets/tracks/*.json`), the track's own centreline.
* ``"gps"``: one lap's latitude/longitude, projected equirectangularly around the lap's mean
  position (metre accuracy over a few kilometres).
* ``"dead_reckoning"``: speed and yaw rate integrated over time, for sims that give no position
  live (iRacing has latitude/longitude only in `.ibt` files). The heading drift is corrected so the
  lap turns a whole number of times, and the closure error is spread along the distance driven.
  Its orientation is arbitrary (the lap starts heading east) and it follows the car's line.

`TrackMapLearner` averages up to five laps of the best source it has seen (gps over dead
reckoning); dead-reckoned laps are first aligned by a rigid rotation and translation (Kabsch).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from relay.errors import RelayError

__all__ = [
    "DEFAULT_POINTS",
    "SOURCES",
    "TrackMap",
    "TrackMapError",
    "TrackMapLearner",
    "align",
    "align_rms_m",
    "map_from_track_file",
    "outline_from_lap",
    "perimeter_m",
    "track_key",
]

FloatArray = npt.NDArray[np.float64]

DEFAULT_POINTS: Final = 512
"""Outline points when a caller does not say (about 9 m apart on a 4.6 km track)."""
SOURCES: Final = ("file", "gps", "dead_reckoning")
"""Where an outline can come from, best first."""
EARTH_RADIUS_M: Final = 6_371_008.8
"""Mean Earth radius, for the equirectangular projection."""
GPS_MIN_SHARE: Final = 0.95
"""A lap uses its latitude/longitude when at least this share of its samples has both."""
MIN_LAP_SAMPLES: Final = 32
"""Fewer samples than this (after cleaning) cannot describe a lap."""
MIN_LAP_COVERAGE: Final = 0.9
"""The samples of a lap must span at least this much of the lap fraction."""
MIN_POINTS: Final = 8
MAX_POINTS: Final = 10_000
MAX_KEY_CHARS: Final = 100

_UNSAFE: Final = re.compile(r"[^a-z0-9_.-]+")


class TrackMapError(RelayError):
    """A track map or the samples of a lap cannot be used (malformed document, too few samples)."""


# --------------------------------------------------------------------------- the map value


def _as_outline(points: Any, what: str) -> FloatArray:
    """`points` as a finite (N, 2) float64 array with N >= 3, or TrackMapError."""
    try:
        array = np.array(points, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TrackMapError(f"{what} must be [x, y] pairs of numbers") from exc
    if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] < 3:
        raise TrackMapError(f"{what} must be at least 3 [x, y] pairs, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise TrackMapError(f"{what} holds a value that is not a finite number")
    return array


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


@dataclass(frozen=True, slots=True, eq=False)
class TrackMap:
    """The outline of a track: `points_m` (N, 2) metres, x east / y north, point i at lap fraction i/N.

    `length_m` is the lap length (the sim's, or the outline's perimeter when none is known);
    `laps_used` is how many laps were averaged (0 for a track file). The array is read-only.
    """

    track: str
    source: str
    points_m: FloatArray
    length_m: float
    laps_used: int

    def __post_init__(self) -> None:
        if not isinstance(self.track, str) or not self.track:
            raise TrackMapError("a track map needs a track key")
        if self.source not in SOURCES:
            raise TrackMapError(f"track map source must be one of {', '.join(SOURCES)}, not {self.source!r}")
        points = _as_outline(self.points_m, "track map points")
        points.setflags(write=False)
        object.__setattr__(self, "points_m", points)
        length = _number(self.length_m)
        if length is None or not math.isfinite(length) or length <= 0:
            raise TrackMapError("track map length_m must be a positive number")
        object.__setattr__(self, "length_m", length)
        if isinstance(self.laps_used, bool) or not isinstance(self.laps_used, int) or self.laps_used < 0:
            raise TrackMapError("track map laps_used must be a whole number >= 0")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: `{"track", "source", "length_m", "laps_used", "points": [[x, y], ...]}` (0.01 m)."""
        return {
            "track": self.track,
            "source": self.source,
            "length_m": round(self.length_m, 2),
            "laps_used": self.laps_used,
            "points": np.round(self.points_m, 2).tolist(),
        }

    @classmethod
    def from_dict(cls, document: Any) -> TrackMap:
        """The map `to_dict` wrote; TrackMapError when `document` is not one."""
        if not isinstance(document, Mapping):
            raise TrackMapError("a track map document must be an object")
        missing = [key for key in ("track", "source", "length_m", "laps_used", "points") if key not in document]
        if missing:
            raise TrackMapError(f"track map document lacks {', '.join(missing)}")
        points = document["points"]
        if not isinstance(points, list | tuple) or not all(
            isinstance(p, list | tuple) and len(p) == 2 and all(_number(v) is not None for v in p) for p in points
        ):
            raise TrackMapError("track map points must be a list of [x, y] numbers")
        if len(points) > MAX_POINTS:
            raise TrackMapError(f"track map has more than {MAX_POINTS} points")
        length = _number(document["length_m"])
        if length is None:
            raise TrackMapError("track map length_m must be a number")
        laps_used = document["laps_used"]
        if isinstance(laps_used, bool) or not isinstance(laps_used, int):
            raise TrackMapError("track map laps_used must be a whole number")
        track = document["track"]
        if not isinstance(track, str) or track != _safe_key(track):
            raise TrackMapError("track map track must be a track key ([a-z0-9_.-])")
        return cls(track, str(document["source"]), np.array(points, dtype=np.float64), length, laps_used)


# --------------------------------------------------------------------------- track keys


def _safe_key(text: str) -> str:
    key = _UNSAFE.sub("_", text.strip().lower()).strip("_.-")
    return key[:MAX_KEY_CHARS].rstrip("_.-")


def track_key(session: Mapping[str, Any]) -> str:
    """A file-name-safe key for the track of a session-info dict: "pitbox_park-grand_prix"; "unknown" without one.

    Built from `session["track"]["name"]` and `["config"]`, lowercase, `[a-z0-9_.-]` only.
    """
    track = session.get("track") if isinstance(session, Mapping) else None
    if not isinstance(track, Mapping):
        return "unknown"
    name = track.get("name")
    config = track.get("config")
    name_key = _safe_key(name) if isinstance(name, str) else ""
    if not name_key:
        return "unknown"
    config_key = _safe_key(config) if isinstance(config, str) else ""
    return _safe_key(f"{name_key}-{config_key}") if config_key else name_key


# --------------------------------------------------------------------------- outlines


def _check_points(points: int) -> None:
    if isinstance(points, bool) or not isinstance(points, int) or not MIN_POINTS <= points <= MAX_POINTS:
        raise TrackMapError(f"outline points must be a whole number from {MIN_POINTS} to {MAX_POINTS}")


def _resample_closed(frac: FloatArray, xy: FloatArray, points: int) -> FloatArray:
    """Resample a closed outline known at increasing fractions `frac` (in [0, 1)) at i/points.

    The first and last samples are repeated one lap away, so interpolation runs across the line.
    """
    frac_ext = np.concatenate(([frac[-1] - 1.0], frac, [frac[0] + 1.0]))
    xy_ext = np.concatenate((xy[-1:], xy, xy[:1]))
    grid = np.arange(points, dtype=np.float64) / points
    return np.column_stack((np.interp(grid, frac_ext, xy_ext[:, 0]), np.interp(grid, frac_ext, xy_ext[:, 1])))


def map_from_track_file(document: Mapping[str, Any], points: int = DEFAULT_POINTS) -> TrackMap:
    """The outline of a PitBox track file, resampled at `points` equally spaced lap fractions.

    The file's `outline` holds `columns` (with "x_m" and "y_m") and `points` equally spaced along
    the lap from the line, closed; `length_m` is the lap length.
    """
    _check_points(points)
    if not isinstance(document, Mapping):
        raise TrackMapError("a track file must be an object")
    outline = document.get("outline")
    if not isinstance(outline, Mapping):
        raise TrackMapError("the track file has no outline")
    columns = outline.get("columns")
    rows = outline.get("points")
    if not isinstance(columns, list) or "x_m" not in columns or "y_m" not in columns:
        raise TrackMapError("the track file's outline has no x_m and y_m columns")
    if not isinstance(rows, list) or len(rows) < 3:
        raise TrackMapError("the track file's outline has fewer than 3 points")
    ix, iy = columns.index("x_m"), columns.index("y_m")
    if not all(isinstance(row, list) and len(row) == len(columns) for row in rows):
        raise TrackMapError("every outline point must have one value per column")
    xy = _as_outline([[row[ix], row[iy]] for row in rows], "the track file's outline")
    length = _number(document.get("length_m"))
    if length is None or not math.isfinite(length) or length <= 0:
        raise TrackMapError("the track file has no positive length_m")
    frac = np.arange(len(xy), dtype=np.float64) / len(xy)
    key = track_key({"track": {"name": document.get("name"), "config": document.get("config")}})
    return TrackMap(key, "file", _resample_closed(frac, xy, points), length, 0)


def _vector(values: Any, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise TrackMapError(f"{name} must be one value per sample")
    return array


def _project(lat_deg: FloatArray, lon_deg: FloatArray) -> FloatArray:
    """Equirectangular projection around the mean position: metres east and north."""
    lat0 = math.radians(float(lat_deg.mean()))
    lon0 = math.radians(float(lon_deg.mean()))
    x = EARTH_RADIUS_M * math.cos(lat0) * (np.radians(lon_deg) - lon0)
    y = EARTH_RADIUS_M * (np.radians(lat_deg) - lat0)
    return np.column_stack((x, y))


def _cumulative_trapezoid(values: FloatArray, time_s: FloatArray) -> FloatArray:
    return np.concatenate(([0.0], np.cumsum(0.5 * (values[1:] + values[:-1]) * np.diff(time_s))))


def _dead_reckon(frac: FloatArray, speed_mps: FloatArray, yaw_rate_radps: FloatArray, time_s: FloatArray) -> FloatArray:
    """Positions along the lap from speed and yaw rate, from the line (frac 0) to the line (frac 1).

    Returns len(frac) + 2 points: the line, every sample, the line again (equal to the first).
    """
    heading = _cumulative_trapezoid(yaw_rate_radps, time_s)
    # The samples start just after the line and end just before it: scale the turn measured over
    # the samples to the whole lap before rounding it to whole turns.
    span = frac[-1] - frac[0]
    turns = round(heading[-1] / span / (2.0 * math.pi))
    drift = heading[-1] - 2.0 * math.pi * turns * span
    elapsed = time_s - time_s[0]
    heading = heading - drift * elapsed / elapsed[-1]
    cos_h, sin_h = np.cos(heading), np.sin(heading)
    x = _cumulative_trapezoid(speed_mps * cos_h, time_s)
    y = _cumulative_trapezoid(speed_mps * sin_h, time_s)
    travelled = _cumulative_trapezoid(speed_mps, time_s)
    # Extend to the line at both ends along the heading there, by the distance the fractions say.
    lap_m = travelled[-1] / span if span > 0 else travelled[-1]
    before, after = frac[0] * lap_m, (1.0 - frac[-1]) * lap_m
    start = np.array([x[0] - before * cos_h[0], y[0] - before * sin_h[0]])
    end = np.array([x[-1] + after * cos_h[-1], y[-1] + after * sin_h[-1]])
    xy = np.vstack((start, np.column_stack((x, y)), end))
    along = np.concatenate(([0.0], travelled + before, [travelled[-1] + before + after]))
    closure = xy[-1] - xy[0]
    return xy - np.outer(along / max(along[-1], 1e-9), closure)


def outline_from_lap(
    frac: Any,
    lat_deg: Any,
    lon_deg: Any,
    speed_mps: Any,
    yaw_rate_radps: Any,
    time_s: Any,
    *,
    points: int = DEFAULT_POINTS,
) -> tuple[FloatArray, str]:
    """The outline of one complete lap, resampled at `points` equally spaced lap fractions, and its source.

    The arrays are the lap's samples in time order (lap fraction from near 0 to near 1). With finite
    latitude/longitude on at least 95 % of the samples the outline is the projected GPS track
    ("gps"); otherwise it is dead-reckoned from speed and yaw rate ("dead_reckoning"). Raises
    TrackMapError when the samples cannot make a lap (too few, lengths differ, lap not covered).
    """
    _check_points(points)
    arrays = [
        _vector(v, n)
        for v, n in (
            (frac, "frac"),
            (lat_deg, "lat_deg"),
            (lon_deg, "lon_deg"),
            (speed_mps, "speed_mps"),
            (yaw_rate_radps, "yaw_rate_radps"),
            (time_s, "time_s"),
        )
    ]
    if len({len(a) for a in arrays}) != 1:
        raise TrackMapError("the samples of a lap need the same number of values in every channel")
    f, lat, lon, speed, yaw, t = arrays
    usable = np.isfinite(f) & np.isfinite(t)
    # Samples from before the line (a late wrap) or after it (an early one) do not belong to the lap.
    f = np.clip(f, 0.0, 1.0)
    low, high = f < 0.5, f >= 0.5
    if low.any():
        usable[: int(np.argmax(low))] = False
    if high.any():
        usable[len(f) - int(np.argmax(high[::-1])) :] = False
    gps = np.isfinite(lat) & np.isfinite(lon)
    use_gps = usable.sum() > 0 and gps[usable].mean() >= GPS_MIN_SHARE
    keep = usable & (gps if use_gps else np.isfinite(speed) & np.isfinite(yaw))
    if keep.sum() < MIN_LAP_SAMPLES:
        raise TrackMapError(f"a lap needs at least {MIN_LAP_SAMPLES} usable samples, got {int(keep.sum())}")
    f, lat, lon, speed, yaw, t = (a[keep] for a in (f, lat, lon, speed, yaw, t))
    if (np.diff(t) < 0).any():
        raise TrackMapError("the samples of a lap must be in time order")
    f = np.maximum.accumulate(f)
    if f[-1] - f[0] < MIN_LAP_COVERAGE:
        raise TrackMapError(f"the samples cover {f[-1] - f[0]:.0%} of the lap, not a complete lap")
    if use_gps:
        xy = _project(lat, lon)
        source = "gps"
    else:
        xy = _dead_reckon(f, speed, yaw, t)[:-1]  # the line at the end repeats the line at the start
        f = np.concatenate(([0.0], f))
        source = "dead_reckoning"
    # One sample per fraction (a car standing still, float32 steps): the first of each run.
    distinct = np.concatenate(([True], np.diff(f) > 0)) & (f < 1.0)
    f, xy = f[distinct], xy[distinct]
    outline = _resample_closed(f, xy, points)
    if source == "dead_reckoning":
        outline -= outline.mean(axis=0)
    return outline, source


# --------------------------------------------------------------------------- alignment


def _pair(reference: Any, outline: Any) -> tuple[FloatArray, FloatArray]:
    a = _as_outline(reference, "reference outline")
    b = _as_outline(outline, "outline")
    if a.shape != b.shape:
        raise TrackMapError(f"outlines to align need the same number of points ({len(a)} vs {len(b)})")
    return a, b


def align(reference: Any, outline: Any, *, rotate: bool = True) -> FloatArray:
    """`outline` moved onto `reference` (same N) by the best rigid rotation and translation (Kabsch).

    No reflection is allowed. With `rotate=False` only the translation is fitted (GPS outlines,
    which share north).
    """
    a, b = _pair(reference, outline)
    ca, cb = a.mean(axis=0), b.mean(axis=0)
    if not rotate:
        result: FloatArray = b - cb + ca
        return result
    h = (b - cb).T @ (a - ca)
    u, _, vt = np.linalg.svd(h)
    d = -1.0 if np.linalg.det(vt.T @ u.T) < 0 else 1.0
    rotation = vt.T @ np.diag([1.0, d]) @ u.T
    moved: FloatArray = (b - cb) @ rotation.T + ca
    return moved


def align_rms_m(reference: Any, outline: Any) -> float:
    """RMS distance (m) between two outlines of the same N after the best rigid motion of `outline` onto `reference`."""
    a, _ = _pair(reference, outline)
    moved = align(a, outline)
    return float(np.sqrt(np.mean(np.sum((moved - a) ** 2, axis=1))))


def perimeter_m(outline: FloatArray) -> float:
    """Length of the closed polyline."""
    closed = np.vstack((outline, outline[:1]))
    return float(np.hypot(*np.diff(closed, axis=0).T).sum())


# --------------------------------------------------------------------------- learning


class TrackMapLearner:
    """Averages the outlines of up to `max_laps` laps of the best source seen (gps over dead reckoning).

    The first `max_laps` laps of each source are kept. `map()` aligns them to the lap closest to
    all others (dead reckoning: rotation and translation; gps: translation), leaves out laps that
    disagree with it by more than `outlier_frac` of its perimeter (a glitch, a yaw-rate dropout),
    and averages the rest.
    """

    def __init__(self, *, max_laps: int = 5, outlier_frac: float = 0.01) -> None:
        if max_laps < 1:
            raise ValueError("max_laps must be at least 1")
        self.max_laps = max_laps
        self.outlier_frac = outlier_frac
        self._laps: dict[str, list[FloatArray]] = {"gps": [], "dead_reckoning": []}
        self._cached: tuple[str, float, TrackMap | None] | None = None

    @property
    def source(self) -> str | None:
        """The source `map()` uses (None before any lap)."""
        return next((s for s in ("gps", "dead_reckoning") if self._laps[s]), None)

    def add_lap(self, outline: FloatArray, source: str) -> None:
        """One lap's outline (from `outline_from_lap`); laps after the first `max_laps` of a source are ignored."""
        if source not in self._laps:
            raise TrackMapError(f"a learned lap's source is gps or dead_reckoning, not {source!r}")
        points = _as_outline(outline, "lap outline")
        laps = self._laps[source]
        if laps and points.shape != laps[0].shape:
            raise TrackMapError("every lap of a learner needs the same number of points")
        if len(laps) < self.max_laps:
            laps.append(points.copy())
            self._cached = None

    def map(self, track: str, length_m: float) -> TrackMap | None:
        """The averaged map (None before any lap); `length_m` <= 0 or NaN: the outline's perimeter."""
        if self._cached is not None and self._cached[:2] == (track, length_m):
            return self._cached[2]
        source = self.source
        result = None
        if source is not None:
            averaged, used = self._average(self._laps[source], rotate=source == "dead_reckoning")
            length = length_m if math.isfinite(length_m) and length_m > 0 else perimeter_m(averaged)
            result = TrackMap(track, source, averaged, length, used)
        self._cached = (track, length_m, result)
        return result

    def _average(self, laps: list[FloatArray], *, rotate: bool) -> tuple[FloatArray, int]:
        if len(laps) == 1:
            return laps[0].copy(), 1
        count = len(laps)
        aligned = [[align(laps[i], laps[j], rotate=rotate) for j in range(count)] for i in range(count)]
        rms = np.array(
            [
                [float(np.sqrt(np.mean(np.sum((aligned[i][j] - laps[i]) ** 2, axis=1)))) for j in range(count)]
                for i in range(count)
            ]
        )
        centre = int(np.argmin(rms.sum(axis=1)))
        limit = self.outlier_frac * perimeter_m(laps[centre])
        chosen = [j for j in range(count) if rms[centre, j] <= limit]
        average: FloatArray = np.mean([aligned[centre][j] for j in chosen], axis=0)
        return average, len(chosen)
