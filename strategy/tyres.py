"""Tyres: lap time against tyre age (fuel-corrected, with uncertainty), and wear/temperature summaries.

The degradation model is linear in tyre age once the fuel mass is taken out::

    lap_time_s = base_lap_time_s + deg_s_per_lap * tyre_age_laps + fuel_effect_s_per_l * fuel_l

`fuel_effect_s_per_l` is not fitted (fuel and tyre age fall together within a stint, so the two
effects cannot be separated from one stint's laps); it is a setting, 0.03 s per litre by default
(0.03-0.04 s/l is typical). Without the correction a car getting lighter hides its degradation.

`fit_tyre_degradation` fits a batch of laps robustly: a Theil-Sen line first, then laps further than
`outlier_mad` scaled median absolute deviations from it (traffic, mistakes) are dropped and the rest
is fitted by ordinary least squares, which gives the standard error behind the 95 % interval.
`TyreDegradationTracker` is the incremental form for live use: O(1) running sums per lap, and a
gate that rejects a lap far outside the current fit's prediction interval. On clean laps both give
the same fit; with outliers each drops them its own way (robust line vs. gate), so they may differ.

`tyre_summary` condenses one lap of per-corner temperatures and wear. Sims report these unevenly
(iRacing updates them only while the car is in the pit stall, others not at all): every value is
NaN-aware and is None ("not reported") when the sim gave nothing for it during the lap.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from adapters.model import TYRES, FrameBlock, Lap
from strategy.errors import InvalidInputError, NotEnoughDataError

DEFAULT_FUEL_EFFECT_S_PER_L: Final = 0.03
"""Lap time cost of one litre of fuel on board (typical cars: 0.03-0.04 s per litre)."""

MIN_LAPS: Final = 3
"""Fewest laps a degradation fit needs (two parameters, and one degree of freedom for the error)."""

OUTLIER_FLOOR_S: Final = 0.1
"""A lap is never called an outlier for a residual smaller than this, however tight the others are."""

MIN_LAPS_FOR_OUTLIERS: Final = 5
"""Fewer laps than this are all kept: with three or four laps an outlier cannot be told from a trend."""

_MAD_TO_SD: Final = 1.4826  # MAD of a normal distribution times this is its standard deviation

# Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom.
_T975: Final = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t_quantile_975(dof: int) -> float:
    """The 0.975 quantile of Student's t with `dof` degrees of freedom (table, then Cornish-Fisher)."""
    if dof < 1:
        raise InvalidInputError(f"degrees of freedom must be at least 1, got {dof}")
    if dof <= len(_T975):
        return _T975[dof - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * dof) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * dof**2)


@dataclass(frozen=True, slots=True)
class TyreSample:
    """One lap for the degradation fit: its time, the age of its tyres, the fuel on board at its start."""

    lap_time_s: float
    tyre_age_laps: float
    """Laps the tyres had done when this lap started (0 on the first lap of new tyres)."""
    fuel_l: float
    """Fuel on board at the start of the lap (the lap's mean would do as well; be consistent)."""

    def __post_init__(self) -> None:
        _check_sample(self.lap_time_s, self.tyre_age_laps, self.fuel_l)


def _check_sample(lap_time_s: float, tyre_age_laps: float, fuel_l: float) -> None:
    if not (math.isfinite(lap_time_s) and lap_time_s > 0):
        raise InvalidInputError(f"lap time must be a positive number of seconds, got {lap_time_s}")
    if not (math.isfinite(tyre_age_laps) and tyre_age_laps >= 0):
        raise InvalidInputError(f"tyre age must be a non-negative number of laps, got {tyre_age_laps}")
    if not (math.isfinite(fuel_l) and fuel_l >= 0):
        raise InvalidInputError(f"fuel must be a non-negative number of litres, got {fuel_l}")


def _check_fuel_effect(fuel_effect_s_per_l: float) -> None:
    if not (math.isfinite(fuel_effect_s_per_l) and fuel_effect_s_per_l >= 0):
        raise InvalidInputError(f"fuel effect must be a non-negative number of s/l, got {fuel_effect_s_per_l}")


