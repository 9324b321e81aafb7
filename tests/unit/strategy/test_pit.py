"""Tests of strategy.pit: stop costs, candidates, the Monte Carlo simulation and its words."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategy.errors import InvalidInputError, StrategyError
from strategy.pit import (
    PitStopCost,
    RaceModel,
    Strategy,
    StrategyResult,
    best_window,
    candidate_strategies,
    reasons,
    simulate,
    simulate_reference,
)

COST = PitStopCost(pit_lane_loss_s=22.0, fuel_flow_lps=2.5, tyre_change_s=12.0)


def make_model(**overrides: object) -> RaceModel:
    values: dict[str, object] = {
        "laps": 40,
        "pit": COST,
        "base_lap_time_s": 90.0,
        "fuel_per_lap_l": 2.5,
        "tank_capacity_l": 60.0,
        "start_fuel_l": 60.0,
        "tyre_deg_s_per_lap": 0.08,
        "tyre_deg_sd_frac": 0.2,
        "lap_time_sd_s": 0.4,
        "safety_car_prob_per_lap": 0.02,
        "traffic_prob": 0.3,
        "traffic_loss_s": 1.5,
        "field_race_times_s": tuple(3640.0 + 4.0 * i for i in range(10)),
        "field_time_sd_s": 6.0,
    }
    values.update(overrides)
    return RaceModel(**values)  # type: ignore[arg-type]


def by_name(results: list[StrategyResult]) -> dict[str, StrategyResult]:
    return {r.name: r for r in results}


# -- stop cost ---------------------------------------------------------------------------------------


def test_stop_time_parallel_takes_the_longer_service() -> None:
    assert COST.service_time_s(10.0, tyres=True) == 12.0
    assert COST.service_time_s(50.0, tyres=True) == 20.0
    assert COST.stop_time_s(0.0, tyres=False) == 22.0


def test_stop_time_serial_adds_fuel_and_tyres() -> None:
    serial = PitStopCost(20.0, 2.0, 10.0, fuel_and_tyres_parallel=False)
    assert serial.stop_time_s(10.0, tyres=True) == pytest.approx(35.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pit_lane_loss_s": -1.0, "fuel_flow_lps": 2.0, "tyre_change_s": 1.0},
        {"pit_lane_loss_s": 1.0, "fuel_flow_lps": 0.0, "tyre_change_s": 1.0},
        {"pit_lane_loss_s": 1.0, "fuel_flow_lps": 2.0, "tyre_change_s": math.nan},
    ],
)
def test_stop_cost_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidInputError):
        PitStopCost(kwargs["pit_lane_loss_s"], kwargs["fuel_flow_lps"], kwargs["tyre_change_s"])


@pytest.mark.parametrize(
    "overrides",
    [
        {"laps": 0},
        {"base_lap_time_s": 0.0},
        {"fuel_per_lap_l": -1.0},
        {"start_fuel_l": 70.0},
        {"safety_car_prob_per_lap": 1.5},
        {"safety_car_laps": 0},
        {"safety_car_lap_time_factor": 0.5},
        {"field_race_times_s": (-1.0,)},
    ],
)
def test_model_validation(overrides: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        make_model(**overrides)


def test_strategy_and_run_validation() -> None:
    with pytest.raises(InvalidInputError):
        Strategy("bad", (10, 5))
    with pytest.raises(InvalidInputError):
        Strategy("bad", (10,), fuel_adds_l=(1.0, 2.0))
    with pytest.raises(InvalidInputError):
        Strategy("", ())
    model = make_model()
    with pytest.raises(InvalidInputError):
        simulate(model, [Strategy("late", (40,))], 100, 1)
    with pytest.raises(InvalidInputError):
        simulate(model, [Strategy("a"), Strategy("a", (5,))], 100, 1)
    with pytest.raises(InvalidInputError):
        simulate(model, [Strategy("a")], 1, 1)
    with pytest.raises(InvalidInputError):
        simulate(model, [], 100, 1)
    with pytest.raises(InvalidInputError):
        candidate_strategies(model, (30, 20))
    assert issubclass(InvalidInputError, StrategyError)


# -- candidates and feasibility ----------------------------------------------------------------------


def test_candidates_cover_no_stop_window_and_two_stops() -> None:
    model = make_model()
    names = [s.name for s in candidate_strategies(model, (15, 20), max_two_stop=5)]
    assert names[0] == "no stop"
    assert [f"box lap {lap}" for lap in range(15, 21)] == names[1:7]
    assert len(names) == 1 + 6 + 5
    default = candidate_strategies(model, two_stops=False)
    # A 60 l tank at 2.5 l/lap lasts 24 laps: the stop must come between laps 16 and 24.
    assert [s.stop_laps for s in default[1:]] == [(lap,) for lap in range(16, 25)]


def test_infeasible_strategies_are_flagged_and_never_best() -> None:
    model = make_model()
    results = by_name(
        simulate(model, [Strategy("no stop"), Strategy("box lap 5", (5,)), Strategy("ok", (20,))], 500, 3)
    )
    assert not results["no stop"].feasible
    assert results["no stop"].fuel_short_laps == 16
    assert "runs out of fuel" in results["no stop"].infeasible_reason
    assert not results["box lap 5"].feasible  # 35 laps to go is more than a tank
    assert results["ok"].feasible and results["ok"].rank == 1 and results["ok"].prob_best == 1.0
    assert results["no stop"].prob_best == 0.0 and results["no stop"].rank > 1
    assert results["ok"].fuel_adds_l[0] == pytest.approx(40.0)  # 10 l left, 20 laps at 2.5 l
    text = reasons(list(results.values()))
    assert text[0] == "No-stop runs out of fuel 16 laps from the end"


def test_no_feasible_strategy_raises() -> None:
    results = simulate(make_model(), [Strategy("no stop")], 100, 1)
    with pytest.raises(StrategyError):
        best_window(results)


# -- simulation --------------------------------------------------------------------------------------


def test_deterministic_given_a_seed_and_serialisable() -> None:
    model = make_model()
    strategies = candidate_strategies(model, (16, 22), max_two_stop=3)
    a = simulate(model, strategies, 2000, seed=11)
    b = simulate(model, strategies, 2000, seed=11)
    assert [r.to_dict() for r in a] == [r.to_dict() for r in b]
    json.dumps({"model": model.to_dict(), "results": [r.to_dict() for r in a], "window": best_window(a).to_dict()})
    assert [r.rank for r in a] == list(range(1, len(a) + 1))
    assert sum(r.prob_best for r in a) == pytest.approx(1.0)
    for r in a:
        assert r.p10_s <= r.p50_s <= r.p90_s
        assert r.ci95_s[0] < r.mean_s < r.ci95_s[1]
        assert sum(r.position_probs) == pytest.approx(1.0)
        assert 1 <= r.position_p10 <= r.position_p50 <= r.position_p90 <= 11


def test_two_seeds_agree_within_confidence_intervals() -> None:
    model = make_model()
    strategies = [Strategy("a", (18,)), Strategy("b", (22,)), Strategy("c", (14, 27))]
    one = by_name(simulate(model, strategies, 10_000, seed=1))
    two = by_name(simulate(model, strategies, 10_000, seed=2))
    for name in ("a", "b", "c"):
        lo1, hi1 = one[name].ci95_s
        lo2, hi2 = two[name].ci95_s
        assert lo1 <= hi2 and lo2 <= hi1, name


def test_vectorised_and_reference_loop_agree() -> None:
    model = make_model(laps=20, start_fuel_l=40.0, tank_capacity_l=40.0)
    strategies = [Strategy("no stop"), Strategy("one", (10,)), Strategy("two", (7, 14))]
    fast = by_name(simulate(model, strategies, 4000, seed=5))
    slow = by_name(simulate_reference(model, strategies, 4000, seed=5))
    for name in ("no stop", "one", "two"):
        f, s = fast[name], slow[name]
        se = math.hypot(f.sd_s, s.sd_s) / math.sqrt(4000)
        assert abs(f.mean_s - s.mean_s) < 4 * se, name
        assert f.sd_s == pytest.approx(s.sd_s, rel=0.1)
        assert f.position_mean == pytest.approx(s.position_mean, abs=0.3)
        assert f.feasible == s.feasible and f.fuel_adds_l == s.fuel_adds_l


def test_deterministic_race_matches_hand_computation() -> None:
    model = make_model(
        laps=4,
        start_fuel_l=10.0,
        fuel_effect_s_per_l=0.1,
        tyre_deg_s_per_lap=1.0,
        tyre_deg_sd_frac=0.0,
        lap_time_sd_s=0.0,
        safety_car_prob_per_lap=0.0,
        traffic_prob=1.0,
        traffic_loss_s=2.0,
        field_race_times_s=(),
    )
    (result,) = simulate(model, [Strategy("one", (2,), fuel_adds_l=(5.0,))], 10, 0)
    # laps: fuel 10, 7.5 | 10, 7.5 (5 l added); tyre age 0, 1 | 0, 1
    laps_s = 4 * 90.0 + 0.1 * (10 + 7.5 + 10 + 7.5) + 2 * 1.0
    stop_s = 22.0 + 12.0 + 2.0  # lane + tyres (fuel 2 s in parallel) + traffic on the out-lap
    assert result.mean_s == pytest.approx(laps_s + stop_s)
    assert result.sd_s == pytest.approx(0.0, abs=1e-9)
    assert result.position_probs == (1.0,)


def test_safety_car_heavy_race_favours_stopping_under_it() -> None:
    model = make_model(safety_car_prob_per_lap=0.08, pit_loss_under_sc_factor=0.3)
    strategies = candidate_strategies(model, (16, 24), two_stops=False)
    results = simulate(model, strategies, 5000, seed=4)
    best = results[0]
    # The pit lane costs 15.4 s less under the safety car (22 s * 0.7), relative to the field; the
    # neutralised laps around the stop also spare the worn tyres and the rejoin traffic.
    assert 22.0 * 0.7 - 2.0 < best.sc_stop_saving_s < 22.0 * 0.7 + 8.0
    assert all(r.sc_stop_saving_s > 10.0 for r in results if r.strategy.stop_laps)
    assert any("A safety car in the window saves about" in text for text in reasons(results))
    calm = simulate(make_model(safety_car_prob_per_lap=0.0), strategies, 5000, seed=4)
    assert all(r.sc_stop_saving_s == 0.0 for r in calm)
    assert not any("safety car" in text for text in reasons(calm))


def test_best_window_and_reasons_read_like_radio() -> None:
    model = make_model(safety_car_prob_per_lap=0.0)
    results = simulate(model, candidate_strategies(model, (16, 24), two_stops=False), 3000, seed=8)
    window = best_window(results)
    assert window.stop_laps == results[0].strategy.stop_laps
    assert window.window_laps is not None and window.window_laps[0] <= window.stop_laps[0] <= window.window_laps[1]
    assert 0.0 < window.confidence <= 1.0 and window.gain_vs_next_s >= 0.0
    text = reasons(results)
    assert len(text) == 3
    assert text[0].startswith("No-stop runs out of fuel")
    assert text[1].startswith(f"Box on lap {window.stop_laps[0]}: it is ")
    assert "seconds quicker on average than" in text[1]


# -- dominance (hypothesis) --------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    stop=st.integers(min_value=8, max_value=22),
    second=st.none() | st.integers(min_value=23, max_value=35),
    extra_l=st.floats(min_value=1.0, max_value=30.0),
    sc_prob=st.floats(min_value=0.0, max_value=0.2),
    sd=st.floats(min_value=0.0, max_value=2.0),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_dominated_strategy_is_never_ranked_first(
    stop: int, second: int | None, extra_l: float, sc_prob: float, sd: float, seed: int
) -> None:
    model = make_model(
        tank_capacity_l=200.0,
        start_fuel_l=60.0,
        safety_car_prob_per_lap=sc_prob,
        lap_time_sd_s=sd,
        pit=PitStopCost(22.0, 2.0, 12.0, fuel_and_tyres_parallel=False),
    )
    laps = (stop,) if second is None else (stop, second)
    need = (45.0,) + (0.0,) * (len(laps) - 1)  # 60 l start + 45 l covers 40 laps at 2.5 l/lap
    lean = Strategy("lean", laps, fuel_adds_l=need)
    heavy = Strategy("heavy", laps, fuel_adds_l=tuple(f + extra_l for f in need))  # slower stop, heavier car
    for order in ((heavy, lean), (lean, heavy)):
        results = simulate(model, list(order), 300, seed)
        assert results[0].feasible and results[0].name == "lean"
        assert by_name(results)["heavy"].prob_best == 0.0
