"""Sample pipeline events for window tests and the screenshot: a session, laps, calls, strategy,
a team message and a handoff request, built from the real dataclasses (no pipeline needed)."""

from __future__ import annotations

from adapters.base import AdapterState
from adapters.demo import DemoAdapter
from adapters.model import Lap, LapKind
from coaching.messages import Call, Message, Priority
from driver_app.pipeline import (
    CallMade,
    HandoffPrompt,
    LapFinished,
    LiveValues,
    PipelineEvent,
    RelayState,
    SessionUpdated,
    StatusChanged,
    StrategyUpdated,
    TeamMessageReceived,
)
from strategy.fuel import FuelEstimate, FuelPlan
from strategy.live import StrategySnapshot
from strategy.pace import Prediction

LAP_TIMES = (101.874, 95.562, 94.753, 95.118, 94.402, 96.930)


def lap(number: int, time_s: float | None, kind: LapKind = LapKind.FLYING, fuel_l: float | None = 2.95) -> Lap:
    start = 100.0 * number
    return Lap(
        number=number,
        kind=kind,
        start_index=number * 6000,
        end_index=(number + 1) * 6000,
        start_time_s=start,
        end_time_s=start + (time_s or 100.0),
        time_s=time_s,
        sim_time_s=time_s,
        fuel_used_l=fuel_l,
        top_speed_mps=71.4 + number * 0.2,
    )


def call(text: str, priority: Priority, start_s: float, lap_number: int, dist_m: float) -> Call:
    message = Message(text=text, priority=priority, category="sample", created_s=start_s, deadline_s=start_s + 10)
    return Call(message=message, start_s=start_s, lap=lap_number, lap_dist_m=dist_m, ends_s=start_s + 2)


def snapshot(laps_completed: int = 6) -> StrategySnapshot:
    fuel = FuelPlan(
        fuel_l=41.3,
        fuel_per_lap_l=2.95,
        laps_remaining=18.0,
        laps_of_fuel_left=14.0,
        fuel_to_finish_l=54.6,
        fuel_to_add_l=13.3,
        stops_needed=1,
        save_target_l_per_lap=None,
        margin_l=1.5,
    )
    return StrategySnapshot(
        session_time_s=640.0,
        laps_completed=laps_completed,
        fuel=fuel,
        fuel_estimate=FuelEstimate(2.952, 0.031, 5),
        next_lap=Prediction(94.91, 0.42, 5, "fit"),
        tyre_age_laps=laps_completed,
        best_lap_s=94.402,
        last_lap_s=96.930,
        pit_window={
            "strategy": "1 stop: lap 14",
            "stop_laps": [14],
            "window_laps": [12, 15],
            "confidence": 0.83,
            "mean_s": 2300.0,
            "gain_vs_next_s": 6.1,
            "next_best": "2 stops",
        },
    )


def sample_events(*, handoff: bool = True) -> list[PipelineEvent]:
    info = DemoAdapter(seed=1).session_info
    assert info is not None
    events: list[PipelineEvent] = [
        StatusChanged(AdapterState.CONNECTED, RelayState.ONLINE, "demo"),
        SessionUpdated(info),
    ]
    calls = [
        call("Green flag, go go go", Priority.IMPORTANT, 0.0, 1, 0.0),
        call("Car left", Priority.SPOTTER, 12.4, 1, 610.0),
        call("Brake at the 100 board into the Hairpin", Priority.REGULAR, 210.3, 3, 650.0),
        call("You lost 0.3 in the Carousel: carry more speed in", Priority.REGULAR, 292.0, 3, 3010.0),
        call("Fuel: 14 laps left, 1 stop, add 13 litres", Priority.IMPORTANT, 400.8, 5, 20.0),
        call("Best lap, 1:34.402", Priority.REGULAR, 496.0, 6, 15.0),
    ]
    events += [CallMade(c) for c in calls]
    for number, time_s in enumerate(LAP_TIMES, start=1):
        kind = LapKind.OUT if number == 1 else LapKind.FLYING
        events.append(LapFinished(lap(number, time_s, kind)))
    events.append(StrategyUpdated(snapshot()))
    events.append(TeamMessageReceived("m1", "Erin", "normal", "Looking good, P4 and closing on P3"))
    events.append(TeamMessageReceived("m2", "Erin", "high", "Box this lap if the yellow comes out"))
    events.append(LiveValues(lap=7, speed_mps=61.3, gear=4, fuel_l=41.3, position=4, session_time_s=641.2))
    if handoff:
        events.append(HandoffPrompt("h1", "requested", "Sam", "Alex Demo", "stint over", "normal"))
    return events