@dataclass(frozen=True, slots=True)
class DegradationFit:
    """A fitted degradation line, fuel-corrected.

    `base_lap_time_s` is the lap time on new tyres with an empty tank (add the fuel back with
    `predict`). `deg_s_per_lap_ci95` is the half-width of the 95 % interval of the slope
    (`deg_s_per_lap` +/- it), from the OLS standard error. `n` counts the laps in the fit,
    `n_dropped` the outliers left out. The two `tyre_age_*` fields make prediction intervals possible.
    """

    base_lap_time_s: float
    deg_s_per_lap: float
    deg_s_per_lap_ci95: float
    residual_sd_s: float
    n: int
    n_dropped: int
    fuel_effect_s_per_l: float
    tyre_age_mean_laps: float
    tyre_age_sxx: float
    """Sum of squared deviations of tyre age from its mean, over the fitted laps."""

    @property
    def deg_s_per_lap_se(self) -> float:
        """Standard error of the slope."""
        return self.residual_sd_s / math.sqrt(self.tyre_age_sxx)

    def predict(self, tyre_age_laps: float, fuel_l: float) -> float:
        """Expected lap time on tyres of this age with this much fuel on board."""
        return self.base_lap_time_s + self.deg_s_per_lap * tyre_age_laps + self.fuel_effect_s_per_l * fuel_l

    def prediction_sd_s(self, tyre_age_laps: float) -> float:
        """Standard deviation of one new lap's time around `predict` (line uncertainty plus lap noise)."""
        leverage = 1.0 / self.n + (tyre_age_laps - self.tyre_age_mean_laps) ** 2 / self.tyre_age_sxx
        return self.residual_sd_s * math.sqrt(1.0 + leverage)

    def to_dict(self) -> dict[str, Any]:
        return {
            "base_lap_time_s": round(self.base_lap_time_s, 3),
            "deg_s_per_lap": round(self.deg_s_per_lap, 4),
            "deg_s_per_lap_ci95": round(self.deg_s_per_lap_ci95, 4),
            "residual_sd_s": round(self.residual_sd_s, 4),
            "n": self.n,
            "n_dropped": self.n_dropped,
            "fuel_effect_s_per_l": self.fuel_effect_s_per_l,
        }


@dataclass(frozen=True, slots=True)
class _Sums:
    """Running sums for a least-squares line; y is shifted by `y0` to keep the sums well conditioned."""

    n: int
    y0: float
    sx: float
    sy: float
    sxx: float
    sxy: float
    syy: float

    def add(self, x: float, y: float) -> _Sums:
        y0 = y if self.n == 0 else self.y0
        d = y - y0
        return _Sums(self.n + 1, y0, self.sx + x, self.sy + d, self.sxx + x * x, self.sxy + x * d, self.syy + d * d)


