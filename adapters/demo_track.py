"""The demo circuit's track model: load it from `assets/tracks/`, validate it, and build its outline.

A track model file is declarative JSON (see `assets/tracks/pitbox_park.json`): the circuit's name and
length, sector starts, the pit lane, the named corners, and an outline for maps. Every distance is a
lap distance in metres from the start/finish line.

A corner is described along the lap by six points, in this order:

    brake_m < brake_end_m <= apex_m <= throttle_m < exit_m,   turn_in_m < brake_end_m

The driver brakes over [brake_m, brake_end_m] (the corner's braking zone; trail braking overlaps the
first part of the turn), holds `min_speed_mps` from `brake_end_m` to `throttle_m`, and accelerates
from there. The track's curvature follows the same points: it rises smoothly from `turn_in_m` to
`brake_end_m`, holds `1 / radius` to `throttle_m` and falls back to zero at `exit_m`, turning the car
through `angle_deg` in `direction`. `curvature_1pm` computes that profile; `build_outline` integrates
it into the closed centreline polyline stored in the file (x east, y north, metres from an origin,
plus latitude/longitude projected from the origin's coordinates).

The file is generated once (`adapters.demo.generate_track_file`) and committed; the demo sim only
loads it. Missing or malformed files raise `TrackModelError`.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from adapters.errors import TrackModelError
from adapters.model import TrackInfo

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

TRACK_FILE_FORMAT: Final = 1
"""Version of the track model file layout this module reads and writes."""
DEFAULT_TRACK_FILE: Final = "pitbox_park.json"
"""The demo circuit shipped in `assets/tracks/`."""
EARTH_RADIUS_M: Final = 6_371_008.8
"""Mean Earth radius used for the local (equirectangular) projection of the outline."""
OUTLINE_COLUMNS: Final = ("x_m", "y_m", "altitude_m", "latitude_deg", "longitude_deg")

_DIRECTIONS: Final = {"left": 1.0, "right": -1.0}


def tracks_dir() -> Path:
    """The `assets/tracks` folder: beside the `adapters` package, at the repository (or bundle) root."""
    return Path(__file__).resolve().parent.parent / "assets" / "tracks"


def track_path(name: str = DEFAULT_TRACK_FILE) -> Path:
    """Path of a track model file in `assets/tracks` (it may not exist)."""
    return tracks_dir() / name


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class BrakingZone:
    """Where the reference driver brakes for a corner: lap distances in metres."""

    corner_id: str
    start_m: float
    end_m: float

    @property
    def length_m(self) -> float:
        return self.end_m - self.start_m


@dataclass(frozen=True, slots=True)
class Corner:
    """A named corner and the reference line through it (lap distances in metres, speed in m/s)."""

    id: str
    number: int
    name: str
    direction: str
    angle_deg: float
    radius_m: float
    brake_m: float
    turn_in_m: float
    brake_end_m: float
    apex_m: float
    throttle_m: float
    exit_m: float
    min_speed_mps: float

    @property
    def label(self) -> str:
        """What a driver hears and reads, e.g. "Turn 1 'Hairpin'"."""
        return f"Turn {self.number} '{self.name}'"

    @property
    def braking_zone(self) -> BrakingZone:
        return BrakingZone(self.id, self.brake_m, self.brake_end_m)

    @property
    def sign(self) -> float:
        """+1 for a left-hander (positive curvature), -1 for a right-hander."""
        return _DIRECTIONS[self.direction]

    @property
    def peak_curvature_1pm(self) -> float:
        """Magnitude of the curvature between `brake_end_m` and `throttle_m` (turns by `angle_deg` in all)."""
        effective_m = (
            0.5 * (self.brake_end_m - self.turn_in_m)
            + (self.throttle_m - self.brake_end_m)
            + 0.5 * (self.exit_m - self.throttle_m)
        )
        return math.radians(self.angle_deg) / effective_m


@dataclass(frozen=True, slots=True)
class PitLane:
    """The pit lane: where it leaves and rejoins the track (lap fractions) and its speed limit."""

    entry_frac: float
    exit_frac: float
    stall_frac: float
    speed_limit_mps: float
    entry_lane_m: float
    """Length of the pit entry lane before the pit road line (the car is 'approaching pits' there)."""


@dataclass(frozen=True, slots=True)
class GeoOrigin:
    """Geographic coordinates of the outline's (0, 0) point."""

    latitude_deg: float
    longitude_deg: float
    altitude_m: float


