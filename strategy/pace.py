"""Pace: next-lap time prediction, and anomalies against the driver's own fingerprint.

`PacePredictor` predicts the next lap from the laps so far, corrected for fuel (a fixed cost per
litre) and tyre age (the fitted degradation of `strategy.tyres`). `DriverFingerprint` keeps a
running mean and variance (Welford) of the lap time and of each segment's time, so a segment that
took unusually long is reported with its loss, its z-score and radio-ready words: "you lost four
tenths in turn three". Both update in O(1) per lap (O(segments) for the fingerprint).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from adapters.model import Lap, LapKind
from strategy.errors import InvalidInputError, NotEnoughDataError
from strategy.tyres import DEFAULT_FUEL_EFFECT_S_PER_L, TyreDegradationTracker

LAP_SEGMENT_ID: Final = "lap"
"""`Anomaly.segment_id` of a whole-lap anomaly."""

_SMALL: Final = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
)  # fmt: skip
_TURN_ID: Final = re.compile(r"^(?:t|turn)[ _-]?(\d+)$", re.IGNORECASE)
_NUMBER: Final = re.compile(r"\d+")


def is_representative(lap: Lap) -> bool:
    """A lap fit for pace and degradation: a timed flying lap without a caution."""
    return lap.kind is LapKind.FLYING and lap.time_s is not None and not lap.under_caution


# --------------------------------------------------------------------------- words


def number_words(value: int) -> str:
    """0..20 in words ("three"); larger numbers as digits."""
    return _SMALL[value] if 0 <= value < len(_SMALL) else str(value)


def time_words(delta_s: float) -> str:
    """A time difference as a driver hears it: "one tenth" .. "nine tenths", then "1.2 seconds".

    The sign is ignored (say "lost" or "gained" around it); under 0.05 s is "less than a tenth".
    """
    magnitude = abs(delta_s)
    tenths = round(magnitude * 10)
    if tenths == 0:
        return "less than a tenth"
    if tenths < 10:
        return f"{number_words(tenths)} tenth{'s' if tenths > 1 else ''}"
    return f"{magnitude:.1f} seconds"


def segment_words(segment_id: str, names: Mapping[str, str] | None = None) -> str:
    """The spoken name of a segment: from `names` if it has one, else "T3"/"turn_3" -> "turn three"."""
    if names is not None and segment_id in names:
        return names[segment_id]
    turn = _TURN_ID.match(segment_id.strip())
    if turn:
        return f"turn {number_words(int(turn.group(1)))}"
    spoken = segment_id.replace("_", " ").replace("-", " ").strip()
    return _NUMBER.sub(lambda m: number_words(int(m.group())), spoken)


# --------------------------------------------------------------------------- prediction


@dataclass(frozen=True, slots=True)
class Prediction:
    """An expected lap time and the standard deviation of a lap around it. `basis` says how it was made:
    "fit" (fuel-corrected degradation line) or "mean" (fuel-corrected mean; too few laps for a slope)."""

    time_s: float
    sd_s: float
    n: int
    basis: str

    def to_dict(self) -> dict[str, Any]:
        return {"time_s": round(self.time_s, 3), "sd_s": round(self.sd_s, 3), "n": self.n, "basis": self.basis}


class PacePredictor:
    """Predicts the next lap time from the laps so far, corrected for fuel load and tyre age.

    Feed every completed lap with `add_lap`; invalid laps (and laps the degradation tracker rejects
    as outliers) are not used. With fewer than 3 laps at two tyre ages the prediction is the
    fuel-corrected mean (no degradation); `sd_s` is never below `min_sd_s`.
    """

    __slots__ = ("_fuel_effect_s_per_l", "_min_sd_s", "_n_mean", "_skipped", "_tracker", "_y_m2", "_y_mean")

    def __init__(
        self,
        fuel_effect_s_per_l: float = DEFAULT_FUEL_EFFECT_S_PER_L,
        *,
        min_sd_s: float = 0.05,
        outlier_sd: float = 3.0,
    ) -> None:
        if not (math.isfinite(min_sd_s) and min_sd_s >= 0):
            raise InvalidInputError(f"min_sd_s must be a non-negative number, got {min_sd_s}")
        self._tracker = TyreDegradationTracker(fuel_effect_s_per_l, outlier_sd=outlier_sd)
        self._fuel_effect_s_per_l = fuel_effect_s_per_l
        self._min_sd_s = min_sd_s
        self._skipped = 0
        self._n_mean = 0  # Welford over fuel-corrected times, for the no-slope fallback
        self._y_mean = 0.0
        self._y_m2 = 0.0

    @property
    def n(self) -> int:
        """Laps used."""
        return self._tracker.n

    @property
    def n_skipped(self) -> int:
        """Laps not used: flagged invalid, or rejected as outliers."""
        return self._skipped + self._tracker.n_rejected

    @property
    def tracker(self) -> TyreDegradationTracker:
        """The degradation fit behind the predictions."""
        return self._tracker

    def add_lap(self, lap_time_s: float, fuel_l: float, tyre_age_laps: float, valid: bool = True) -> bool:
        """Record a completed lap (fuel at its start, tyre age at its start); True when it was used."""
        if not valid:
            self._skipped += 1
            return False
        if not self._tracker.add_lap(lap_time_s, tyre_age_laps, fuel_l):
            return False
        y = lap_time_s - self._fuel_effect_s_per_l * fuel_l
        self._n_mean += 1
        delta = y - self._y_mean
        self._y_mean += delta / self._n_mean
        self._y_m2 += delta * (y - self._y_mean)
        return True

    def predict_next(self, fuel_l: float, tyre_age_laps: float) -> Prediction:
        """The expected time of a lap started with `fuel_l` litres on tyres `tyre_age_laps` old.

        Raises `NotEnoughDataError` before two usable laps.
        """
        if not (math.isfinite(fuel_l) and fuel_l >= 0 and math.isfinite(tyre_age_laps) and tyre_age_laps >= 0):
            raise InvalidInputError(f"fuel and tyre age must be non-negative, got {fuel_l} l, {tyre_age_laps} laps")
        fit = self._tracker.fit_or_none()
        if fit is not None:
            sd = fit.prediction_sd_s(tyre_age_laps)
            return Prediction(fit.predict(tyre_age_laps, fuel_l), max(sd, self._min_sd_s), fit.n, "fit")
        n = self._n_mean
        if n < 2:
            raise NotEnoughDataError(f"a lap time prediction needs at least 2 usable laps, got {n}")
        sd = math.sqrt(self._y_m2 / (n - 1) * (1.0 + 1.0 / n))
        time_s = self._y_mean + self._fuel_effect_s_per_l * fuel_l
        return Prediction(time_s, max(sd, self._min_sd_s), n, "mean")

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "n_skipped": self.n_skipped, "degradation": self._tracker.to_dict()}


# --------------------------------------------------------------------------- fingerprint and anomalies


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A lap or segment that took unusually long (or short) against the driver's own fingerprint.

    `delta_s` is the time against the driver's mean (positive = lost); `z` is that in standard
    deviations; `words` is ready for the radio ("you lost four tenths in turn three").
    """

    segment_id: str
    delta_s: float
    z: float
    words: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "segment_id": self.segment_id,
            "delta_s": round(self.delta_s, 3),
            "z": round(self.z, 2),
            "words": self.words,
        }


