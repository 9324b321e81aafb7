"""Answers to the driver's voice commands: what to say and what to do (pure: no I/O, time passed in).

`answer(command, view)` turns a recognised `Command` and a `CarView` (the newest frame, strategy,
session and open handoff) into a `Reply`: the sentence to speak and, for commands that act, the
action the pipeline carries out (pit-menu changes through the pit commander, handoff answers to the
relay, verbosity, a clip). Every command gets a sentence, also when the answer is "I don't know
yet"; numbers are spoken the way an engineer says them on the radio.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from adapters.model import TelemetryFrame
from driver_app.voice.commands import Command
from strategy.live import StrategySnapshot

NOT_UNDERSTOOD = "Sorry, say again?"


class Action(enum.Enum):
    NONE = "none"
    PIT_ADD_FUEL = "pit_add_fuel"
    PIT_FILL_TO_END = "pit_fill_to_end"
    PIT_CHANGE_TYRES = "pit_change_tyres"
    PIT_NO_TYRES = "pit_no_tyres"
    PIT_FAST_REPAIR = "pit_fast_repair"
    PIT_CLEAR = "pit_clear"
    BOX_THIS_LAP = "box_this_lap"
    REQUEST_HANDOFF = "request_handoff"
    ACCEPT_HANDOFF = "accept_handoff"
    REJECT_HANDOFF = "reject_handoff"
    REPEAT = "repeat"
    QUIET = "quiet"
    TALK = "talk"
    CLIP = "clip"


@dataclass(frozen=True, slots=True)
class CarView:
    """What the driver app knows when a command arrives."""

    frame: TelemetryFrame | None = None
    strategy: StrategySnapshot | None = None
    open_handoff_id: str | None = None
    last_spoken: str = ""
    stint_started_s: float | None = None
    """Session time the current stint started (None: unknown)."""
    max_stint_s: float | None = None
    """The longest stint the team allows (None: no limit known)."""


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    action: Action = Action.NONE
    litres: float | None = None


def _num(value: float, digits: int = 1) -> str:
    """A number as it is said: whole numbers without decimals."""
    rounded = round(value, digits)
    return str(int(rounded)) if float(rounded).is_integer() else f"{rounded:.{digits}f}"


def lap_time(seconds: float) -> str:
    """1:34.867 -> "one thirty four point eight": minutes, seconds, tenths."""
    total_tenths = int(round(seconds * 10))
    minutes, tenths_in_minute = divmod(total_tenths, 600)
    whole, tenths = divmod(tenths_in_minute, 10)
    if minutes:
        return f"{minutes} {whole:02d} point {tenths}"
    return f"{whole} point {tenths}"


def _gap(view: CarView, ahead: bool) -> str:
    frame = view.frame
    if frame is None or frame.cars is None or frame.position <= 0:
        return "No timing for the cars around you yet."
    cars = frame.cars
    target = frame.position - 1 if ahead else frame.position + 1
    if target < 1:
        return "You're leading: nobody ahead."
    found = [i for i in range(len(cars)) if int(cars["position"][i]) == target]
    mine = [i for i in range(len(cars)) if int(cars["position"][i]) == frame.position]
    if not found or not mine:
        return "Nobody behind you." if not ahead else "No timing for the car ahead yet."
    other, me = cars[found[0]], cars[mine[0]]
    progress = float(other["lap_completed"]) + float(other["lap_dist_frac"])
    my_progress = float(me["lap_completed"]) + float(me["lap_dist_frac"])
    laps = abs(progress - my_progress)
    where = "ahead" if ahead else "behind"
    if laps >= 1.0:
        return f"The car {where} is {int(laps)} lap{'s' if int(laps) > 1 else ''} {where}."
    seconds = abs(float(other["est_time_s"]) - float(me["est_time_s"]))
    if not math.isfinite(seconds):
        return f"No timing for the car {where} yet."
    return f"Gap {where} is {_num(seconds)} seconds."


def _fuel(view: CarView, what: str) -> str:
    strategy = view.strategy
    fuel = None if strategy is None else strategy.fuel
    frame = view.frame
    if fuel is None:
        if frame is not None and math.isfinite(frame.fuel_level_l):
            return f"{_num(frame.fuel_level_l)} litres in the tank; I need a clean lap for the fuel use."
        return "No fuel figures yet."
    if what == "laps":
        return f"{_num(fuel.laps_of_fuel_left)} laps of fuel left."
    if what == "finish":
        if fuel.fuel_to_add_l <= 0:
            return "You have enough fuel to the finish."
        return f"You need {_num(fuel.fuel_to_add_l, 0)} more litres to finish."
    status = "enough to the finish" if fuel.fuel_to_add_l <= 0 else f"{_num(fuel.fuel_to_add_l, 0)} litres short"
    laps = _num(fuel.laps_of_fuel_left)
    return f"{_num(fuel.fuel_l)} litres, {_num(fuel.fuel_per_lap_l, 2)} a lap, {laps} laps left, {status}."


def _tyres(view: CarView) -> str:
    frame = view.frame
    if frame is None:
        return "No tyre data yet."
    wear = [float(w) for w in frame.tyre_wear_frac]
    temps = [float(t) for t in frame.tyre_temp_c]
    names = ("left front", "right front", "left rear", "right rear")
    parts = []
    if all(math.isfinite(w) for w in wear):
        worst = min(range(4), key=lambda k: wear[k])
        parts.append(f"worst tyre {names[worst]} at {round(wear[worst] * 100)} percent")
    if all(math.isfinite(t) for t in temps):
        parts.append(f"temperatures {' '.join(str(round(t)) for t in temps)}")
    age = None if view.strategy is None else view.strategy.tyre_age_laps
    if age is not None:
        parts.append(f"{age} laps on this set")
    return (", ".join(parts) + ".").capitalize() if parts else "No tyre data from this sim."


def _minutes(seconds: float) -> str:
    whole = max(0, round(seconds / 60))
    return f"{whole} minute" if whole == 1 else f"{whole} minutes"


def _stint(view: CarView) -> str:
    """Time left in the stint: to the team's limit where one is known, else to the end of the fuel."""
    frame = view.frame
    if frame is None or view.stint_started_s is None:
        return "No stint yet."
    driven_s = max(0.0, frame.session_time_s - view.stint_started_s)
    if view.max_stint_s is not None:
        return f"{_minutes(view.max_stint_s - driven_s)} left in this stint."
    driven = f"{_minutes(driven_s)} driven in this stint"
    strategy = view.strategy
    fuel = None if strategy is None else strategy.fuel
    lap_s = None if strategy is None else strategy.last_lap_s or strategy.best_lap_s
    if fuel is None or not lap_s:
        return f"{driven.capitalize()}; no fuel figures yet."
    return f"{driven.capitalize()}, fuel for about {_minutes(fuel.laps_of_fuel_left * lap_s)} more."


