"""The stint plan the relay proposes for a car, from its session info, strategy snapshot and roster.

Inputs are built with the real `SessionInfo`, `StrategySnapshot`, `FuelPlan`, `FuelEstimate` and
`Prediction` and their `to_dict`, so the tests follow the shapes the relay actually receives.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

import relay.stint_proposal as stint_proposal
from adapters.model import DriverEntry, SessionInfo, SessionType, TrackInfo
from relay.stint_proposal import next_handoff, propose_stint_plan
from strategy.fuel import FuelEstimate, fuel_plan
from strategy.live import StrategySnapshot
from strategy.pace import Prediction
from strategy.stints import StintRules

TANK_L = 60.0
FUEL_PER_LAP_L = 3.0
LAP_S = 120.0
LAPS_PER_TANK = 20


def session(
    *, driver: str = "Ann", time_limit_s: float | None = 7200.0, laps: int | None = None, max_fuel_l: Any = TANK_L
) -> dict[str, Any]:
    info = SessionInfo(
        sim="demo",
        track=TrackInfo("demo", "Demo Ring", "", 4000.0),
        session_type=SessionType.RACE,
        session_name="RACE",
        player_car_idx=0,
        drivers=(DriverEntry(0, driver, 1, "7", "GT3", "gt3", 1, "GT3", team_name="PitBox"),),
        laps=laps,
        time_limit_s=time_limit_s,
        team_racing=True,
    ).to_dict()
    info["max_fuel_l"] = max_fuel_l  # added by the driver app
    return info


def snapshot(
    *,
    laps_completed: int = 5,
    session_time_s: float = 600.0,
    next_lap_s: float | None = LAP_S,
    best_lap_s: float | None = 119.0,
    last_lap_s: float | None = 121.0,
    fuel_per_lap_l: float | None = FUEL_PER_LAP_L,
    estimate_l: float | None = None,
) -> dict[str, Any]:
    fuel = None if fuel_per_lap_l is None else fuel_plan(45.0, fuel_per_lap_l, 55.0, tank_capacity_l=TANK_L)
    return StrategySnapshot(
        session_time_s=session_time_s,
        laps_completed=laps_completed,
        fuel=fuel,
        fuel_estimate=None if estimate_l is None else FuelEstimate(estimate_l, 0.05, 4),
        next_lap=None if next_lap_s is None else Prediction(next_lap_s, 0.4, 4, "mean"),
        tyre_age_laps=laps_completed,
        best_lap_s=best_lap_s,
        last_lap_s=last_lap_s,
    ).to_dict()


def test_timed_two_hour_race_hands_off_at_fuel_stops_and_marks_laps_done_completed() -> None:
    plan = propose_stint_plan(session(time_limit_s=7200.0), snapshot(), ["Bob", "Cat"])

    assert plan is not None
    assert json.loads(json.dumps(plan, allow_nan=False)) == plan
    assert plan["race_s"] == 7200.0
    assert plan["drivers"] == ["Ann", "Bob", "Cat"]
    assert (plan["laps_done"], plan["elapsed_s"]) == (5, 600.0)
    stints = plan["stints"]
    assert stints[0]["driver"] == "Ann" and stints[0]["start_lap"] == 0
    assert not any(s["completed"] for s in stints)  # 5 laps done: still in the first stint
    assert stints[-1]["end_s"] >= 7200.0
    assert all(s["laps"] <= LAPS_PER_TANK for s in stints)
    # Every handoff is at the end of a stint, i.e. at a fuel stop, and someone else takes over.
    assert len(plan["handoffs"]) >= 2
    ends = {s["end_lap"]: i for i, s in enumerate(stints)}
    for handoff in plan["handoffs"]:
        after = stints[ends[handoff["lap"]] + 1]
        assert after["stop_s"] > 0 and after["fuel_l"] > 0
        assert after["driver"] == handoff["to_driver"] != handoff["from_driver"]
    assert {s["driver"] for s in stints} == {"Ann", "Bob", "Cat"}
    assert plan["next_handoff"] == next_handoff(plan, 5)


def test_stints_behind_the_car_are_marked_completed_and_the_plan_does_not_move() -> None:
    early = propose_stint_plan(session(time_limit_s=7200.0), snapshot(), ["Bob", "Cat"])
    later = propose_stint_plan(session(time_limit_s=7200.0), snapshot(laps_completed=LAPS_PER_TANK + 2), ["Bob", "Cat"])

    assert early is not None and later is not None
    assert [s["completed"] for s in later["stints"]][:2] == [True, False]
    assert [(s["driver"], s["laps"]) for s in later["stints"]] == [(s["driver"], s["laps"]) for s in early["stints"]]
    handoff = later["next_handoff"]
    assert handoff is not None and handoff["lap"] > LAPS_PER_TANK + 2


def test_lap_limited_race_lasts_its_laps_at_the_predicted_lap_time() -> None:
    plan = propose_stint_plan(session(time_limit_s=None, laps=50), snapshot(next_lap_s=118.0), ["Bob"])

    assert plan is not None
    assert plan["race_s"] == pytest.approx(50 * 118.0)
    assert plan["car"]["lap_time_s"] == 118.0


def test_time_limit_wins_over_the_lap_count() -> None:
    plan = propose_stint_plan(session(time_limit_s=3600.0, laps=50), snapshot(), ["Bob"])

    assert plan is not None and plan["race_s"] == 3600.0


@pytest.mark.parametrize(
    ("pace", "expected_lap_s"),
    [
        ({"next_lap_s": None}, 119.0),
        ({"next_lap_s": None, "best_lap_s": None}, 121.0),
    ],
)
def test_lap_time_falls_back_to_best_then_last_lap(pace: dict[str, Any], expected_lap_s: float) -> None:
    plan = propose_stint_plan(session(time_limit_s=None, laps=40), snapshot(**pace), ["Bob"])

    assert plan is not None
    assert plan["car"]["lap_time_s"] == expected_lap_s
    assert plan["race_s"] == pytest.approx(40 * expected_lap_s)


def test_fuel_per_lap_falls_back_to_the_fuel_estimate() -> None:
    plan = propose_stint_plan(session(), snapshot(fuel_per_lap_l=None, estimate_l=2.5), ["Bob"])

    assert plan is not None
    assert plan["car"]["fuel_per_lap_l"] == 2.5
    assert plan["car"]["tank_l"] == TANK_L


@pytest.mark.parametrize(
    ("session_kwargs", "snapshot_kwargs"),
    [
        pytest.param({}, {"next_lap_s": None, "best_lap_s": None, "last_lap_s": None}, id="no-pace"),
        pytest.param({}, {"fuel_per_lap_l": None, "estimate_l": None}, id="no-fuel-figure"),
        pytest.param({"max_fuel_l": None}, {}, id="tank-none"),
        pytest.param({"max_fuel_l": math.nan}, {}, id="tank-nan"),
        pytest.param({"max_fuel_l": 0.0}, {}, id="tank-zero"),
        pytest.param({"time_limit_s": None, "laps": None}, {}, id="open-session"),
        pytest.param({}, {"laps_completed": 0, "session_time_s": 30.0}, id="no-lap-done"),
        pytest.param({"driver": ""}, {}, id="no-driver-in-car"),
    ],
)
def test_no_plan_until_the_inputs_allow_one(session_kwargs: dict[str, Any], snapshot_kwargs: dict[str, Any]) -> None:
    assert propose_stint_plan(session(**session_kwargs), snapshot(**snapshot_kwargs), ["Bob"]) is None


def test_no_plan_when_the_tank_key_is_absent() -> None:
    info = session()
    del info["max_fuel_l"]

    assert propose_stint_plan(info, snapshot(), ["Bob"]) is None


def test_driver_in_the_car_leads_the_lineup_even_when_last_in_the_roster() -> None:
    plan = propose_stint_plan(session(driver="Ann"), snapshot(), ["Bob", "", "Cat", "Bob", "Ann"])

    assert plan is not None
    assert plan["drivers"] == ["Ann", "Bob", "Cat"]
    assert plan["stints"][0]["driver"] == "Ann"


def test_driver_in_the_car_joins_the_lineup_when_not_paired() -> None:
    plan = propose_stint_plan(session(driver="Dan"), snapshot(), ["Bob"])

    assert plan is not None and plan["drivers"] == ["Dan", "Bob"]


def test_absurd_inputs_give_no_plan_instead_of_an_error() -> None:
    tank_below_one_lap = session(max_fuel_l=FUEL_PER_LAP_L / 2)

    assert propose_stint_plan(tank_below_one_lap, snapshot(), ["Bob"]) is None
    assert propose_stint_plan(session(), snapshot(), ["Bob"], pit_loss_s=-5.0) is None


def test_errors_that_are_not_strategy_errors_are_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(stint_proposal, "plan_stints", broken)
    with pytest.raises(RuntimeError, match="bug"):
        propose_stint_plan(session(), snapshot(), ["Bob"])


def test_rules_are_passed_to_the_planner() -> None:
    rules = StintRules(max_continuous_driving_s=1800.0)
    plan = propose_stint_plan(session(), snapshot(), ["Bob"], rules=rules)

    assert plan is not None
    assert plan["rules"]["max_continuous_driving_s"] == 1800.0
    assert plan["feasible"], plan["violations"]
    assert all(s["duration_s"] <= 1800.0 + 1e-6 for s in plan["stints"][1:])


PLAN: dict[str, Any] = {
    "handoffs": [
        {"lap": 20, "at_s": 2450.0, "from_driver": "Ann", "to_driver": "Bob"},
        {"lap": 40, "at_s": 4900.0, "from_driver": "Bob", "to_driver": "Ann"},
    ]
}


@pytest.mark.parametrize(
    ("laps_done", "lap", "laps_to_go"),
    [(0, 20, 20), (19, 20, 1), (20, 40, 20), (39, 40, 1)],
)
def test_next_handoff_is_the_first_after_the_laps_done(laps_done: int, lap: int, laps_to_go: int) -> None:
    found = next_handoff(PLAN, laps_done)

    assert found is not None
    assert (found["lap"], found["laps_to_go"]) == (lap, laps_to_go)
    assert found["to_driver"] == ("Bob" if lap == 20 else "Ann")


@pytest.mark.parametrize("laps_done", [40, 55])
def test_no_next_handoff_after_the_last(laps_done: int) -> None:
    assert next_handoff(PLAN, laps_done) is None
    assert next_handoff({"handoffs": []}, 0) is None
