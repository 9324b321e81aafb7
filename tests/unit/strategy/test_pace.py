"""Pace prediction on synthetic laps of known degradation and noise; anomalies against a fingerprint."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from adapters.model import Lap, LapKind
from strategy.errors import InvalidInputError, NotEnoughDataError
from strategy.pace import (
    LAP_SEGMENT_ID,
    Anomaly,
    DriverFingerprint,
    PacePredictor,
    is_representative,
    segment_words,
    time_words,
)

BASE_S = 100.0
DEG_S_PER_LAP = 0.06
FUEL_EFFECT_S_PER_L = 0.03
BURN_L_PER_LAP = 3.0
NOISE_S = 0.2


def lap_time(age: int, fuel_l: float, rng: np.random.Generator) -> float:
    return BASE_S + DEG_S_PER_LAP * age + FUEL_EFFECT_S_PER_L * fuel_l + float(rng.normal(0.0, NOISE_S))


# --------------------------------------------------------------------------- words


@pytest.mark.parametrize(
    ("delta_s", "words"),
    [
        (0.1, "one tenth"),
        (0.14, "one tenth"),
        (0.38, "four tenths"),
        (0.9, "nine tenths"),
        (-0.5, "five tenths"),
        (0.96, "1.0 seconds"),
        (1.23, "1.2 seconds"),
        (3.0, "3.0 seconds"),
        (0.02, "less than a tenth"),
    ],
)
def test_time_words(delta_s: float, words: str) -> None:
    assert time_words(delta_s) == words


def test_segment_words() -> None:
    assert segment_words("T3") == "turn three"
    assert segment_words("turn_12") == "turn twelve"
    assert segment_words("turn 25") == "turn 25"
    assert segment_words("back_straight") == "back straight"
    assert segment_words("sector_2") == "sector two"
    assert segment_words("T3", {"T3": "the Corkscrew"}) == "the Corkscrew"


# --------------------------------------------------------------------------- prediction


def test_prediction_needs_two_laps() -> None:
    predictor = PacePredictor()
    with pytest.raises(NotEnoughDataError):
        predictor.predict_next(50.0, 1)
    predictor.add_lap(101.5, 50.0, 0)
    with pytest.raises(NotEnoughDataError):
        predictor.predict_next(47.0, 1)
    predictor.add_lap(101.6, 47.0, 1)
    prediction = predictor.predict_next(44.0, 2)
    assert prediction.basis == "mean"
    assert prediction.time_s == pytest.approx((101.5 - 1.5 + 101.6 - 1.41) / 2 + 1.32)
    assert prediction.sd_s >= 0.05


def test_predictions_fall_within_their_spread() -> None:
    rng = np.random.default_rng(11)
    predictor = PacePredictor(FUEL_EFFECT_S_PER_L)
    misses = []
    for age in range(30):
        fuel = 95.0 - BURN_L_PER_LAP * age
        actual = lap_time(age, fuel, rng)
        if predictor.n >= 3:
            prediction = predictor.predict_next(fuel, age)
            assert prediction.basis == "fit"
            misses.append((actual - prediction.time_s) / prediction.sd_s)
        predictor.add_lap(actual, fuel, age)
    z = np.abs(np.array(misses))
    assert np.all(z < 3.5)
    assert np.mean(z < 2.0) >= 0.85
    # Late in the stint the fit knows the true line: the prediction is near it and sd near the noise.
    prediction = predictor.predict_next(5.0, 30)
    truth = BASE_S + DEG_S_PER_LAP * 30 + FUEL_EFFECT_S_PER_L * 5.0
    assert prediction.time_s == pytest.approx(truth, abs=2 * prediction.sd_s)
    assert prediction.sd_s == pytest.approx(NOISE_S, rel=0.4)


def test_prediction_is_corrected_for_fuel_and_tyres() -> None:
    predictor = PacePredictor(FUEL_EFFECT_S_PER_L)
    for age in range(10):
        fuel = 60.0 - BURN_L_PER_LAP * age
        predictor.add_lap(BASE_S + DEG_S_PER_LAP * age + FUEL_EFFECT_S_PER_L * fuel, fuel, age)
    heavy_new = predictor.predict_next(100.0, 0)
    light_old = predictor.predict_next(10.0, 20)
    assert heavy_new.time_s == pytest.approx(BASE_S + 3.0)
    assert light_old.time_s == pytest.approx(BASE_S + 1.2 + 0.3)
    assert light_old.sd_s == pytest.approx(0.05)  # noise-free laps: the floor


def test_invalid_and_outlier_laps_are_not_used() -> None:
    rng = np.random.default_rng(3)
    predictor = PacePredictor(FUEL_EFFECT_S_PER_L)
    for age in range(12):
        fuel = 80.0 - BURN_L_PER_LAP * age
        predictor.add_lap(lap_time(age, fuel, rng), fuel, age)
    before = predictor.predict_next(40.0, 12)
    assert not predictor.add_lap(140.0, 44.0, 12, valid=False)  # a tow
    assert not predictor.add_lap(115.0, 44.0, 12)  # a spin, flagged by nobody
    assert predictor.n == 12
    assert predictor.n_skipped == 2
    assert predictor.predict_next(40.0, 12) == before
    assert json.loads(json.dumps(predictor.to_dict()))["n_skipped"] == 2
    assert json.loads(json.dumps(before.to_dict()))["basis"] == "fit"


def test_prediction_rejects_bad_input() -> None:
    predictor = PacePredictor()
    with pytest.raises(InvalidInputError):
        predictor.predict_next(-1.0, 0)
    with pytest.raises(InvalidInputError):
        predictor.add_lap(90.0, -5.0, 0)
    with pytest.raises(InvalidInputError):
        PacePredictor(min_sd_s=-1.0)


def test_is_representative() -> None:
    def lap(kind: LapKind, time_s: float | None = 90.0, caution: bool = False) -> Lap:
        return Lap(3, kind, 0, 10, 0.0, 90.0, time_s, None, 2.0, 70.0, under_caution=caution)

    assert is_representative(lap(LapKind.FLYING))
    assert not is_representative(lap(LapKind.OUT))
    assert not is_representative(lap(LapKind.IN))
    assert not is_representative(lap(LapKind.INVALID))
    assert not is_representative(lap(LapKind.FLYING, None))
    assert not is_representative(lap(LapKind.FLYING, caution=True))


# --------------------------------------------------------------------------- fingerprint


SEGMENTS = {"T1": 8.0, "T2": 12.0, "T3": 10.0, "back_straight": 15.0}


def fingerprint(laps: int = 20, seed: int = 5, **kwargs: Any) -> DriverFingerprint:
    """A fingerprint of a consistent driver: every segment within about 0.05 s of its mean."""
    rng = np.random.default_rng(seed)
    fp = DriverFingerprint(**kwargs)
    for _ in range(laps):
        times = {k: v + float(rng.normal(0.0, 0.05)) for k, v in SEGMENTS.items()}
        fp.add_lap(times, sum(times.values()))
    return fp


def test_a_lost_segment_is_reported_in_words() -> None:
    fp = fingerprint()
    lap = dict(SEGMENTS, T3=SEGMENTS["T3"] + 0.4)
    anomalies = fp.segment_anomalies(lap)
    assert len(anomalies) == 1
    anomaly = anomalies[0]
    assert anomaly.segment_id == "T3"
    assert anomaly.delta_s == pytest.approx(0.4, abs=0.05)
    assert anomaly.z > 4
    assert anomaly.words == "you lost four tenths in turn three"
    assert json.loads(json.dumps(anomaly.to_dict()))["words"] == anomaly.words


def test_segment_names_come_from_the_mapping() -> None:
    fp = fingerprint(names={"T1": "the hairpin"})
    anomalies = fp.segment_anomalies(dict(SEGMENTS, T1=9.3))
    assert [a.words for a in anomalies] == ["you lost 1.3 seconds in the hairpin"]


def test_thresholds() -> None:
    fp = fingerprint()
    sd = fp.stats("T2").sd_s
    assert 0.02 < sd < 0.08
    mean = fp.stats("T2").mean_s
    # Below two standard deviations: nothing.
    assert fp.segment_anomalies({"T2": mean + 1.5 * sd}) == []
    # Past two standard deviations and a tenth: reported.
    assert [a.segment_id for a in fp.segment_anomalies({"T2": mean + max(2.5 * sd, 0.12)})] == ["T2"]
    # Gains are not news by default, but can be asked for.
    assert fp.segment_anomalies({"T2": mean - 0.5}) == []
    gains = fingerprint(report_gains=True).segment_anomalies({"T2": mean - 0.5})
    assert gains[0].words == "you gained five tenths in turn two"
    assert gains[0].z < -2
    # Many standard deviations but under a tenth: not worth a call.
    tight = DriverFingerprint()
    for k in range(10):
        tight.add_lap({"T1": 8.0 + 0.001 * (k % 2)})
    assert tight.segment_anomalies({"T1": 8.05}) == []
    assert [a.delta_s for a in tight.segment_anomalies({"T1": 8.2})] == [pytest.approx(0.2, abs=1e-3)]


def test_anomalies_need_enough_laps_and_known_segments() -> None:
    fp = fingerprint(laps=2)
    assert fp.segment_anomalies(dict(SEGMENTS, T3=12.0)) == []
    assert fp.lap_anomaly(60.0) is None
    fp = fingerprint()
    assert fp.segment_anomalies({"T9": 30.0, "T3": float("nan")}) == []
    with pytest.raises(NotEnoughDataError):
        fp.stats("T9")


def test_lap_anomaly_and_ordering() -> None:
    fp = fingerprint()
    lap = dict(SEGMENTS, T1=SEGMENTS["T1"] + 0.3, back_straight=SEGMENTS["back_straight"] + 1.1)
    lap_anomaly = fp.lap_anomaly(sum(lap.values()))
    assert lap_anomaly is not None
    assert lap_anomaly.segment_id == LAP_SEGMENT_ID
    assert lap_anomaly.words == "you lost 1.4 seconds on that lap"
    found = fp.observe(lap, sum(lap.values()))
    assert [a.segment_id for a in found] == [LAP_SEGMENT_ID, "back_straight", "T1"]
    assert found[1].words == "you lost 1.1 seconds in back straight"
    assert all(isinstance(a, Anomaly) for a in found)


def test_one_big_mistake_does_not_blunt_the_detector() -> None:
    fp = fingerprint()
    fp.add_lap(dict(SEGMENTS, T3=SEGMENTS["T3"] + 5.0))  # a spin
    assert fp.stats("T3").sd_s < 0.1
    assert [a.segment_id for a in fp.segment_anomalies(dict(SEGMENTS, T3=SEGMENTS["T3"] + 0.4))] == ["T3"]


def test_welford_matches_numpy() -> None:
    rng = np.random.default_rng(8)
    values = 10.0 + rng.normal(0.0, 0.1, 50)
    fp = DriverFingerprint(clip_z=1e9)
    for value in values:
        fp.add_lap({"S1": float(value)}, float(value) * 2)
    stats = fp.stats("S1")
    assert stats.n == 50
    assert stats.mean_s == pytest.approx(float(np.mean(values)))
    assert stats.sd_s == pytest.approx(float(np.std(values, ddof=1)))
    assert fp.stats().mean_s == pytest.approx(2 * float(np.mean(values)))
    data = json.loads(json.dumps(fp.to_dict(), allow_nan=False))
    assert data["segments"][0]["n"] == 50


def test_fingerprint_rejects_bad_settings() -> None:
    with pytest.raises(InvalidInputError):
        DriverFingerprint(min_laps=1)
    with pytest.raises(InvalidInputError):
        DriverFingerprint(min_z=0.0)