@dataclass(frozen=True, slots=True, eq=False)
class Outline:
    """A closed centreline polyline, points equally spaced along the lap from the start/finish line.

    The last point connects back to the first (see `TrackModel.outline_distance_m` for the lap
    distance of each point).
    """

    x_m: FloatArray
    y_m: FloatArray
    altitude_m: FloatArray
    latitude_deg: FloatArray
    longitude_deg: FloatArray

    def __len__(self) -> int:
        return len(self.x_m)

    @property
    def spacing_m(self) -> float:
        return self.perimeter_m / len(self.x_m)

    @property
    def perimeter_m(self) -> float:
        """Length of the closed polyline."""
        dx = np.diff(np.append(self.x_m, self.x_m[0]))
        dy = np.diff(np.append(self.y_m, self.y_m[0]))
        return float(np.hypot(dx, dy).sum())

    def closed(self, values: FloatArray) -> FloatArray:
        """`values` with the first point appended (for interpolating across the line)."""
        return np.append(values, values[0])


@dataclass(frozen=True, slots=True, eq=False)
class TrackModel:
    """A circuit as the demo sim and the map need it. Distances in metres along the lap."""

    name: str
    display_name: str
    config: str
    city: str
    country: str
    length_m: float
    sector_starts_frac: tuple[float, ...]
    pit_lane: PitLane
    corners: tuple[Corner, ...]
    origin: GeoOrigin
    outline: Outline

    @property
    def outline_distance_m(self) -> FloatArray:
        """Lap distance of each outline point (points are equally spaced from the line)."""
        return np.arange(len(self.outline), dtype=np.float64) * self.length_m / len(self.outline)

    def corner(self, corner_id: str) -> Corner:
        """The corner with this id (KeyError if there is none)."""
        for corner in self.corners:
            if corner.id == corner_id:
                return corner
        raise KeyError(corner_id)

    @property
    def corner_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.corners)

    @property
    def braking_zones(self) -> tuple[BrakingZone, ...]:
        return tuple(c.braking_zone for c in self.corners)

    def track_info(self) -> TrackInfo:
        return TrackInfo(
            name=self.name,
            display_name=self.display_name,
            config=self.config,
            length_m=self.length_m,
            sector_starts_frac=self.sector_starts_frac,
            city=self.city,
            country=self.country,
        )

    def curvature_1pm(self, lap_dist_m: FloatArray) -> FloatArray:
        """Signed curvature (1/m, positive turning left) at the given lap distances."""
        return curvature_1pm(self.corners, lap_dist_m)

    def sector_of(self, lap_dist_frac: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
        """Index of the sector (0-based) each lap fraction lies in."""
        starts = np.asarray(self.sector_starts_frac)
        index: npt.NDArray[np.int64] = np.searchsorted(starts, lap_dist_frac, side="right") - 1
        return np.clip(index, 0, len(starts) - 1)


# --------------------------------------------------------------------------- geometry


def _smoothstep(x: FloatArray) -> FloatArray:
    x = np.clip(x, 0.0, 1.0)
    result: FloatArray = x * x * (3.0 - 2.0 * x)
    return result


def curvature_1pm(corners: Iterable[Corner], lap_dist_m: FloatArray) -> FloatArray:
    """Signed curvature (1/m) of the centreline made by `corners` at the given lap distances."""
    s = np.asarray(lap_dist_m, dtype=np.float64)
    k = np.zeros_like(s)
    for c in corners:
        inside = (s >= c.turn_in_m) & (s <= c.exit_m)
        if not inside.any():
            continue
        x = s[inside]
        rise = _smoothstep((x - c.turn_in_m) / max(c.brake_end_m - c.turn_in_m, 1e-9))
        fall = 1.0 - _smoothstep((x - c.throttle_m) / max(c.exit_m - c.throttle_m, 1e-9))
        k[inside] += c.sign * c.peak_curvature_1pm * np.minimum(rise, fall)
    return k


def _elevation_m(lap_dist_m: FloatArray, length_m: float) -> FloatArray:
    """A gentle periodic elevation profile (metres relative to the origin)."""
    phase = 2.0 * np.pi * lap_dist_m / length_m
    z: FloatArray = 7.0 * np.sin(phase + 0.4) + 3.5 * np.sin(2.0 * phase + 1.9) + 1.5 * np.sin(5.0 * phase + 0.7)
    return z


def integrate_centreline(
    corners: Sequence[Corner], length_m: float, step_m: float = 0.25
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Integrate the curvature from the line (heading east): lap distances, x and y, before closing."""
    count = max(int(round(length_m / step_m)), 16)
    step = length_m / count
    s = np.arange(count + 1, dtype=np.float64) * step
    k = curvature_1pm(corners, s)
    heading = np.concatenate(([0.0], np.cumsum(0.5 * (k[1:] + k[:-1]) * step)))
    # Midpoint rule on each step: exact for arcs of constant curvature up to O(step^2).
    mid = 0.5 * (heading[1:] + heading[:-1])
    x = np.concatenate(([0.0], np.cumsum(np.cos(mid) * step)))
    y = np.concatenate(([0.0], np.cumsum(np.sin(mid) * step)))
    return s, x, y


def closure_error(corners: Sequence[Corner], length_m: float) -> tuple[float, float, float]:
    """How far the integrated centreline misses its start: (dx m, dy m, heading rad minus one turn)."""
    _, x, y = integrate_centreline(corners, length_m)
    turning = sum(c.sign * math.radians(c.angle_deg) for c in corners)
    return float(x[-1]), float(y[-1]), abs(turning) - 2.0 * math.pi


def build_outline(corners: Sequence[Corner], length_m: float, origin: GeoOrigin, spacing_m: float = 10.0) -> Outline:
    """The closed centreline of `corners`, resampled every ~`spacing_m` so that its length is `length_m`.

    The integrated curve's small closure error is spread linearly along the lap, then the polyline is
    resampled at equal arc lengths and scaled so its perimeter is exactly `length_m`.
    """
    if length_m <= 0 or spacing_m <= 0:
        raise TrackModelError("track length and outline spacing must be positive")
    s, x, y = integrate_centreline(corners, length_m)
    x = x - x[-1] * s / length_m
    y = y - y[-1] * s / length_m
    arc = np.concatenate(([0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))))
    count = max(int(round(length_m / spacing_m)), 8)
    # Iterate the scale: chords of a resampled curve are a little shorter than its arcs.
    scale = 1.0
    xs = ys = np.zeros(count)
    for _ in range(4):
        targets = np.arange(count, dtype=np.float64) * arc[-1] / count
        xs = np.interp(targets, arc, x) * scale
        ys = np.interp(targets, arc, y) * scale
        perimeter = float(np.hypot(np.diff(np.append(xs, xs[0])), np.diff(np.append(ys, ys[0]))).sum())
        scale *= length_m / perimeter
    distance = np.arange(count, dtype=np.float64) * length_m / count
    altitude = origin.altitude_m + _elevation_m(distance, length_m)
    latitude = origin.latitude_deg + np.degrees(ys / EARTH_RADIUS_M)
    longitude = origin.longitude_deg + np.degrees(xs / (EARTH_RADIUS_M * math.cos(math.radians(origin.latitude_deg))))
    return Outline(xs, ys, altitude, latitude, longitude)


# --------------------------------------------------------------------------- loading


def _get(data: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    """`data[key]` checked to be of `kind` (float accepts any finite JSON number; bools are not numbers)."""
    if key not in data:
        raise TrackModelError(f"{where}: missing {key!r}")
    value = data[key]
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise TrackModelError(f"{where}: {key!r} must be a finite number, not {value!r}")
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TrackModelError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
    return value


def _parse_corner(data: Any, index: int, length_m: float) -> Corner:
    where = f"corner #{index + 1}"
    if not isinstance(data, Mapping):
        raise TrackModelError(f"{where}: must be an object")
    corner_id = _get(data, "id", str, where)
    where = f"corner {corner_id!r}"
    direction = _get(data, "direction", str, where)
    if direction not in _DIRECTIONS:
        raise TrackModelError(f"{where}: direction must be 'left' or 'right', not {direction!r}")
    corner = Corner(
        id=corner_id,
        number=_get(data, "number", int, where),
        name=_get(data, "name", str, where),
        direction=direction,
        angle_deg=_get(data, "angle_deg", float, where),
        radius_m=_get(data, "radius_m", float, where),
        brake_m=_get(data, "brake_m", float, where),
        turn_in_m=_get(data, "turn_in_m", float, where),
        brake_end_m=_get(data, "brake_end_m", float, where),
        apex_m=_get(data, "apex_m", float, where),
        throttle_m=_get(data, "throttle_m", float, where),
        exit_m=_get(data, "exit_m", float, where),
        min_speed_mps=_get(data, "min_speed_mps", float, where),
    )
    points = (corner.brake_m, corner.turn_in_m, corner.brake_end_m, corner.apex_m, corner.throttle_m, corner.exit_m)
    ordered = points[0] < points[2] <= points[3] <= points[4] < points[5] and points[1] < points[2]
    if not ordered or points[0] < 0 or points[1] < 0 or points[5] >= length_m:
        raise TrackModelError(
            f"{where}: needs 0 <= brake_m < brake_end_m <= apex_m <= throttle_m < exit_m < length_m"
            " and 0 <= turn_in_m < brake_end_m"
        )
    if not 0 < corner.angle_deg < 360 or corner.radius_m <= 0 or corner.min_speed_mps <= 0:
        raise TrackModelError(f"{where}: angle, radius and minimum speed must be positive")
    return corner


def _parse_outline(data: Any, length_m: float) -> Outline:
    if not isinstance(data, Mapping):
        raise TrackModelError("outline: must be an object")
    columns = _get(data, "columns", list, "outline")
    if tuple(columns) != OUTLINE_COLUMNS:
        raise TrackModelError(f"outline: columns must be {list(OUTLINE_COLUMNS)}")
    points = _get(data, "points", list, "outline")
    try:
        table = np.array(points, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TrackModelError(f"outline: points are not a table of numbers ({exc})") from exc
    if table.ndim != 2 or table.shape[1] != len(OUTLINE_COLUMNS) or table.shape[0] < 8:
        raise TrackModelError(f"outline: points must be at least 8 rows of {len(OUTLINE_COLUMNS)} numbers")
    if not np.isfinite(table).all():
        raise TrackModelError("outline: points must be finite")
    outline = Outline(*(np.ascontiguousarray(table[:, i]) for i in range(len(OUTLINE_COLUMNS))))
    if abs(outline.perimeter_m - length_m) > 0.01 * length_m:
        raise TrackModelError(
            f"outline: perimeter {outline.perimeter_m:.1f} m does not match length_m {length_m:.1f} m"
        )
    for array in (outline.x_m, outline.y_m, outline.altitude_m, outline.latitude_deg, outline.longitude_deg):
        array.setflags(write=False)
    return outline


def parse_track(data: Any) -> TrackModel:
    """Validate a decoded track model file; raises `TrackModelError` naming what is wrong."""
    if not isinstance(data, Mapping):
        raise TrackModelError("a track model must be a JSON object")
    version = data.get("format")
    if version != TRACK_FILE_FORMAT:
        raise TrackModelError(f"unsupported track model format {version!r} (expected {TRACK_FILE_FORMAT})")
    length_m = _get(data, "length_m", float, "track")
    if not 500.0 <= length_m <= 30_000.0:
        raise TrackModelError(f"track: length_m {length_m} is not a circuit length")
    sectors = _get(data, "sector_starts_frac", list, "track")
    if (
        not sectors
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in sectors)
        or sectors[0] != 0
        or any(b <= a for a, b in zip(sectors, sectors[1:], strict=False))
        or sectors[-1] >= 1
    ):
        raise TrackModelError("track: sector_starts_frac must rise from 0.0 and stay below 1.0")
    pit = _get(data, "pit_lane", Mapping, "track")
    pit_lane = PitLane(
        entry_frac=_get(pit, "entry_frac", float, "pit_lane"),
        exit_frac=_get(pit, "exit_frac", float, "pit_lane"),
        stall_frac=_get(pit, "stall_frac", float, "pit_lane"),
        speed_limit_mps=_get(pit, "speed_limit_mps", float, "pit_lane"),
        entry_lane_m=_get(pit, "entry_lane_m", float, "pit_lane"),
    )
    if not (0.5 < pit_lane.entry_frac < pit_lane.stall_frac < 1.0 and 0.0 < pit_lane.exit_frac < 0.5):
        raise TrackModelError("pit_lane: needs 0.5 < entry_frac < stall_frac < 1 and 0 < exit_frac < 0.5")
    if not 5.0 <= pit_lane.speed_limit_mps <= 40.0 or pit_lane.entry_lane_m < 0:
        raise TrackModelError("pit_lane: speed_limit_mps must be 5..40 and entry_lane_m not negative")
    origin_data = _get(data, "origin", Mapping, "track")
    origin = GeoOrigin(
        latitude_deg=_get(origin_data, "latitude_deg", float, "origin"),
        longitude_deg=_get(origin_data, "longitude_deg", float, "origin"),
        altitude_m=_get(origin_data, "altitude_m", float, "origin"),
    )
    corners_data = _get(data, "corners", list, "track")
    if not corners_data:
        raise TrackModelError("track: needs at least one corner")
    corners = tuple(_parse_corner(c, i, length_m) for i, c in enumerate(corners_data))
    if len({c.id for c in corners}) != len(corners):
        raise TrackModelError("track: corner ids must be unique")
    for before, after in zip(corners, corners[1:], strict=False):
        if after.brake_m <= before.exit_m:
            raise TrackModelError(f"corner {after.id!r} must start braking after corner {before.id!r} ends")
    if corners[-1].exit_m >= pit_lane.entry_frac * length_m - pit_lane.entry_lane_m:
        raise TrackModelError("pit_lane: the pit entry must come after the last corner")
    if corners[0].brake_m <= pit_lane.exit_frac * length_m:
        raise TrackModelError("pit_lane: the pit exit must come before the first braking zone")
    return TrackModel(
        name=_get(data, "name", str, "track"),
        display_name=_get(data, "display_name", str, "track"),
        config=_get(data, "config", str, "track"),
        city=_get(data, "city", str, "track"),
        country=_get(data, "country", str, "track"),
        length_m=length_m,
        sector_starts_frac=tuple(float(v) for v in sectors),
        pit_lane=pit_lane,
        corners=corners,
        origin=origin,
        outline=_parse_outline(data.get("outline"), length_m),
    )


def load_track(path: Path | str | None = None) -> TrackModel:
    """Load and validate a track model file (default: the demo circuit in `assets/tracks`)."""
    file = Path(path) if path is not None else track_path()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise TrackModelError(f"track model file not found: {file}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise TrackModelError(f"track model file {file} cannot be read: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TrackModelError(f"track model file {file} is not valid JSON: {exc}") from exc
    try:
        track = parse_track(data)
    except TrackModelError as exc:
        raise TrackModelError(f"track model file {file}: {exc}") from exc
    logger.debug("loaded track model %s (%d corners) from %s", track.name, len(track.corners), file)
    return track


# --------------------------------------------------------------------------- writing


def _r(value: float, digits: int = 2) -> float:
    return round(float(value), digits) + 0.0  # + 0.0 turns -0.0 into 0.0


def track_to_json(track: TrackModel) -> str:
    """The track model as the human-readable JSON text stored in `assets/tracks` (one outline point a line)."""
    head: dict[str, Any] = {
        "format": TRACK_FILE_FORMAT,
        "notes": (
            "Made-up circuit for the PitBox demo sim. Generated once by adapters.demo.generate_track_file() "
            "and committed; distances are lap distances in metres from the start/finish line."
        ),
        "name": track.name,
        "display_name": track.display_name,
        "config": track.config,
        "city": track.city,
        "country": track.country,
        "length_m": _r(track.length_m),
        "sector_starts_frac": [_r(v, 4) for v in track.sector_starts_frac],
        "origin": {
            "latitude_deg": _r(track.origin.latitude_deg, 7),
            "longitude_deg": _r(track.origin.longitude_deg, 7),
            "altitude_m": _r(track.origin.altitude_m),
        },
        "pit_lane": {
            "entry_frac": _r(track.pit_lane.entry_frac, 4),
            "exit_frac": _r(track.pit_lane.exit_frac, 4),
            "stall_frac": _r(track.pit_lane.stall_frac, 4),
            "speed_limit_mps": _r(track.pit_lane.speed_limit_mps, 3),
            "entry_lane_m": _r(track.pit_lane.entry_lane_m, 1),
        },
    }
    lines = ["{"]
    lines += [f"  {json.dumps(key)}: {json.dumps(value)}," for key, value in head.items()]
    lines.append('  "corners": [')
    corner_lines = []
    for c in track.corners:
        fields = {
            "id": c.id,
            "number": c.number,
            "name": c.name,
            "direction": c.direction,
            "angle_deg": _r(c.angle_deg),
            "radius_m": _r(c.radius_m, 1),
            "brake_m": _r(c.brake_m, 1),
            "turn_in_m": _r(c.turn_in_m, 1),
            "brake_end_m": _r(c.brake_end_m, 1),
            "apex_m": _r(c.apex_m, 1),
            "throttle_m": _r(c.throttle_m, 1),
            "exit_m": _r(c.exit_m, 1),
            "min_speed_mps": _r(c.min_speed_mps),
        }
        corner_lines.append("    " + json.dumps(fields))
    lines.append(",\n".join(corner_lines))
    lines.append("  ],")
    lines.append('  "outline": {')
    lines.append(f'    "columns": {json.dumps(list(OUTLINE_COLUMNS))},')
    lines.append('    "points": [')
    o = track.outline
    rows = [
        f"      [{_r(x):.2f}, {_r(y):.2f}, {_r(z):.2f}, {la:.7f}, {lo:.7f}]"
        for x, y, z, la, lo in zip(o.x_m, o.y_m, o.altitude_m, o.latitude_deg, o.longitude_deg, strict=True)
    ]
    lines.append(",\n".join(rows))
    lines.append("    ]")
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"