_NO_SUMS: Final = _Sums(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def _fit_from_sums(sums: _Sums, fuel_effect_s_per_l: float, n_dropped: int) -> DegradationFit:
    n = sums.n
    if n < MIN_LAPS:
        raise NotEnoughDataError(f"a tyre degradation fit needs at least {MIN_LAPS} laps, got {n}")
    mean_x = sums.sx / n
    mean_y = sums.sy / n
    sxx = sums.sxx - sums.sx * mean_x
    if sxx <= 1e-12:
        raise NotEnoughDataError("a tyre degradation fit needs laps at two or more tyre ages")
    sxy = sums.sxy - sums.sx * mean_y
    syy = sums.syy - sums.sy * mean_y
    slope = sxy / sxx
    intercept = sums.y0 + mean_y - slope * mean_x
    ssr = max(syy - slope * sxy, 0.0)
    residual_sd = math.sqrt(ssr / (n - 2))
    ci95 = t_quantile_975(n - 2) * residual_sd / math.sqrt(sxx)
    return DegradationFit(
        base_lap_time_s=intercept,
        deg_s_per_lap=slope,
        deg_s_per_lap_ci95=ci95,
        residual_sd_s=residual_sd,
        n=n,
        n_dropped=n_dropped,
        fuel_effect_s_per_l=fuel_effect_s_per_l,
        tyre_age_mean_laps=mean_x,
        tyre_age_sxx=sxx,
    )


def _theil_sen(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> tuple[float, float]:
    """Median of pairwise slopes and the matching intercept (robust to a few outlying laps)."""
    i, j = np.triu_indices(len(x), k=1)
    dx = x[j] - x[i]
    keep = dx != 0
    if not np.any(keep):
        raise NotEnoughDataError("a tyre degradation fit needs laps at two or more tyre ages")
    slope = float(np.median((y[j] - y[i])[keep] / dx[keep]))
    return slope, float(np.median(y - slope * x))


def fit_tyre_degradation(
    samples: Sequence[TyreSample],
    fuel_effect_s_per_l: float = DEFAULT_FUEL_EFFECT_S_PER_L,
    *,
    outlier_mad: float = 3.5,
) -> DegradationFit:
    """Fit lap time against tyre age, fuel-corrected, leaving out outlying laps.

    Pass representative laps only (flying, green-flag); from `MIN_LAPS_FOR_OUTLIERS` laps on, a lap
    further than `outlier_mad` scaled MADs (and at least `OUTLIER_FLOOR_S`) from a robust line is
    still dropped. Raises
    `NotEnoughDataError` with fewer than `MIN_LAPS` laps left or all laps at one tyre age.
    """
    _check_fuel_effect(fuel_effect_s_per_l)
    if not outlier_mad > 0:
        raise InvalidInputError(f"outlier_mad must be positive, got {outlier_mad}")
    if len(samples) < MIN_LAPS:
        raise NotEnoughDataError(f"a tyre degradation fit needs at least {MIN_LAPS} laps, got {len(samples)}")
    x = np.array([s.tyre_age_laps for s in samples], dtype=np.float64)
    y = np.array([s.lap_time_s - fuel_effect_s_per_l * s.fuel_l for s in samples], dtype=np.float64)
    slope, intercept = _theil_sen(x, y)
    keep = np.ones(len(x), dtype=bool)
    if len(x) >= MIN_LAPS_FOR_OUTLIERS:
        residuals = y - (intercept + slope * x)
        mad = float(np.median(np.abs(residuals - np.median(residuals))))
        keep = np.abs(residuals) <= max(outlier_mad * _MAD_TO_SD * mad, OUTLIER_FLOOR_S)
    sums = _NO_SUMS
    for xi, yi in zip(x[keep], y[keep], strict=True):
        sums = sums.add(float(xi), float(yi))
    return _fit_from_sums(sums, fuel_effect_s_per_l, int(np.count_nonzero(~keep)))


class TyreDegradationTracker:
    """Incremental degradation fit: feed laps one by one, read the fit at any time; O(1) per lap.

    Once `gate_after_laps` laps are in, a lap further than `outlier_sd` prediction standard
    deviations (widened by t/z for the few laps early on, and at least `OUTLIER_FLOOR_S`) from the
    current fit is held back as an outlier
    (`add_lap` returns False). More than `max_consecutive_rejects` held back in a row are not
    outliers but a change of pace the fit has not seen yet: they are all taken in. Laps before the
    gate are all taken, so pass representative laps only.
    """

    __slots__ = (
        "_fuel_effect_s_per_l",
        "_gate_after_laps",
        "_max_consecutive_rejects",
        "_outlier_sd",
        "_pending",
        "_rejected",
        "_sums",
    )

    def __init__(
        self,
        fuel_effect_s_per_l: float = DEFAULT_FUEL_EFFECT_S_PER_L,
        *,
        outlier_sd: float = 3.0,
        gate_after_laps: int = MIN_LAPS_FOR_OUTLIERS,
        max_consecutive_rejects: int = 2,
    ) -> None:
        _check_fuel_effect(fuel_effect_s_per_l)
        if not outlier_sd > 0:
            raise InvalidInputError(f"outlier_sd must be positive, got {outlier_sd}")
        if max_consecutive_rejects < 0:
            raise InvalidInputError(f"max_consecutive_rejects must be non-negative, got {max_consecutive_rejects}")
        self._fuel_effect_s_per_l = fuel_effect_s_per_l
        self._outlier_sd = outlier_sd
        self._gate_after_laps = max(gate_after_laps, MIN_LAPS)
        self._max_consecutive_rejects = max_consecutive_rejects
        self._sums = _NO_SUMS
        self._rejected = 0
        self._pending: list[tuple[float, float]] = []  # (tyre age, fuel-corrected time) held back in a row

    @property
    def n(self) -> int:
        """Laps in the fit."""
        return self._sums.n

    @property
    def n_rejected(self) -> int:
        """Laps held back as outliers."""
        return self._rejected + len(self._pending)

    @property
    def fuel_effect_s_per_l(self) -> float:
        return self._fuel_effect_s_per_l

    def add(self, sample: TyreSample) -> bool:
        """Add one lap; False when it was held back as an outlier."""
        return self.add_lap(sample.lap_time_s, sample.tyre_age_laps, sample.fuel_l)

    def add_lap(self, lap_time_s: float, tyre_age_laps: float, fuel_l: float) -> bool:
        """Add one lap (fuel at its start, tyre age at its start); False when it was held back as an outlier."""
        _check_sample(lap_time_s, tyre_age_laps, fuel_l)
        corrected = lap_time_s - self._fuel_effect_s_per_l * fuel_l
        if self._sums.n >= self._gate_after_laps:
            fit = self.fit_or_none()
            if fit is not None:
                residual = lap_time_s - fit.predict(tyre_age_laps, fuel_l)
                # t over z widens the gate while the fit's own spread is still a rough estimate
                small_sample = t_quantile_975(fit.n - 2) / t_quantile_975(1_000_000)
                sd = fit.prediction_sd_s(tyre_age_laps) * small_sample
                limit = max(self._outlier_sd * sd, OUTLIER_FLOOR_S)
                if abs(residual) > limit:
                    self._pending.append((tyre_age_laps, corrected))
                    if len(self._pending) <= self._max_consecutive_rejects:
                        return False
                    for age, time_s in self._pending:  # a run of "outliers" is a new trend: take it
                        self._sums = self._sums.add(age, time_s)
                    self._pending.clear()
                    return True
        self._rejected += len(self._pending)
        self._pending.clear()
        self._sums = self._sums.add(tyre_age_laps, corrected)
        return True

    def extend(self, samples: Iterable[TyreSample]) -> int:
        """Add several laps; returns how many were taken."""
        return sum(self.add(s) for s in samples)

    def fit(self) -> DegradationFit:
        """The current fit; `NotEnoughDataError` until there are enough laps at two tyre ages."""
        return _fit_from_sums(self._sums, self._fuel_effect_s_per_l, self.n_rejected)

    def fit_or_none(self) -> DegradationFit | None:
        """The current fit, or None while there is not enough data."""
        try:
            return self.fit()
        except NotEnoughDataError:
            return None

    def to_dict(self) -> dict[str, Any]:
        fit = self.fit_or_none()
        return {"n": self.n, "n_rejected": self.n_rejected, "fit": None if fit is None else fit.to_dict()}


# --------------------------------------------------------------------------- wear and temperature


NOT_REPORTED: Final = "not reported"


@dataclass(frozen=True, slots=True)
class CornerSummary:
    """One tyre over one lap. Temperatures in degrees Celsius, wear as a fraction of tread (1 new).

    A value is None when the sim reported nothing for it during the lap.
    """

    corner: str
    surface_temp_mean_c: float | None
    surface_temp_max_c: float | None
    carcass_temp_mean_c: float | None
    carcass_temp_max_c: float | None
    wear_remaining_frac: float | None
    """Tread left at the end of the lap (the last reported value)."""
    wear_used_frac: float | None
    """Tread used during the lap (first reported value minus last; 0 when the sim did not update it)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "corner": self.corner,
            "surface_temp_mean_c": _round(self.surface_temp_mean_c, 1),
            "surface_temp_max_c": _round(self.surface_temp_max_c, 1),
            "carcass_temp_mean_c": _round(self.carcass_temp_mean_c, 1),
            "carcass_temp_max_c": _round(self.carcass_temp_max_c, 1),
            "wear_remaining_frac": _round(self.wear_remaining_frac, 4),
            "wear_used_frac": _round(self.wear_used_frac, 4),
        }


@dataclass(frozen=True, slots=True)
class TyreSummary:
    """The four corners (LF RF LR RR) over one lap."""

    lap: int
    corners: tuple[CornerSummary, ...]

    @property
    def temps_reported(self) -> bool:
        """The sim reported some surface or carcass temperature during the lap."""
        return any(c.surface_temp_mean_c is not None or c.carcass_temp_mean_c is not None for c in self.corners)

    @property
    def wear_reported(self) -> bool:
        """The sim reported tread wear during the lap."""
        return any(c.wear_remaining_frac is not None for c in self.corners)

    def corner(self, name: str) -> CornerSummary:
        """The summary of corner `name` ("lf", "rf", "lr", "rr")."""
        for c in self.corners:
            if c.corner == name:
                return c
        raise InvalidInputError(f"no tyre corner {name!r}; corners are {', '.join(TYRES)}")

    def describe(self) -> str:
        """One line for a driver or engineer, e.g. 'temps LF 92 RF 95 LR 88 RR 90 C; wear LF 87% ...'."""
        parts = []
        if self.temps_reported:
            temps = " ".join(f"{c.corner.upper()} {_fmt(c.surface_temp_mean_c, '{:.0f}')}" for c in self.corners)
            parts.append(f"temps {temps} C")
        else:
            parts.append(f"temps {NOT_REPORTED}")
        if self.wear_reported:
            wear = " ".join(
                f"{c.corner.upper()} {_fmt(_percent(c.wear_remaining_frac), '{:.0f}%')}" for c in self.corners
            )
            parts.append(f"wear {wear}")
        else:
            parts.append(f"wear {NOT_REPORTED}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lap": self.lap,
            "temps": "reported" if self.temps_reported else NOT_REPORTED,
            "wear": "reported" if self.wear_reported else NOT_REPORTED,
            "corners": [c.to_dict() for c in self.corners],
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _percent(value: float | None) -> float | None:
    return None if value is None else value * 100.0


def _fmt(value: float | None, pattern: str) -> str:
    return "?" if value is None else pattern.format(value)


def _nan_stat(column: npt.NDArray[Any], stat: str) -> float | None:
    values = np.asarray(column, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    if stat == "mean":
        return float(values.mean())
    if stat == "max":
        return float(values.max())
    if stat == "first":
        return float(values[0])
    return float(values[-1])


def tyre_summary(block: FrameBlock, lap: Lap) -> TyreSummary:
    """Per-corner temperature and wear over `lap`, whose indices point into `block`.

    NaN samples are ignored; a value the sim never reported during the lap is None.
    """
    if not 0 <= lap.start_index < lap.end_index <= len(block):
        raise InvalidInputError(
            f"lap {lap.number} spans frames [{lap.start_index}, {lap.end_index}) outside a block of {len(block)}"
        )
    frames = block.frames[lap.start_index : lap.end_index]
    surface = frames["tyre_temp_c"]
    carcass = frames["tyre_carcass_temp_c"]
    wear = frames["tyre_wear_frac"]
    corners = []
    for k, name in enumerate(TYRES):
        first = _nan_stat(wear[:, k], "first")
        last = _nan_stat(wear[:, k], "last")
        corners.append(
            CornerSummary(
                corner=name,
                surface_temp_mean_c=_nan_stat(surface[:, k], "mean"),
                surface_temp_max_c=_nan_stat(surface[:, k], "max"),
                carcass_temp_mean_c=_nan_stat(carcass[:, k], "mean"),
                carcass_temp_max_c=_nan_stat(carcass[:, k], "max"),
                wear_remaining_frac=last,
                wear_used_frac=None if first is None or last is None else first - last,
            )
        )
    return TyreSummary(lap=lap.number, corners=tuple(corners))
