"""Per-frame applications (spotter, flags, pit, incidents, fuel) driven frame by frame through a real Copilot."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.model import CarLeftRight, SessionFlag, TrackSurface
from coaching.applications.base import CoachSettings
from coaching.applications.flags import FlagApplication
from coaching.applications.fuel import FuelApplication
from coaching.applications.incident import IncidentApplication
from coaching.applications.pit import PitApplication
from coaching.applications.spotter import SpotterApplication
from coaching.messages import Message, Priority
from coaching.segments import Segment, SegmentMap
from strategy.fuel import FuelPlan
from strategy.live import StrategySnapshot
from tests.unit.coaching.helpers import FPS, FRAME_S, LENGTH_M, T0, Drive, within_a_frame_after

# --------------------------------------------------------------------------- spotter


def test_spotter_one_frame_flicker_says_nothing() -> None:
    d = Drive(SpotterApplication())
    d.run(30)
    d.run(1, car_left_right=CarLeftRight.CAR_LEFT)
    d.run(60)
    assert d.submitted == []
    assert d.calls == []


def test_spotter_two_frames_of_car_left_say_car_left_at_once() -> None:
    d = Drive(SpotterApplication())
    d.run(30)
    d.run(1, car_left_right=CarLeftRight.CAR_LEFT)
    assert d.submitted == []
    t = d.t
    calls = d.run(1, car_left_right=CarLeftRight.CAR_LEFT)
    (message,) = d.submitted
    assert (message.text, message.priority, message.created_s) == ("Car left", Priority.SPOTTER, t)
    assert [c.message for c in calls] == [message]
    assert calls[0].start_s == t  # the spotter gets through on the frame it arrives
    d.run(120, car_left_right=CarLeftRight.CAR_LEFT)
    assert d.texts() == ["Car left"]  # said once, not every frame


def test_spotter_confirmation_frames_follow_the_setting() -> None:
    d = Drive(SpotterApplication(), settings=CoachSettings(spotter_confirm_frames=4))
    d.run(30)
    d.run(3, car_left_right=CarLeftRight.CAR_LEFT)
    assert d.submitted == []
    d.run(1, car_left_right=CarLeftRight.CAR_LEFT)
    assert d.texts() == ["Car left"]


@pytest.mark.parametrize("clear_s", [0.3, 1.0])
def test_spotter_clear_only_after_it_has_been_clear_for_spotter_clear_s(clear_s: float) -> None:
    d = Drive(SpotterApplication(), settings=CoachSettings(spotter_clear_s=clear_s))
    d.run(30)
    d.run(10, car_left_right=CarLeftRight.CAR_LEFT)
    cleared_from = d.t
    for _ in range(round(clear_s * FPS) + 5):
        d.run(1)
        if len(d.submitted) == 2:
            break
    assert d.texts() == ["Car left", "Clear left"]
    assert within_a_frame_after(d.submitted[1].created_s, cleared_from + clear_s)
    assert d.calls[-1].message is d.submitted[1]


def test_spotter_overlap_returning_before_clear_says_nothing_new() -> None:
    d = Drive(SpotterApplication())
    d.run(30)
    d.run(10, car_left_right=CarLeftRight.CAR_LEFT)
    d.run(12)  # 0.2 s of clear: not yet clear
    d.run(1, car_left_right=CarLeftRight.CAR_LEFT)
    d.run(12)
    assert d.texts() == ["Car left"]
    d.run(20)  # now clear for longer than 0.3 s
    assert d.texts() == ["Car left", "Clear left"]


def test_spotter_still_there_every_spotter_still_there_s() -> None:
    d = Drive(SpotterApplication())
    d.run(30)
    d.run(1, car_left_right=CarLeftRight.CAR_LEFT)
    d.run(11 * FPS, car_left_right=CarLeftRight.CAR_LEFT)
    assert d.texts() == ["Car left", "Still there", "Still there"]
    announced, first, second = (m.created_s for m in d.submitted)
    assert within_a_frame_after(first, announced + 5.0)
    assert within_a_frame_after(second, first + 5.0)
    assert [c.message for c in d.calls] == d.submitted


def test_spotter_off_says_nothing_not_even_clear() -> None:
    d = Drive(SpotterApplication())
    d.run(300, car_left_right=CarLeftRight.OFF)
    assert d.submitted == []
    d.run(2, car_left_right=CarLeftRight.CAR_LEFT)
    d.run(60, car_left_right=CarLeftRight.OFF)
    d.run(60)
    d.run(60, car_left_right=99)  # a value the model does not know is treated as OFF
    assert d.texts() == ["Car left"]
    d.run(2, car_left_right=CarLeftRight.CAR_LEFT)  # after OFF, an overlap is news again
    assert d.texts() == ["Car left", "Car left"]


@pytest.mark.parametrize(
    ("state", "text", "clear"),
    [
        (CarLeftRight.CAR_LEFT, "Car left", "Clear left"),
        (CarLeftRight.CAR_RIGHT, "Car right", "Clear right"),
        (CarLeftRight.CARS_LEFT_RIGHT, "Three wide, you're in the middle", "Clear all round"),
        (CarLeftRight.TWO_CARS_LEFT, "Three wide, two cars left", "Clear all round"),
        (CarLeftRight.TWO_CARS_RIGHT, "Three wide, two cars right", "Clear all round"),
    ],
)
def test_spotter_texts(state: CarLeftRight, text: str, clear: str) -> None:
    d = Drive(SpotterApplication())
    d.run(30)
    d.run(30, car_left_right=state)
    d.run(30)
    assert d.texts() == [text, clear]
    assert all(m.priority is Priority.SPOTTER for m in d.submitted)


def test_spotter_change_of_overlap_is_called_without_a_clear() -> None:
    d = Drive(SpotterApplication())
    d.run(30)
    d.run(30, car_left_right=CarLeftRight.CAR_LEFT)
    d.run(30, car_left_right=CarLeftRight.CARS_LEFT_RIGHT)
    assert d.texts() == ["Car left", "Three wide, you're in the middle"]
    # The newer spotter call cuts off the one being spoken.
    assert d.calls[1].interrupts is d.submitted[0]


# --------------------------------------------------------------------------- flags


@pytest.mark.parametrize(
    ("flag", "text", "priority"),
    [
        (SessionFlag.BLACK, "Black flag, serve your penalty", Priority.CRITICAL),
        (SessionFlag.REPAIR, "Meatball flag, pit for repairs", Priority.CRITICAL),
        (SessionFlag.DISQUALIFY, "You are disqualified, bring it in", Priority.CRITICAL),
        (SessionFlag.RED, "Red flag, session stopped", Priority.CRITICAL),
        (SessionFlag.YELLOW, "Yellow flag", Priority.IMPORTANT),
        (SessionFlag.YELLOW_WAVING, "Yellow flag, waving, slow down", Priority.IMPORTANT),
        (SessionFlag.CAUTION_WAVING, "Full course yellow, slow down", Priority.IMPORTANT),
        (SessionFlag.BLUE, "Blue flag, faster car behind, let it by", Priority.IMPORTANT),
        (SessionFlag.WHITE, "White flag, last lap", Priority.IMPORTANT),
        (SessionFlag.CHECKERED, "Checkered flag", Priority.IMPORTANT),
        (SessionFlag.GREEN, "Green flag, go go go", Priority.IMPORTANT),
    ],
)
def test_flag_is_called_once_when_it_appears(flag: SessionFlag, text: str, priority: Priority) -> None:
    d = Drive(FlagApplication())
    d.run(30)
    shown_at = d.t
    d.run(300, session_flags=int(flag))
    (message,) = d.submitted  # once, not on every frame the flag is out
    assert (message.text, message.priority, message.created_s) == (text, priority, shown_at)
    assert [c.message for c in d.calls] == [message]


def test_track_clear_when_the_yellow_goes() -> None:
    d = Drive(FlagApplication())
    d.run(30)
    d.run(120, session_flags=int(SessionFlag.YELLOW))
    cleared_at = d.t
    d.run(120)
    assert d.texts() == ["Yellow flag", "Track clear"]
    assert d.submitted[1].created_s == cleared_at
    assert d.submitted[1].priority is Priority.IMPORTANT


def test_full_course_caution_then_track_clear() -> None:
    d = Drive(FlagApplication())
    d.run(30)
    d.run(120, session_flags=int(SessionFlag.CAUTION_WAVING))
    d.run(120, session_flags=int(SessionFlag.CAUTION))
    d.run(120)
    assert d.texts() == ["Full course yellow, slow down", "Full course caution", "Track clear"]


def test_only_the_new_flag_is_called_and_the_blue_going_in_is_not_track_clear() -> None:
    d = Drive(FlagApplication())
    d.run(30)
    d.run(60, session_flags=int(SessionFlag.YELLOW))
    d.run(60, session_flags=int(SessionFlag.YELLOW | SessionFlag.BLUE))
    d.run(60, session_flags=int(SessionFlag.YELLOW))  # the blue goes in, the yellow stays out
    assert d.texts() == ["Yellow flag", "Blue flag, faster car behind, let it by"]
    d.run(60)
    assert d.texts() == ["Yellow flag", "Blue flag, faster car behind, let it by", "Track clear"]


def test_flags_the_copilot_does_not_call_say_nothing() -> None:
    d = Drive(FlagApplication())
    d.run(30)
    d.run(60, session_flags=int(SessionFlag.SERVICEABLE | SessionFlag.START_HIDDEN))
    d.run(60)
    assert d.submitted == []


def test_critical_flag_cuts_off_an_important_one() -> None:
    d = Drive(FlagApplication())
    d.run(30)
    d.run(1, session_flags=int(SessionFlag.YELLOW))
    d.run(60, session_flags=int(SessionFlag.YELLOW | SessionFlag.BLACK))
    yellow, black = d.calls
    assert black.message.text == "Black flag, serve your penalty"
    assert black.interrupts is yellow.message
    assert black.start_s == pytest.approx(yellow.start_s + FRAME_S)


def test_flag_shown_again_later_is_called_again() -> None:
    d = Drive(FlagApplication())
    d.run(30)
    d.run(60, session_flags=int(SessionFlag.YELLOW))
    d.run(12 * FPS)
    d.run(60, session_flags=int(SessionFlag.YELLOW))
    assert d.texts() == ["Yellow flag", "Track clear", "Yellow flag"]
    assert [c.message.text for c in d.calls] == ["Yellow flag", "Track clear", "Yellow flag"]


# --------------------------------------------------------------------------- pit


def test_pit_entry_at_speed_calls_for_the_limiter() -> None:
    d = Drive(PitApplication())
    d.run(30, speed=30.0)
    d.run(20, speed=20.0, on_pit_road=True, pit_limiter=True)
    (entry,) = d.submitted
    assert (entry.text, entry.priority) == ("Pit road, limiter", Priority.IMPORTANT)


def test_limiter_warning_is_critical_after_the_grace_time_and_said_once() -> None:
    d = Drive(PitApplication())
    d.run(30, speed=30.0)
    entered_at = d.t
    d.run(29, speed=20.0, on_pit_road=True)  # under half a second: the driver may be reaching for it
    assert d.texts() == ["Pit road, limiter"]
    d.run(180, speed=20.0, on_pit_road=True)
    entry, warning = d.submitted
    assert (warning.text, warning.priority) == ("Limiter, limiter", Priority.CRITICAL)
    assert within_a_frame_after(warning.created_s, entered_at + 0.5)
    warning_call = next(c for c in d.calls if c.message is warning)
    assert warning_call.start_s == warning.created_s
    assert warning_call.interrupts is entry  # still being said: the critical call cuts it off


@pytest.mark.parametrize(
    ("limiter", "speed"),
    [(True, 20.0), (False, 4.0)],
    ids=["limiter on", "crawling into the box"],
)
def test_no_limiter_warning_with_the_limiter_on_or_at_walking_pace(limiter: bool, speed: float) -> None:
    d = Drive(PitApplication())
    d.run(30, speed=speed)
    d.run(240, speed=speed, on_pit_road=True, pit_limiter=limiter)
    assert "Limiter, limiter" not in d.texts()


def test_car_placed_in_the_stall_gets_no_entry_call() -> None:
    d = Drive(PitApplication())
    d.run(60, speed=0.0, on_pit_road=True, pit_limiter=True)
    assert d.submitted == []


def test_pit_exit_with_the_limiter_on_is_critical() -> None:
    d = Drive(PitApplication())
    d.run(30, speed=20.0, on_pit_road=True, pit_limiter=True)
    d.run(30, speed=22.0, on_pit_road=False, pit_limiter=True)
    exit_call = d.submitted[-1]
    assert (exit_call.text, exit_call.priority) == ("Pit exit, limiter off, go", Priority.CRITICAL)
    assert d.texts().count("Pit exit, limiter off, go") == 1


def test_pit_exit_without_the_limiter_is_important() -> None:
    d = Drive(PitApplication())
    d.run(30, speed=20.0, on_pit_road=True, pit_limiter=True)
    d.run(30, speed=22.0)
    assert (d.submitted[-1].text, d.submitted[-1].priority) == ("Pit exit, watch the line", Priority.IMPORTANT)


def snapshot(stop_laps: list[int] | None = None, fuel: FuelPlan | None = None) -> StrategySnapshot:
    window = (
        None
        if stop_laps is None
        else {
            "strategy": "one stop",
            "stop_laps": stop_laps,
            "window_laps": None,
            "confidence": 0.8,
            "mean_s": 1500.0,
        }
    )
    return StrategySnapshot(
        session_time_s=T0,
        laps_completed=3,
        fuel=fuel,
        fuel_estimate=None,
        next_lap=None,
        tyre_age_laps=3,
        best_lap_s=None,
        last_lap_s=None,
        pit_window=window,
    )


def test_box_this_lap_when_the_pit_window_says_stop_at_the_end_of_this_lap() -> None:
    d = Drive(PitApplication(), start_m=900.0)
    d.run(10)
    d.copilot.on_strategy(snapshot([1, 15]))
    d.run(300)  # crosses the line into lap 2
    (box,) = d.submitted
    assert (box.text, box.priority) == ("Box this lap, box this lap", Priority.IMPORTANT)
    assert box.created_s == d.first_time_on_lap(2)
    assert [c.message for c in d.calls] == [box]


@pytest.mark.parametrize("stop_laps", [[2, 20], [], None])
def test_no_box_call_when_the_stop_is_not_this_lap(stop_laps: list[int] | None) -> None:
    d = Drive(PitApplication(), start_m=900.0)
    d.run(10)
    d.copilot.on_strategy(snapshot(stop_laps))
    d.run(300)
    assert d.submitted == []


# --------------------------------------------------------------------------- incidents


def kinds(d: Drive) -> list[str]:
    return [event.kind for event in d.copilot.drain_incidents()]


def test_incident_points_are_called_as_they_come() -> None:
    d = Drive(IncidentApplication())
    d.run(30, incident_count=3)  # points from before we joined are not news
    assert d.submitted == []
    d.run(30, incident_count=5)
    d.run(30, incident_count=6)
    assert d.texts() == ["Incident, 2 x, 5 total", "Incident, 1 x, 6 total"]
    assert kinds(d) == ["incident", "incident"]
    d.run(30, incident_count=0)  # a new session: counting starts again
    d.run(30, incident_count=1)
    assert d.texts()[-1] == "Incident, 1 x, 1 total"


def test_off_track_is_reported_on_the_first_frame_off_only() -> None:
    d = Drive(IncidentApplication())
    d.run(30)
    went_off = d.t
    d.run(90, track_surface=int(TrackSurface.OFF_TRACK))
    assert kinds(d) == ["off_track"]
    assert d.texts() == ["Off track"]
    assert d.submitted[0].created_s == went_off
    d.run(30)
    d.run(10, track_surface=int(TrackSurface.OFF_TRACK))
    assert kinds(d) == ["off_track"]


def test_off_track_at_walking_pace_is_not_reported() -> None:
    d = Drive(IncidentApplication())
    d.run(30, speed=5.0)
    d.run(60, speed=5.0, track_surface=int(TrackSurface.OFF_TRACK))
    assert kinds(d) == []


def test_incident_in_a_known_corner_names_it() -> None:
    d = Drive(IncidentApplication(), start_m=300.0)
    d.copilot.segments = SegmentMap(LENGTH_M, [Segment("T1", "hairpin", 350.0, 450.0, 400.0, None, None)])
    d.run(60)  # 300 -> 340 m
    d.run(30, track_surface=int(TrackSurface.OFF_TRACK))  # off at 340 m... still before the corner
    d.run(60)
    d.run(10, track_surface=int(TrackSurface.OFF_TRACK))  # off at 400 m, inside it
    first, second = d.copilot.drain_incidents()
    assert (first.segment_id, second.segment_id) == (None, "T1")
    assert d.texts() == ["Off track", "Off track, Hairpin"]


def test_spin_from_a_yaw_rate_the_cornering_does_not_explain() -> None:
    d = Drive(IncidentApplication())
    d.run(30, speed=30.0)
    d.run(120, speed=30.0, yaw_rate_radps=2.5, lat_accel_mps2=5.0)  # 2.5 rad/s vs 5/30 explained
    assert kinds(d) == ["spin"]  # one spin, not one per frame
    assert d.texts() == ["Spin"]


def test_tight_steady_corner_is_not_a_spin() -> None:
    d = Drive(IncidentApplication())
    # 15 m/s^2 at 10 m/s is a yaw rate of 1.5 rad/s: all of it explained by the corner.
    d.run(120, speed=10.0, yaw_rate_radps=1.5, lat_accel_mps2=15.0)
    d.run(120, speed=6.0, yaw_rate_radps=3.0)  # manoeuvring at walking pace
    assert kinds(d) == []


def test_lockup_when_the_pinned_pedal_decelerates_far_less_than_it_should() -> None:
    d = Drive(IncidentApplication())
    d.run(60, speed=45.0, brake=0.5, long_accel_mps2=-7.0)  # rolling: 14 m/s^2 per unit of pedal
    d.run(30, speed=45.0)
    pinned_at = d.t
    d.run(30, speed=40.0, brake=1.0, long_accel_mps2=-6.0)  # the pedal should give about 14
    assert kinds(d) == ["lockup"]
    (lockup,) = d.submitted
    assert lockup.text == "Lock up"
    assert within_a_frame_after(lockup.created_s, pinned_at + 0.2)


def test_hard_but_rolling_stop_is_not_a_lockup() -> None:
    d = Drive(IncidentApplication())
    d.run(60, speed=45.0, brake=0.5, long_accel_mps2=-7.0)
    d.run(60, speed=40.0, brake=1.0, long_accel_mps2=-13.0)  # pinned, and decelerating as it should
    d.run(60, speed=30.0, brake=0.95, long_accel_mps2=-4.0)  # not pinned
    d.run(60, speed=6.0, brake=1.0, long_accel_mps2=-1.0)  # too slow to matter
    assert kinds(d) == []


def test_no_lockup_before_the_pedal_ratio_is_learned() -> None:
    d = Drive(IncidentApplication())
    d.run(60, speed=40.0, brake=1.0, long_accel_mps2=-2.0)
    assert kinds(d) == []


def test_lockup_shorter_than_lockup_min_s_is_not_reported() -> None:
    d = Drive(IncidentApplication())
    d.run(60, speed=45.0, brake=0.5, long_accel_mps2=-7.0)
    d.run(9, speed=40.0, brake=1.0, long_accel_mps2=-6.0)  # 0.15 s
    d.run(30, speed=40.0, brake=1.0, long_accel_mps2=-12.5)  # the tyres grip again
    assert kinds(d) == []


# --------------------------------------------------------------------------- fuel


def fuel_messages(d: Drive) -> list[Message]:
    return [m for m in d.submitted if m.category == "fuel"]


def test_fuel_calls_through_a_race_that_runs_short() -> None:
    # 10 laps of 1000 m at 50 m/s (20 s a lap), 2 l a lap, 15.4 l at 500 m into lap 1.
    d = Drive(FuelApplication(), laps=10, start_m=500.0, fuel_l=15.4, burn_l_per_lap=2.0)
    d.run_for(6.5 * 20 + 1, speed=50.0)  # to just after the line into lap 8 (at 7000 m)
    # At each line: lap 5 is a regular call (every 5 laps); lap 6 has 3.2 laps of fuel (no call);
    # lap 7 is under 3 laps; lap 8 has 1.2 laps for 3 still to drive: critical.
    texts = [m.text for m in fuel_messages(d)]
    assert texts == [
        "Fuel for 4.2 laps, add 3.6 litres to finish",
        "Fuel for 2.2 laps, add 3.6 litres to finish",
        "Fuel critical, 1.2 laps left, box now",
    ]
    lap5, lap7, lap8 = fuel_messages(d)
    assert lap5.created_s == d.first_time_on_lap(5)
    assert lap7.created_s == d.first_time_on_lap(7)
    assert (lap5.priority, lap7.priority, lap8.priority) == (Priority.REGULAR, Priority.REGULAR, Priority.CRITICAL)
    assert lap5.data["laps_of_fuel_left"] == pytest.approx(8.4 / 2.0, abs=0.01)
    assert lap5.data["fuel_to_add_l"] == pytest.approx(6 * 2.0 - 8.4, abs=0.02)
    critical_call = next(c for c in d.calls if c.message is lap8)
    assert critical_call.start_s == lap8.created_s == d.first_time_on_lap(8)


def test_fuel_enough_to_the_finish_is_said_every_fifth_lap_only() -> None:
    d = Drive(FuelApplication(), laps=10, start_m=500.0, fuel_l=100.0, burn_l_per_lap=2.0)
    d.run_for(5.5 * 20 + 1, speed=50.0)  # to just after the line into lap 7 (at 6000 m)
    (only,) = fuel_messages(d)
    assert only.text == "Fuel for 46.5 laps, enough to the finish"
    assert only.created_s == d.first_time_on_lap(5)
    assert [c.message for c in d.calls] == [only]


def test_fuel_says_nothing_before_a_green_flag_lap_was_measured() -> None:
    d = Drive(FuelApplication(), laps=10, start_m=500.0, fuel_l=3.0, burn_l_per_lap=2.0)
    d.run_for(0.5 * 20 + 1, speed=50.0)  # the line into lap 2; no lap measured yet
    assert fuel_messages(d) == []


def strategy_fuel(laps_left: float, laps_remaining: float) -> FuelPlan:
    return FuelPlan(
        fuel_l=laps_left * 3.0,
        fuel_per_lap_l=3.0,
        laps_remaining=laps_remaining,
        laps_of_fuel_left=laps_left,
        fuel_to_finish_l=(laps_remaining + 0.5) * 3.0,
        fuel_to_add_l=max(0.0, (laps_remaining + 0.5 - laps_left) * 3.0),
        stops_needed=1,
        save_target_l_per_lap=None,
        margin_l=1.5,
    )


def test_fuel_uses_the_strategy_plan_when_there_is_one() -> None:
    d = Drive(FuelApplication(), laps=10, start_m=900.0, fuel_l=3.0)
    d.run(10)
    d.copilot.on_strategy(snapshot(fuel=strategy_fuel(laps_left=1.0, laps_remaining=4.0)))
    d.run(300)  # the line into lap 2, with no lap of its own measured
    (message,) = fuel_messages(d)
    assert (message.text, message.priority) == ("Fuel critical, 1.0 laps left, box now", Priority.CRITICAL)


@pytest.mark.parametrize(
    "channels",
    [{"on_pit_road": True}, {"session_flags": int(SessionFlag.CHECKERED)}],
    ids=["on pit road", "checkered flag"],
)
def test_no_fuel_call_on_pit_road_or_under_the_checkered_flag(channels: dict[str, Any]) -> None:
    d = Drive(FuelApplication(), laps=10, start_m=900.0, fuel_l=3.0)
    d.run(10, **channels)
    d.copilot.on_strategy(snapshot(fuel=strategy_fuel(laps_left=1.0, laps_remaining=4.0)))
    d.run(300, **channels)
    assert fuel_messages(d) == []


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"units": "furlongs"}, "units"),
        ({"reaction_s": -0.1}, "reaction_s"),
        ({"reaction_s": float("nan")}, "reaction_s"),
        ({"brake_point_threshold_m": -1.0}, "brake_point_threshold_m"),
        ({"spotter_clear_s": -0.3}, "spotter_clear_s"),
        ({"lockup_min_s": -0.2}, "lockup_min_s"),
        ({"spotter_confirm_frames": 0}, "spotter_confirm_frames"),
        ({"max_coaching_calls_per_lap": -1}, "max_coaching_calls_per_lap"),
    ],
)
def test_coach_settings_reject_bad_values_naming_them(kwargs: dict[str, Any], names: str) -> None:
    with pytest.raises(ValueError, match=names):
        CoachSettings(**kwargs)


def test_coach_settings_words_in_both_units() -> None:
    metric, imperial = CoachSettings(), CoachSettings(units="imperial")
    assert metric.speed_words(10.0) == "36 k p h"
    assert imperial.speed_words(10.0) == "22 miles an hour"
    assert metric.distance_words(12.0) == "10 metres"
    assert metric.distance_words(1.0) == "5 metres"  # never "0 metres"
    assert imperial.distance_words(10.0) == "30 feet"
