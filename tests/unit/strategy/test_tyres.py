"""Tyre degradation on synthetic laps of known slope and noise; wear and temperature summaries."""

from __future__ import annotations

import json

import numpy as np
import pytest

from adapters.model import FrameBlock, Lap, LapKind, empty_frames
from strategy.errors import InvalidInputError, NotEnoughDataError
from strategy.tyres import (
    NOT_REPORTED,
    DegradationFit,
    TyreDegradationTracker,
    TyreSample,
    fit_tyre_degradation,
    t_quantile_975,
    tyre_summary,
)

BASE_S = 90.0
DEG_S_PER_LAP = 0.08
FUEL_EFFECT_S_PER_L = 0.035
BURN_L_PER_LAP = 2.5


def stint(
    laps: int = 25,
    *,
    noise_s: float = 0.15,
    seed: int = 1,
    start_age: int = 0,
    start_fuel_l: float = 80.0,
    clip_sd: float = 2.0,
) -> list[TyreSample]:
    """A stint on one set of tyres: the car burns fuel (getting faster) while the tyres wear (getting slower).

    The lap noise is normal, clipped at `clip_sd` standard deviations so that no clean lap is an outlier.
    """
    rng = np.random.default_rng(seed)
    samples = []
    for k in range(laps):
        age = start_age + k
        fuel = start_fuel_l - BURN_L_PER_LAP * k
        noise = float(np.clip(rng.normal(0.0, noise_s), -clip_sd * noise_s, clip_sd * noise_s))
        time = BASE_S + DEG_S_PER_LAP * age + FUEL_EFFECT_S_PER_L * fuel + noise
        samples.append(TyreSample(time, age, fuel))
    return samples


def test_fit_recovers_slope_within_its_interval() -> None:
    fit = fit_tyre_degradation(stint(), FUEL_EFFECT_S_PER_L)
    assert abs(fit.deg_s_per_lap - DEG_S_PER_LAP) <= fit.deg_s_per_lap_ci95
    assert fit.deg_s_per_lap_ci95 < 0.03
    assert fit.n == 25
    assert fit.n_dropped == 0
    assert fit.base_lap_time_s == pytest.approx(BASE_S, abs=0.3)
    assert fit.residual_sd_s == pytest.approx(0.15, rel=0.4)


def test_interval_covers_the_true_slope_about_95_percent_of_the_time() -> None:
    covered = 0
    trials = 300
    for seed in range(trials):
        laps = stint(8, seed=seed, noise_s=0.3, clip_sd=np.inf)
        fit = fit_tyre_degradation(laps, FUEL_EFFECT_S_PER_L, outlier_mad=1e6)
        covered += abs(fit.deg_s_per_lap - DEG_S_PER_LAP) <= fit.deg_s_per_lap_ci95
    assert 0.91 <= covered / trials <= 0.99


def test_without_fuel_correction_the_lighter_car_hides_the_degradation() -> None:
    samples = stint()
    naive = fit_tyre_degradation(samples, fuel_effect_s_per_l=0.0)
    corrected = fit_tyre_degradation(samples, fuel_effect_s_per_l=FUEL_EFFECT_S_PER_L)
    # The raw lap times barely move: 0.08 s/lap of wear against 2.5 l * 0.035 s/l of lost weight.
    assert abs(naive.deg_s_per_lap - DEG_S_PER_LAP) > naive.deg_s_per_lap_ci95
    assert naive.deg_s_per_lap < 0.02
    assert abs(corrected.deg_s_per_lap - DEG_S_PER_LAP) <= corrected.deg_s_per_lap_ci95


def test_default_fuel_effect_is_typical() -> None:
    fit = fit_tyre_degradation(stint())
    assert fit.fuel_effect_s_per_l == 0.03
    # 0.005 s/l of misestimate times 2.5 l per lap moves the slope by about 0.0125 s/lap.
    assert fit.deg_s_per_lap == pytest.approx(DEG_S_PER_LAP - 0.005 * BURN_L_PER_LAP, abs=0.03)


def test_outlier_laps_do_not_wreck_the_fit() -> None:
    samples = stint(noise_s=0.1)
    samples[3] = TyreSample(samples[3].lap_time_s + 6.0, samples[3].tyre_age_laps, samples[3].fuel_l)  # traffic
    samples[20] = TyreSample(samples[20].lap_time_s + 2.5, samples[20].tyre_age_laps, samples[20].fuel_l)  # a spin
    fit = fit_tyre_degradation(samples, FUEL_EFFECT_S_PER_L)
    # Both bad laps go; a clean lap near the edge of the spread may go with them, no more.
    assert 2 <= fit.n_dropped <= 3
    assert fit.n + fit.n_dropped == 25
    clean = fit_tyre_degradation([s for k, s in enumerate(samples) if k not in (3, 20)], FUEL_EFFECT_S_PER_L)
    assert fit.deg_s_per_lap == pytest.approx(clean.deg_s_per_lap, abs=clean.deg_s_per_lap_ci95)
    assert abs(fit.deg_s_per_lap - DEG_S_PER_LAP) <= fit.deg_s_per_lap_ci95
    assert fit.residual_sd_s < 0.2


