"""Every voice command gets a spoken answer from what the car knows, and the commands that act say so."""

from __future__ import annotations

import pytest

from adapters.demo import DemoAdapter
from adapters.model import TelemetryFrame
from driver_app.voice.assistant import NOT_UNDERSTOOD, Action, CarView, answer, lap_time
from driver_app.voice.commands import Command, example_phrases, parse_command
from strategy.fuel import FuelEstimate, fuel_plan
from strategy.live import StrategySnapshot
from strategy.pace import Prediction


def race_frame() -> TelemetryFrame:
    """A frame of the demo race a minute in: the field is spread out and classified."""
    adapter = DemoAdapter(seed=6, laps=3)
    block = adapter.generate_block(60 * 60)
    return block[len(block) - 1]


def snapshot(fuel_l: float = 40.0, laps_remaining: float = 20.0) -> StrategySnapshot:
    return StrategySnapshot(
        session_time_s=600.0,
        laps_completed=6,
        fuel=fuel_plan(fuel_l, 2.9, laps_remaining, tank_capacity_l=100.0),
        fuel_estimate=FuelEstimate(2.9, 0.05, 5),
        next_lap=Prediction(94.8, 0.3, 5, "mean"),
        tyre_age_laps=6,
        best_lap_s=94.867,
        last_lap_s=95.152,
    )


def test_every_intent_has_an_answer_and_none_is_the_fallback() -> None:
    view = CarView(frame=race_frame(), strategy=snapshot(), open_handoff_id="h1", last_spoken="Box this lap")
    for intent, phrases in example_phrases().items():
        command = parse_command(phrases[0])
        assert command is not None and command.intent == intent
        reply = answer(command, view)
        assert reply.text and reply.text != NOT_UNDERSTOOD, intent
    assert answer(None, view).text == NOT_UNDERSTOOD


def test_questions_are_answered_from_the_strategy_and_the_frame() -> None:
    frame = race_frame()
    view = CarView(frame=frame, strategy=snapshot())
    assert answer(Command("last_lap"), view).text == "Last lap 1 35 point 2."
    assert answer(Command("best_lap"), view).text == "Best lap 1 34 point 9."
    assert answer(Command("position"), view).text.startswith(f"You're P{frame.position}")
    laps = answer(Command("fuel_laps_left"), view).text
    assert laps == f"{round(40.0 / 2.9, 1)} laps of fuel left."
    short = answer(Command("fuel_to_finish"), view).text
    assert short.startswith("You need ") and short.endswith(" more litres to finish.")
    enough = answer(Command("fuel_to_finish"), CarView(frame=frame, strategy=snapshot(95.0, 10.0))).text
    assert enough == "You have enough fuel to the finish."
    ahead = answer(Command("gap_ahead"), view).text
    behind = answer(Command("gap_behind"), view).text
    assert ("Gap ahead is" in ahead or "lap" in ahead or "leading" in ahead) and "behind" in behind
    tyres = answer(Command("tyre_status"), view).text
    assert "percent" in tyres and "6 laps on this set" in tyres


def test_without_data_the_answer_says_so_instead_of_a_number() -> None:
    empty = CarView()
    assert answer(Command("fuel_status"), empty).text == "No fuel figures yet."
    assert answer(Command("last_lap"), empty).text == "No lap time yet."
    assert answer(Command("position"), empty).text == "Not classified yet."
    assert answer(Command("gap_ahead"), empty).text.startswith("No timing")
    assert answer(Command("accept_handoff"), empty) == answer(Command("reject_handoff"), empty)
    assert answer(Command("accept_handoff"), empty).action is Action.NONE


def test_pit_commands_carry_their_amounts_and_fill_to_end_uses_the_fuel_plan() -> None:
    view = CarView(frame=race_frame(), strategy=snapshot())
    add = answer(Command("pit_add_fuel", litres=35.0), view)
    assert (add.action, add.litres, add.text) == (Action.PIT_ADD_FUEL, 35.0, "Adding 35 litres at the stop.")
    fill = answer(Command("pit_fill_to_end"), view)
    plan = snapshot().fuel
    assert plan is not None and fill.action is Action.PIT_FILL_TO_END
    assert fill.litres == pytest.approx(-(-plan.fuel_to_add_l // 1))
    unknown = answer(Command("pit_fill_to_end"), CarView())
    assert unknown.action is Action.PIT_FILL_TO_END and unknown.litres is None


@pytest.mark.parametrize(
    ("seconds", "said"), [(94.867, "1 34 point 9"), (61.04, "1 01 point 0"), (58.96, "59 point 0")]
)
def test_lap_times_are_said_as_minutes_seconds_and_tenths(seconds: float, said: str) -> None:
    assert lap_time(seconds) == said


def test_stint_time_is_told_to_the_team_limit_or_else_to_the_end_of_the_fuel() -> None:
    frame = race_frame()
    started = frame.session_time_s - 20 * 60.0
    limited = CarView(frame=frame, strategy=snapshot(), stint_started_s=started, max_stint_s=3600.0)
    assert answer(Command("stint_time_left"), limited).text == "40 minutes left in this stint."
    by_fuel = answer(Command("stint_time_left"), CarView(frame=frame, strategy=snapshot(), stint_started_s=started))
    fuel_minutes = round(40.0 / 2.9 * 95.152 / 60)
    assert by_fuel.text == f"20 minutes driven in this stint, fuel for about {fuel_minutes} minutes more."
    no_fuel = answer(Command("stint_time_left"), CarView(frame=frame, stint_started_s=started))
    assert no_fuel.text == "20 minutes driven in this stint; no fuel figures yet."
    assert answer(Command("stint_time_left"), CarView(frame=frame)).text == "No stint yet."
