"""Stint plans: every plan meets every rule or names the rules it cannot meet; replanning; to_dict."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strategy.errors import InvalidInputError, RuleViolationError
from strategy.stints import (
    CarParams,
    DrivenStint,
    LiveState,
    StintPlan,
    StintRules,
    check_plan,
    plan_stints,
    replan,
    validate_plan,
)

CAR = CarParams(lap_time_s=120.0, fuel_per_lap_l=3.0, tank_l=100.0, pit_loss_s=30.0, fuel_flow_lps=2.5)
HOUR = 3600.0


def assert_plan_well_formed(plan: StintPlan) -> None:
    """Rules that hold for every plan, feasible or not."""
    assert plan.stints
    assert plan.stints[-1].end_s >= plan.race_s
    assert all(s.end_s < plan.race_s for s in plan.stints[:-1])
    for prev, nxt in zip(plan.stints, plan.stints[1:], strict=False):
        assert nxt.start_lap == prev.end_lap
        assert nxt.start_s >= prev.end_s
    for s in plan.stints:
        assert s.laps >= 1
        assert s.fuel_l <= plan.car.tank_l + 1e-9
        assert s.laps * plan.car.fuel_per_lap_l <= plan.car.tank_l + 1e-9
    # Handoffs only at fuel stops: every handoff lap is the end of a stint.
    stop_laps = {s.end_lap for s in plan.stints[:-1]}
    assert set(plan.handoff_laps) <= stop_laps
    json.dumps(plan.to_dict(), allow_nan=False)


rules_strategy = st.builds(
    StintRules,
    max_continuous_driving_s=st.floats(0.25 * HOUR, 6 * HOUR),
    min_driver_share=st.one_of(st.just(0.0), st.floats(0.0, 0.6)),
    max_driver_share=st.one_of(st.none(), st.floats(0.1, 1.0)),
    min_rest_between_stints_s=st.one_of(st.just(0.0), st.floats(0.0, 4 * HOUR)),
    tyre_stints_per_set=st.integers(1, 3),
    fatigue_s_per_hour=st.floats(0.0, 5.0),
)
car_strategy = st.builds(
    CarParams,
    lap_time_s=st.floats(60.0, 240.0),
    fuel_per_lap_l=st.floats(1.5, 6.0),
    tank_l=st.floats(40.0, 120.0),
    pit_loss_s=st.floats(15.0, 90.0),
    fuel_flow_lps=st.floats(1.0, 5.0),
    tyre_change_s=st.floats(0.0, 40.0),
    driver_change_s=st.floats(0.0, 20.0),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hours=st.floats(1.0, 24.0),
    n_drivers=st.integers(1, 6),
    rules=rules_strategy,
    car=car_strategy,
)
def test_every_plan_meets_every_rule_or_names_it(
    hours: float, n_drivers: int, rules: StintRules, car: CarParams
) -> None:
    drivers = [f"D{i}" for i in range(n_drivers)]
    plan = plan_stints(hours * HOUR, drivers, rules, car)
    assert_plan_well_formed(plan)
    assert validate_plan(plan) == list(plan.unmet_rules)
    assert plan.feasible == (validate_plan(plan) == [])


@settings(max_examples=60, deadline=None)
@given(hours=st.floats(2.0, 24.0), n_drivers=st.integers(2, 6), k=st.integers(2, 4))
def test_reasonable_fair_share_rules_are_met(hours: float, n_drivers: int, k: int) -> None:
    """Fair share 1/(N*k), a generous spell limit and no rest rule: always feasible."""
    rules = StintRules(max_continuous_driving_s=2.5 * HOUR, min_driver_share=1 / (n_drivers * k), tyre_stints_per_set=2)
    plan = plan_stints(hours * HOUR, [f"D{i}" for i in range(n_drivers)], rules, CAR)
    assert plan.feasible, plan.violations
    assert validate_plan(plan) == []


def test_six_hours_three_drivers_rotates_and_meets_rules() -> None:
    rules = StintRules(
        max_continuous_driving_s=2.5 * HOUR,
        min_driver_share=1 / 6,
        min_rest_between_stints_s=1800.0,
        tyre_stints_per_set=2,
        fatigue_s_per_hour=0.5,
    )
    plan = plan_stints(6 * HOUR, ["A", "B", "C"], rules, CAR)
    assert plan.feasible
    assert {s.driver for s in plan.stints} == {"A", "B", "C"}
    assert all(s.laps <= CAR.laps_per_tank for s in plan.stints)
    assert [s.new_tyres for s in plan.stints[:4]] == [True, False, True, False]
    assert sum(t.share for t in plan.driver_totals()) == pytest.approx(1.0)


def test_fatigue_makes_later_laps_slower() -> None:
    fresh = plan_stints(2 * HOUR, ["A"], StintRules(), CAR)
    tired = plan_stints(2 * HOUR, ["A"], StintRules(fatigue_s_per_hour=5.0), CAR)
    assert tired.stints[0].duration_s > fresh.stints[0].duration_s
    assert tired.total_laps <= fresh.total_laps


def test_one_driver_too_long_a_race_names_the_continuous_rule() -> None:
    plan = plan_stints(6 * HOUR, ["Solo"], StintRules(max_continuous_driving_s=2 * HOUR), CAR)
    assert not plan.feasible
    assert plan.unmet_rules == ("max_continuous_driving_s",)
    assert validate_plan(plan) == ["max_continuous_driving_s"]


def test_impossible_shares_are_named() -> None:
    plan = plan_stints(4 * HOUR, ["A", "B", "C"], StintRules(min_driver_share=0.4), CAR)
    assert "min_driver_share" in plan.unmet_rules
    plan = plan_stints(4 * HOUR, ["A", "B"], StintRules(max_driver_share=0.3), CAR)
    assert "max_driver_share" in plan.unmet_rules


def test_rest_rule_that_cannot_be_met_is_named() -> None:
    rules = StintRules(max_continuous_driving_s=1 * HOUR, min_rest_between_stints_s=3 * HOUR)
    plan = plan_stints(6 * HOUR, ["A", "B"], rules, CAR)
    assert "min_rest_between_stints_s" in plan.unmet_rules
    assert validate_plan(plan) == list(plan.unmet_rules)


def test_short_race_splits_to_give_everyone_their_share() -> None:
    plan = plan_stints(1 * HOUR, ["A", "B", "C"], StintRules(min_driver_share=0.25), CAR)
    assert plan.feasible
    assert {s.driver for s in plan.stints} == {"A", "B", "C"}


def _live_after(plan: StintPlan, n: int, **kwargs: object) -> LiveState:
    done = plan.stints[:n]
    driven = tuple(DrivenStint(s.driver, s.laps, s.start_s, s.duration_s, s.new_tyres) for s in done)
    return LiveState(laps_done=done[-1].end_lap, elapsed_s=done[-1].end_s, driven=driven, **kwargs)  # type: ignore[arg-type]


def test_replan_without_driver_keeps_completed_and_excludes_them() -> None:
    rules = StintRules(max_continuous_driving_s=3 * HOUR, tyre_stints_per_set=2)
    plan = plan_stints(8 * HOUR, ["A", "B", "C"], rules, CAR)
    live = _live_after(plan, 2, unavailable=frozenset({"C"}))
    new = replan(plan, live)
    for kept, planned in zip(new.stints[:2], plan.stints[:2], strict=True):
        assert (kept.driver, kept.start_lap, kept.laps, kept.new_tyres) == (
            planned.driver,
            planned.start_lap,
            planned.laps,
            planned.new_tyres,
        )
        assert (kept.start_s, kept.end_s) == pytest.approx((planned.start_s, planned.end_s))
    assert all(s.completed for s in new.stints[:2])
    assert all(s.driver != "C" for s in new.stints[2:])
    assert not any(s.completed for s in new.stints[2:])
    assert new.unavailable == ("C",)
    assert_plan_well_formed(new)
    assert validate_plan(new) == list(new.unmet_rules)


def test_replan_unavailable_driver_who_owed_time_is_named() -> None:
    rules = StintRules(min_driver_share=0.2)
    plan = plan_stints(6 * HOUR, ["A", "B", "C"], rules, CAR)
    never_drove = next(d for d in plan.drivers if d not in {s.driver for s in plan.stints[:1]})
    new = replan(plan, _live_after(plan, 1, unavailable=frozenset({never_drove})))
    assert "min_driver_share" in new.unmet_rules
    assert validate_plan(new) == list(new.unmet_rules)


def test_a_delay_shifts_the_plan() -> None:
    plan = plan_stints(6 * HOUR, ["A", "B"], StintRules(), CAR)
    on_time = replan(plan, _live_after(plan, 1))
    late = replan(plan, _live_after(plan, 1, delay_s=600.0))
    assert late.stints[1].start_s == pytest.approx(on_time.stints[1].start_s + 600.0)
    assert late.total_laps < on_time.total_laps
    assert late.stints[-1].end_s >= late.race_s
    assert validate_plan(late) == list(late.unmet_rules)


def test_replan_with_actual_stints_that_differ_from_the_plan() -> None:
    plan = plan_stints(4 * HOUR, ["A", "B"], StintRules(max_continuous_driving_s=2 * HOUR), CAR)
    driven = (DrivenStint("A", 20, 0.0, 2500.0), DrivenStint("B", 25, 2560.0, 3100.0))
    new = replan(plan, LiveState(laps_done=45, elapsed_s=5660.0, driven=driven))
    assert new.stints[0].laps == 20 and new.stints[1].start_lap == 20
    assert new.stints[2].start_lap == 45 and new.stints[2].start_s > 5660.0
    assert_plan_well_formed(new)
    assert validate_plan(new) == list(new.unmet_rules)


def test_replan_rejects_inconsistent_live_state() -> None:
    plan = plan_stints(2 * HOUR, ["A", "B"], StintRules(), CAR)
    with pytest.raises(InvalidInputError):
        replan(plan, LiveState(laps_done=99, elapsed_s=100.0, driven=(DrivenStint("A", 3, 0.0, 360.0),)))
    with pytest.raises(InvalidInputError):
        replan(plan, LiveState(laps_done=3, elapsed_s=400.0, driven=(DrivenStint("Z", 3, 0.0, 360.0),)))
    with pytest.raises(RuleViolationError) as info:
        replan(plan, LiveState(0, 0.0, (), unavailable=frozenset({"A", "B"})))
    assert info.value.rule == "unavailable_drivers"


def test_validate_plan_catches_a_tampered_plan() -> None:
    plan = plan_stints(6 * HOUR, ["A", "B"], StintRules(max_continuous_driving_s=2 * HOUR), CAR)
    assert validate_plan(plan) == []
    stints = list(plan.stints)
    stints[1] = dataclasses.replace(stints[1], driver="A")
    tampered = StintPlan(plan.race_s, plan.drivers, plan.rules, plan.car, tuple(stints))
    assert "max_continuous_driving_s" in validate_plan(tampered)
    stricter = StintRules(max_continuous_driving_s=2 * HOUR, tyre_stints_per_set=1, min_driver_share=0.6)
    assert {"min_driver_share"} <= set(validate_plan(plan, stricter))
    assert all(v.message for v in check_plan(tampered))


@pytest.mark.parametrize(
    ("kwargs", "cls"),
    [
        ({"lap_time_s": 0.0}, CarParams),
        ({"tank_l": 2.0, "fuel_per_lap_l": 3.0}, CarParams),
        ({"fuel_flow_lps": math.nan}, CarParams),
        ({"max_continuous_driving_s": -1.0}, StintRules),
        ({"min_driver_share": 1.5}, StintRules),
        ({"tyre_stints_per_set": 0}, StintRules),
    ],
)
def test_bad_parameters_raise(kwargs: dict[str, float], cls: type) -> None:
    with pytest.raises(InvalidInputError):
        cls(**kwargs)


def test_bad_race_or_lineup_raises() -> None:
    with pytest.raises(InvalidInputError):
        plan_stints(0.0, ["A"], StintRules(), CAR)
    with pytest.raises(InvalidInputError):
        plan_stints(HOUR, [], StintRules(), CAR)
    with pytest.raises(InvalidInputError):
        plan_stints(HOUR, ["A", "A"], StintRules(), CAR)


def test_to_dict_is_json() -> None:
    plan = plan_stints(3 * HOUR, ["A", "B"], StintRules(max_driver_share=0.7), CAR)
    doc = json.loads(json.dumps(plan.to_dict(), allow_nan=False))
    assert doc["feasible"] is True
    assert doc["stints"][0]["driver"] == "A"
    assert doc["handoff_laps"] == list(plan.handoff_laps)
    assert len(doc["driver_totals"]) == 2
    live = _live_after(plan, 1, delay_s=30.0, unavailable=frozenset({"B"}))
    json.dumps(live.to_dict(), allow_nan=False)
    json.dumps(replan(plan, live).to_dict(), allow_nan=False)


@settings(max_examples=80, deadline=None)
@given(
    hours=st.floats(2.0, 24.0),
    n_drivers=st.integers(2, 6),
    rules=rules_strategy,
    done_fraction=st.floats(0.0, 0.9),
    delay_s=st.floats(0.0, 1800.0),
    drop=st.integers(0, 5),
)
def test_replanning_keeps_rules_named_and_drops_unavailable(
    hours: float, n_drivers: int, rules: StintRules, done_fraction: float, delay_s: float, drop: int
) -> None:
    drivers = [f"D{i}" for i in range(n_drivers)]
    plan = plan_stints(hours * HOUR, drivers, rules, CAR)
    n_done = max(1, min(len(plan.stints), int(len(plan.stints) * done_fraction)))
    gone = drivers[drop % n_drivers]
    new = replan(plan, _live_after(plan, n_done, delay_s=delay_s, unavailable=frozenset({gone})))
    assert_plan_well_formed(new)
    assert [s.driver for s in new.stints[:n_done]] == [s.driver for s in plan.stints[:n_done]]
    assert all(s.driver != gone for s in new.stints[n_done:])
    assert validate_plan(new) == list(new.unmet_rules)