def test_noise_free_laps_fit_exactly_and_keep_every_lap() -> None:
    fit = fit_tyre_degradation(stint(10, noise_s=0.0), FUEL_EFFECT_S_PER_L)
    assert fit.deg_s_per_lap == pytest.approx(DEG_S_PER_LAP, abs=1e-9)
    assert fit.base_lap_time_s == pytest.approx(BASE_S, abs=1e-7)
    assert fit.residual_sd_s == pytest.approx(0.0, abs=1e-6)
    assert fit.n == 10


def test_several_stints_share_one_fit() -> None:
    samples = stint(12, seed=2) + stint(12, seed=3, start_fuel_l=40.0)
    fit = fit_tyre_degradation(samples, FUEL_EFFECT_S_PER_L)
    assert abs(fit.deg_s_per_lap - DEG_S_PER_LAP) <= fit.deg_s_per_lap_ci95


def test_prediction_and_its_spread() -> None:
    fit = fit_tyre_degradation(stint(), FUEL_EFFECT_S_PER_L)
    expected = BASE_S + DEG_S_PER_LAP * 25 + FUEL_EFFECT_S_PER_L * 2.5
    assert fit.predict(25, 2.5) == pytest.approx(expected, abs=3 * fit.prediction_sd_s(25))
    assert fit.prediction_sd_s(40) > fit.prediction_sd_s(12) > fit.residual_sd_s
    assert fit.deg_s_per_lap_se * t_quantile_975(fit.n - 2) == pytest.approx(fit.deg_s_per_lap_ci95)


def test_not_enough_data() -> None:
    with pytest.raises(NotEnoughDataError, match="at least 3"):
        fit_tyre_degradation(stint(2))
    with pytest.raises(NotEnoughDataError, match="two or more tyre ages"):
        fit_tyre_degradation([TyreSample(90.0 + k * 0.1, 4, 30.0) for k in range(5)])
    with pytest.raises(NotEnoughDataError):
        TyreDegradationTracker().fit()
    assert TyreDegradationTracker().fit_or_none() is None


def test_invalid_input() -> None:
    with pytest.raises(InvalidInputError):
        TyreSample(90.0, 1, -1.0)
    with pytest.raises(InvalidInputError):
        TyreSample(float("nan"), 1, 10.0)
    with pytest.raises(InvalidInputError):
        TyreSample(90.0, -1, 10.0)
    with pytest.raises(InvalidInputError):
        fit_tyre_degradation(stint(), fuel_effect_s_per_l=-0.03)
    with pytest.raises(InvalidInputError):
        TyreDegradationTracker().add_lap(0.0, 1, 10.0)
    with pytest.raises(InvalidInputError):
        t_quantile_975(0)


def test_t_quantiles() -> None:
    assert t_quantile_975(1) == 12.706
    assert t_quantile_975(30) == 2.042
    assert t_quantile_975(31) == pytest.approx(2.040, abs=2e-3)
    assert t_quantile_975(120) == pytest.approx(1.980, abs=1e-3)
    assert t_quantile_975(100_000) == pytest.approx(1.960, abs=1e-3)


def test_incremental_tracker_equals_batch_fit() -> None:
    samples = stint(30, seed=7)
    batch = fit_tyre_degradation(samples, FUEL_EFFECT_S_PER_L)
    assert batch.n_dropped == 0
    tracker = TyreDegradationTracker(FUEL_EFFECT_S_PER_L)
    assert tracker.extend(samples) == 30
    live = tracker.fit()
    for name in DegradationFit.__slots__:
        assert getattr(live, name) == pytest.approx(getattr(batch, name), rel=1e-9, abs=1e-9), name


def test_tracker_fit_is_available_after_every_lap() -> None:
    samples = stint(10, seed=4)
    tracker = TyreDegradationTracker(FUEL_EFFECT_S_PER_L)
    for k, sample in enumerate(samples, start=1):
        tracker.add(sample)
        if k >= 3:
            assert tracker.fit().deg_s_per_lap == pytest.approx(
                fit_tyre_degradation(samples[:k], FUEL_EFFECT_S_PER_L, outlier_mad=1e6).deg_s_per_lap
            )


def test_tracker_rejects_an_outlier_once_it_has_a_fit() -> None:
    samples = stint(20, seed=5, noise_s=0.1)
    tracker = TyreDegradationTracker(FUEL_EFFECT_S_PER_L)
    tracker.extend(samples[:10])
    assert not tracker.add_lap(samples[10].lap_time_s + 4.0, samples[10].tyre_age_laps, samples[10].fuel_l)
    tracker.extend(samples[10:])
    fit = tracker.fit()
    assert tracker.n_rejected == 1
    assert fit.n == 20 and fit.n_dropped == 1
    assert abs(fit.deg_s_per_lap - DEG_S_PER_LAP) <= fit.deg_s_per_lap_ci95