def answer(command: Command | None, view: CarView) -> Reply:
    """What to say (and do) for `command` (None: nothing was understood)."""
    if command is None:
        return Reply(NOT_UNDERSTOOD)
    intent = command.intent
    frame = view.frame
    strategy = view.strategy
    if intent == "fuel_status":
        return Reply(_fuel(view, "status"))
    if intent == "fuel_laps_left":
        return Reply(_fuel(view, "laps"))
    if intent == "fuel_to_finish":
        return Reply(_fuel(view, "finish"))
    if intent in ("gap_ahead", "gap_behind"):
        return Reply(_gap(view, intent == "gap_ahead"))
    if intent == "last_lap":
        last = None if strategy is None else strategy.last_lap_s
        return Reply(f"Last lap {lap_time(last)}." if last else "No lap time yet.")
    if intent == "best_lap":
        best = None if strategy is None else strategy.best_lap_s
        return Reply(f"Best lap {lap_time(best)}." if best else "No clean lap yet.")
    if intent == "position":
        if frame is None or frame.position <= 0:
            return Reply("Not classified yet.")
        in_class = f", {frame.class_position} in class" if 0 < frame.class_position != frame.position else ""
        return Reply(f"You're P{frame.position}{in_class}.")
    if intent == "tyre_status":
        return Reply(_tyres(view))
    if intent == "stint_time_left":
        return Reply(_stint(view))
    if intent == "box_this_lap":
        return Reply("Box this lap, copy. Pit stop set.", Action.BOX_THIS_LAP)
    if intent == "pit_add_fuel":
        litres = command.litres
        if litres is None:
            return Reply("How many litres?")
        return Reply(f"Adding {_num(litres, 0)} litres at the stop.", Action.PIT_ADD_FUEL, litres)
    if intent == "pit_fill_to_end":
        fuel = None if strategy is None else strategy.fuel
        if fuel is None:
            return Reply("I don't know the fuel to the end yet. Filling the tank.", Action.PIT_FILL_TO_END)
        litres = float(max(0, math.ceil(fuel.fuel_to_add_l)))  # the plan's margin is in it already
        if litres == 0:
            return Reply("You have enough fuel to the end: no fuel at the stop.", Action.PIT_FILL_TO_END, 0.0)
        return Reply(f"Fuel to the end: {_num(litres, 0)} litres at the stop.", Action.PIT_FILL_TO_END, litres)
    if intent == "pit_change_tyres":
        return Reply("Four new tyres at the stop.", Action.PIT_CHANGE_TYRES)
    if intent == "pit_no_tyres":
        return Reply("No tyres at the stop.", Action.PIT_NO_TYRES)
    if intent == "pit_fast_repair":
        return Reply("Fast repair at the stop.", Action.PIT_FAST_REPAIR)
    if intent == "pit_clear":
        return Reply("Pit stop cleared.", Action.PIT_CLEAR)
    if intent == "request_handoff":
        return Reply("Asking the team for a driver change.", Action.REQUEST_HANDOFF)
    if intent in ("accept_handoff", "reject_handoff"):
        if view.open_handoff_id is None:
            return Reply("There is no driver change to answer.")
        accept = intent == "accept_handoff"
        return Reply(
            "Driver change accepted." if accept else "Driver change rejected.",
            Action.ACCEPT_HANDOFF if accept else Action.REJECT_HANDOFF,
        )
    if intent == "repeat_that":
        return Reply(view.last_spoken or "Nothing to repeat.", Action.REPEAT)
    if intent == "quiet":
        return Reply("Going quiet. Spotter and critical calls only.", Action.QUIET)
    if intent == "talk_to_me":
        return Reply("Coaching back on.", Action.TALK)
    if intent == "clip_that":
        return Reply("Clipped.", Action.CLIP)
    return Reply(NOT_UNDERSTOOD)