@dataclass(slots=True)
class _Welford:
    """Running mean and variance of one time."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, value: float) -> None:
        self.n += 1
        delta = value - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (value - self.mean)

    @property
    def sd(self) -> float:
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else float("nan")


@dataclass(frozen=True, slots=True)
class SegmentStats:
    """The driver's fingerprint of one segment (or of the lap): how many laps, mean and sd in seconds."""

    segment_id: str
    n: int
    mean_s: float
    sd_s: float

    def to_dict(self) -> dict[str, Any]:
        sd = round(self.sd_s, 4) if math.isfinite(self.sd_s) else None
        return {"segment_id": self.segment_id, "n": self.n, "mean_s": round(self.mean_s, 3), "sd_s": sd}


class DriverFingerprint:
    """How long this driver usually takes for the lap and each segment, and what is unusual.

    `add_lap` takes the lap's segment times (segment id -> seconds; ids are coaching's) and, when
    known, the lap time. A time is anomalous when it is at least `min_z` standard deviations and
    `min_delta_s` seconds away from the mean, with at least `min_laps` laps behind the mean; losses
    only, unless `report_gains`. The sd used is never below `min_sd_s`. Once `min_laps` laps are in,
    values added are clipped to mean +/- `clip_z` sd, so one big mistake does not blunt the detector.
    """

    __slots__ = (
        "_clip_z",
        "_lap",
        "_min_delta_s",
        "_min_laps",
        "_min_sd_s",
        "_min_z",
        "_names",
        "_report_gains",
        "_segments",
    )

    def __init__(
        self,
        *,
        names: Mapping[str, str] | None = None,
        min_z: float = 2.0,
        min_delta_s: float = 0.1,
        min_laps: int = 3,
        min_sd_s: float = 0.02,
        clip_z: float = 3.0,
        report_gains: bool = False,
    ) -> None:
        if min_laps < 2:
            raise InvalidInputError(f"min_laps must be at least 2 (a spread needs two laps), got {min_laps}")
        if not (min_z > 0 and min_delta_s >= 0 and min_sd_s > 0 and clip_z > 0):
            raise InvalidInputError("min_z, min_sd_s and clip_z must be positive and min_delta_s non-negative")
        self._names = dict(names) if names is not None else {}
        self._min_z = min_z
        self._min_delta_s = min_delta_s
        self._min_laps = min_laps
        self._min_sd_s = min_sd_s
        self._clip_z = clip_z
        self._report_gains = report_gains
        self._lap = _Welford()
        self._segments: dict[str, _Welford] = {}

    def add_lap(self, segment_times: Mapping[str, float], lap_time_s: float | None = None) -> None:
        """Fold one lap into the fingerprint. Non-finite or negative times are ignored."""
        for segment_id, time_s in segment_times.items():
            self._add(self._segments.setdefault(segment_id, _Welford()), time_s)
        if lap_time_s is not None:
            self._add(self._lap, lap_time_s)

    def observe(self, segment_times: Mapping[str, float], lap_time_s: float | None = None) -> list[Anomaly]:
        """The lap's anomalies against the fingerprint so far (lap first, then segments), then `add_lap`."""
        found = []
        if lap_time_s is not None:
            lap = self.lap_anomaly(lap_time_s)
            if lap is not None:
                found.append(lap)
        found.extend(self.segment_anomalies(segment_times))
        self.add_lap(segment_times, lap_time_s)
        return found

    def lap_anomaly(self, lap_time_s: float) -> Anomaly | None:
        """The lap as an anomaly against the driver's usual lap time, or None if it is not one."""
        return self._anomaly(LAP_SEGMENT_ID, self._lap, lap_time_s)

    def segment_anomalies(self, segment_times: Mapping[str, float]) -> list[Anomaly]:
        """Segments of one lap that are anomalous, biggest loss first (segments not yet known are skipped)."""
        found = []
        for segment_id, time_s in segment_times.items():
            stats = self._segments.get(segment_id)
            if stats is not None:
                anomaly = self._anomaly(segment_id, stats, time_s)
                if anomaly is not None:
                    found.append(anomaly)
        found.sort(key=lambda a: -abs(a.delta_s))
        return found

    def stats(self, segment_id: str = LAP_SEGMENT_ID) -> SegmentStats:
        """The fingerprint of one segment (or of the lap, by default)."""
        welford = self._lap if segment_id == LAP_SEGMENT_ID else self._segments.get(segment_id)
        if welford is None or welford.n == 0:
            raise NotEnoughDataError(f"no laps recorded for segment {segment_id!r}")
        return SegmentStats(segment_id, welford.n, welford.mean, welford.sd)

    def to_dict(self) -> dict[str, Any]:
        lap = SegmentStats(LAP_SEGMENT_ID, self._lap.n, self._lap.mean, self._lap.sd) if self._lap.n else None
        return {
            "lap": None if lap is None else lap.to_dict(),
            "segments": [SegmentStats(k, w.n, w.mean, w.sd).to_dict() for k, w in self._segments.items() if w.n],
        }

    def _add(self, welford: _Welford, time_s: float) -> None:
        if not (math.isfinite(time_s) and time_s >= 0):
            return
        if welford.n >= self._min_laps:
            bound = self._clip_z * max(welford.sd, self._min_sd_s)
            time_s = min(max(time_s, welford.mean - bound), welford.mean + bound)
        welford.add(time_s)

    def _anomaly(self, segment_id: str, welford: _Welford, time_s: float) -> Anomaly | None:
        if welford.n < self._min_laps or not math.isfinite(time_s):
            return None
        delta = time_s - welford.mean
        z = delta / max(welford.sd, self._min_sd_s)
        if delta < 0 and not self._report_gains:
            return None
        if abs(z) < self._min_z or abs(delta) < self._min_delta_s:
            return None
        verb = "lost" if delta > 0 else "gained"
        where = "on that lap" if segment_id == LAP_SEGMENT_ID else f"in {segment_words(segment_id, self._names)}"
        return Anomaly(segment_id, delta, z, f"you {verb} {time_words(delta)} {where}")