def test_to_dict_is_json_ready() -> None:
    tracker = TyreDegradationTracker()
    assert json.loads(json.dumps(tracker.to_dict())) == {"n": 0, "n_rejected": 0, "fit": None}
    tracker.extend(stint(6))
    data = json.loads(json.dumps(tracker.to_dict()))
    assert data["fit"]["n"] == 6
    assert set(data["fit"]) >= {"base_lap_time_s", "deg_s_per_lap", "deg_s_per_lap_ci95", "residual_sd_s"}


# --------------------------------------------------------------------------- summaries


def lap_over(count: int, *, start: int = 0, number: int = 7) -> Lap:
    return Lap(number, LapKind.FLYING, start, start + count, 0.0, 90.0, 90.0, None, 2.4, 70.0)


def block_with_tyres(count: int = 120) -> FrameBlock:
    frames = empty_frames(count)
    ramp = np.linspace(0.0, 1.0, count, dtype=np.float32)
    frames["tyre_temp_c"] = np.stack([80 + 10 * ramp, 85 + 10 * ramp, 70 + 0 * ramp, 75 + 20 * ramp], axis=1)
    frames["tyre_carcass_temp_c"] = 60.0
    frames["tyre_wear_frac"] = np.stack([0.95 - 0.01 * ramp, 0.94 - 0.02 * ramp, 0.97 + 0 * ramp, 0.9 + 0 * ramp], 1)
    return FrameBlock(frames)


def test_tyre_summary_per_corner() -> None:
    block = block_with_tyres()
    block.frames["tyre_temp_c"][:10, 0] = np.nan  # a sim that starts reporting late
    block.frames["tyre_wear_frac"][:, 3] = np.nan  # and never reports one corner's wear
    summary = tyre_summary(block, lap_over(120))
    lf, rf, lr, rr = summary.corners
    assert [c.corner for c in summary.corners] == ["lf", "rf", "lr", "rr"]
    assert lf.surface_temp_max_c == pytest.approx(90.0)
    assert lf.surface_temp_mean_c is not None and 85.0 < lf.surface_temp_mean_c < 86.0
    assert rf.surface_temp_mean_c == pytest.approx(90.0, abs=1e-4)
    assert lr.carcass_temp_mean_c == pytest.approx(60.0) and lr.carcass_temp_max_c == pytest.approx(60.0)
    assert lf.wear_remaining_frac == pytest.approx(0.94) and lf.wear_used_frac == pytest.approx(0.01, abs=1e-6)
    assert rf.wear_used_frac == pytest.approx(0.02, abs=1e-6)
    assert lr.wear_used_frac == 0.0
    assert rr.wear_remaining_frac is None and rr.wear_used_frac is None
    assert summary.temps_reported and summary.wear_reported
    assert summary.corner("rr") is rr
    text = summary.describe()
    assert "LF 85" in text and "LF 94%" in text and "RF 92%" in text and "RR ?" in text
    data = json.loads(json.dumps(summary.to_dict(), allow_nan=False))
    assert data["lap"] == 7 and data["corners"][3]["wear_remaining_frac"] is None


def test_tyre_summary_covers_only_the_lap() -> None:
    block = block_with_tyres(120)
    summary = tyre_summary(block, lap_over(60, start=60))
    assert summary.corner("lf").surface_temp_max_c == pytest.approx(90.0)
    mean_c = summary.corner("lf").surface_temp_mean_c
    assert mean_c is not None and mean_c > 87.0


def test_tyre_summary_says_not_reported_when_the_sim_gives_nothing() -> None:
    summary = tyre_summary(FrameBlock(empty_frames(50)), lap_over(50))
    assert not summary.temps_reported and not summary.wear_reported
    assert summary.describe() == f"temps {NOT_REPORTED}; wear {NOT_REPORTED}"
    data = json.loads(json.dumps(summary.to_dict(), allow_nan=False))
    assert data["temps"] == NOT_REPORTED and data["wear"] == NOT_REPORTED
    assert all(value is None for c in data["corners"] for key, value in c.items() if key != "corner")
    with pytest.raises(InvalidInputError):
        tyre_summary(FrameBlock(empty_frames(50)), lap_over(60))
    with pytest.raises(InvalidInputError):
        summary.corner("front")


def test_tracker_takes_a_run_of_slow_laps_as_a_change_not_as_outliers() -> None:
    samples = stint(10, seed=6, noise_s=0.05)
    tracker = TyreDegradationTracker(FUEL_EFFECT_S_PER_L)
    tracker.extend(samples)
    # Rain starts: every lap from here on is two seconds slower.
    fuel = {age: 80.0 - BURN_L_PER_LAP * age for age in (10, 11, 12)}
    slow = {age: BASE_S + 2.0 + DEG_S_PER_LAP * age + FUEL_EFFECT_S_PER_L * fuel[age] for age in fuel}
    taken = [tracker.add_lap(slow[age], age, fuel[age]) for age in fuel]
    assert taken == [False, False, True]
    assert tracker.n == 13 and tracker.n_rejected == 0
