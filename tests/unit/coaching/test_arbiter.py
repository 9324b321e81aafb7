"""Arbiter: one call at a time, preemption by class, stale and held messages, duplicates, rate limits, overflow."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coaching.arbiter import Arbiter, ArbiterStats, time_to_m
from coaching.messages import Call, Message, Priority, Verbosity, speaking_time_s

NON_URGENT = (Priority.VOICE_REPLY, Priority.IMPORTANT, Priority.REGULAR)


def msg(
    text: str = "Fuel for ten laps",
    priority: Priority = Priority.REGULAR,
    t: float = 0.0,
    *,
    deadline: float | None = None,
    category: str = "test",
    key: str = "",
    verbosity: Verbosity = Verbosity.QUIET,
    say_before: tuple[int, float] | None = None,
    repeat_after_s: float = 30.0,
) -> Message:
    return Message(
        text=text,
        priority=priority,
        category=category,
        created_s=t,
        deadline_s=t + 30.0 if deadline is None else deadline,
        key=key,
        verbosity=verbosity,
        say_before=say_before,
        repeat_after_s=repeat_after_s,
    )


def step(
    arbiter: Arbiter,
    t: float,
    *,
    lap: int = 1,
    dist: float = 100.0,
    in_zone: bool = False,
    clear_ahead_s: float = math.inf,
) -> Call | None:
    return arbiter.step(t, lap, dist, in_zone=in_zone, clear_ahead_s=clear_ahead_s)


def start(arbiter: Arbiter, message: Message, t: float | None = None) -> Call:
    """Submit `message` and step once at its creation time; it must start."""
    arbiter.submit(message)
    call = step(arbiter, message.created_s if t is None else t)
    assert call is not None and call.message is message
    return call


# --------------------------------------------------------------------------- messages


def test_speaking_time_counts_a_number_as_two_words() -> None:
    # "Fuel for 12 laps": three words and a number said as two ("twelve" is one, but most are two).
    assert speaking_time_s("Fuel for 12 laps") == pytest.approx(0.25 + 5 / 2.8)
    assert msg("Box box").speaking_s == pytest.approx(0.25 + 2 / 2.8)


def test_message_needs_text_and_a_deadline_not_before_it_was_made() -> None:
    with pytest.raises(ValueError, match="text"):
        msg("   ")
    with pytest.raises(ValueError, match="deadline"):
        msg("Box", t=10.0, deadline=9.0)
    with pytest.raises(ValueError, match="deadline"):
        msg("Box", t=10.0, deadline=math.nan)


def test_dedupe_key_falls_back_to_category_and_text() -> None:
    assert msg("Box", key="pit:box").dedupe_key == "pit:box"
    assert msg("Box", category="pit").dedupe_key == "pit:Box"


# --------------------------------------------------------------------------- one call at a time


def test_one_call_at_a_time_the_next_starts_when_the_first_ends() -> None:
    arbiter = Arbiter()
    first = msg("Fuel for ten laps", t=0.0, key="a")
    second = msg("Track clear", t=0.01, key="b")
    arbiter.submit(first)
    arbiter.submit(second)
    call = step(arbiter, 0.01)
    assert call is not None and call.message is first
    assert call.ends_s == pytest.approx(0.01 + first.speaking_s)
    assert call.interrupts is None
    assert arbiter.speaking is call
    assert step(arbiter, 0.5) is None
    assert step(arbiter, call.ends_s - 0.01) is None
    assert arbiter.pending == (second,)
    following = step(arbiter, call.ends_s)
    assert following is not None and following.message is second
    assert following.interrupts is None


def test_call_records_where_it_started() -> None:
    arbiter = Arbiter()
    arbiter.submit(msg("Box", t=5.0))
    call = step(arbiter, 5.5, lap=7, dist=1234.5)
    assert call is not None
    assert (call.start_s, call.lap, call.lap_dist_m) == (5.5, 7, 1234.5)


def test_speaking_is_cleared_once_the_call_has_ended() -> None:
    arbiter = Arbiter()
    call = start(arbiter, msg("Box", t=0.0))
    assert step(arbiter, call.ends_s) is None
    assert arbiter.speaking is None


@pytest.mark.parametrize(
    ("current_class", "new_class"),
    [
        (Priority.REGULAR, Priority.IMPORTANT),
        (Priority.REGULAR, Priority.VOICE_REPLY),
        (Priority.IMPORTANT, Priority.VOICE_REPLY),
        (Priority.REGULAR, Priority.CRITICAL),
        (Priority.VOICE_REPLY, Priority.CRITICAL),
        (Priority.CRITICAL, Priority.SPOTTER),
        (Priority.REGULAR, Priority.SPOTTER),
    ],
)
def test_higher_class_preempts_the_current_call_on_the_same_step(current_class: Priority, new_class: Priority) -> None:
    arbiter = Arbiter()
    current = start(arbiter, msg("Turn three, brake five metres later", current_class, 0.0, key="old"))
    urgent = msg("Car left", new_class, 0.2, key="new")
    arbiter.submit(urgent)
    call = step(arbiter, 0.2)
    assert call is not None and call.message is urgent
    assert call.interrupts is current.message
    assert call.start_s == 0.2
    assert arbiter.speaking is call
    assert arbiter.stats.preempted == 1


def test_newer_spotter_call_supersedes_the_spotter_call_being_spoken() -> None:
    arbiter = Arbiter()
    car_left = start(arbiter, msg("Car left", Priority.SPOTTER, 0.0, key="s1"))
    clear = msg("Clear left", Priority.SPOTTER, 0.3, key="s2")
    arbiter.submit(clear)
    call = step(arbiter, 0.3)
    assert car_left.ends_s > 0.3
    assert call is not None and call.message is clear
    assert call.interrupts is car_left.message


@pytest.mark.parametrize(
    ("current_class", "new_class"),
    [
        (Priority.CRITICAL, Priority.CRITICAL),
        (Priority.CRITICAL, Priority.IMPORTANT),
        (Priority.SPOTTER, Priority.CRITICAL),
        (Priority.VOICE_REPLY, Priority.VOICE_REPLY),
        (Priority.VOICE_REPLY, Priority.IMPORTANT),
        (Priority.IMPORTANT, Priority.IMPORTANT),
        (Priority.IMPORTANT, Priority.REGULAR),
        (Priority.REGULAR, Priority.REGULAR),
    ],
)
def test_equal_or_lower_class_waits_until_the_current_call_ends(current_class: Priority, new_class: Priority) -> None:
    arbiter = Arbiter()
    current = start(arbiter, msg("Black flag, serve your penalty", current_class, 0.0, key="old"))
    waiting = msg("Fuel for ten laps", new_class, 0.1, key="new")
    arbiter.submit(waiting)
    assert step(arbiter, 0.1) is None
    assert step(arbiter, current.ends_s - 0.01) is None
    assert arbiter.speaking is current
    call = step(arbiter, current.ends_s)
    assert call is not None and call.message is waiting
    assert call.interrupts is None
    assert arbiter.stats.preempted == 0


def test_highest_class_waiting_goes_first_then_the_oldest() -> None:
    arbiter = Arbiter()
    regular_old = msg("Turn one, brake later", Priority.REGULAR, 0.0, key="r1")
    important = msg("Yellow flag", Priority.IMPORTANT, 0.2, key="i")
    regular_new = msg("Turn two, brake later", Priority.REGULAR, 0.1, key="r2")
    for message in (regular_old, important, regular_new):
        arbiter.submit(message)
    spoken = []
    t = 0.2
    while len(spoken) < 3 and t < 30.0:
        call = step(arbiter, t)
        if call is not None:
            spoken.append(call.message)
        t += 1 / 60
    assert spoken == [important, regular_old, regular_new]


# --------------------------------------------------------------------------- stale messages


def test_message_past_its_deadline_is_never_started() -> None:
    arbiter = Arbiter()
    arbiter.submit(msg("Yellow flag", t=0.0, deadline=0.5))
    assert step(arbiter, 0.51) is None
    assert arbiter.pending == ()
    assert arbiter.stats.dropped_stale == 1
    assert arbiter.stats.delivered == 0


def test_message_may_start_exactly_at_its_deadline() -> None:
    arbiter = Arbiter()
    message = msg("Yellow flag", t=0.0, deadline=0.5)
    arbiter.submit(message)
    call = step(arbiter, 0.5)
    assert call is not None and call.message is message


def test_message_that_goes_stale_while_waiting_for_the_current_call_is_dropped() -> None:
    arbiter = Arbiter()
    current = start(arbiter, msg("Black flag, serve your penalty, drive through", Priority.CRITICAL, 0.0))
    late = msg("Fuel for ten laps", Priority.REGULAR, 0.1, deadline=0.5, key="late")
    assert current.ends_s > 0.5
    arbiter.submit(late)
    t = 0.1
    while t < current.ends_s + 1.0:
        assert step(arbiter, t) is None
        t += 1 / 60
    assert arbiter.stats.dropped_stale == 1


@pytest.mark.parametrize(
    ("lap", "dist", "started"),
    [
        (3, 499.0, True),
        (3, 500.0, True),  # exactly at the place: not yet past it
        (2, 900.0, True),  # the lap before
        (3, 500.5, False),
        (4, 10.0, False),  # the next lap, even near the line
    ],
)
def test_message_past_its_say_before_place_is_never_started(lap: int, dist: float, started: bool) -> None:
    arbiter = Arbiter()
    message = msg("Turn three, brake later", t=0.0, say_before=(3, 500.0))
    arbiter.submit(message)
    call = step(arbiter, 0.0, lap=lap, dist=dist)
    if started:
        assert call is not None and call.message is message
    else:
        assert call is None
        assert arbiter.pending == ()
        assert arbiter.stats.dropped_stale == 1


# --------------------------------------------------------------------------- zones


@pytest.mark.parametrize("priority", NON_URGENT)
def test_non_urgent_call_is_held_in_a_zone_and_started_after_it(priority: Priority) -> None:
    arbiter = Arbiter()
    message = msg("Fuel for ten laps", priority, 0.0, deadline=5.0)
    arbiter.submit(message)
    for frame in range(60):
        assert step(arbiter, frame / 60, in_zone=True) is None
    call = step(arbiter, 1.0, in_zone=False)
    assert call is not None and call.message is message
    assert call.start_s == 1.0


@pytest.mark.parametrize("priority", NON_URGENT)
def test_non_urgent_call_is_held_when_it_cannot_finish_before_the_next_zone(priority: Priority) -> None:
    arbiter = Arbiter()
    message = msg("Fuel for ten laps, enough to the finish", priority, 0.0)
    arbiter.submit(message)
    assert step(arbiter, 0.0, clear_ahead_s=message.speaking_s - 0.1) is None
    call = step(arbiter, 0.1, clear_ahead_s=message.speaking_s + 0.1)
    assert call is not None and call.message is message


def test_held_message_is_dropped_when_it_goes_stale_in_the_zone() -> None:
    arbiter = Arbiter()
    arbiter.submit(msg("Yellow flag", Priority.IMPORTANT, 0.0, deadline=1.0))
    t = 0.0
    while t < 2.0:
        assert step(arbiter, t, in_zone=True) is None
        t += 1 / 60
    assert step(arbiter, 2.0) is None
    assert arbiter.stats.dropped_stale == 1
    assert arbiter.stats.delivered == 0


@pytest.mark.parametrize("priority", [Priority.SPOTTER, Priority.CRITICAL])
def test_urgent_call_starts_inside_a_zone(priority: Priority) -> None:
    arbiter = Arbiter()
    message = msg("Car left", priority, 0.0)
    arbiter.submit(message)
    call = step(arbiter, 0.0, in_zone=True, clear_ahead_s=0.0)
    assert call is not None and call.message is message


# --------------------------------------------------------------------------- duplicates


def test_same_key_within_repeat_after_is_dropped_and_allowed_after() -> None:
    arbiter = Arbiter()
    start(arbiter, msg("Yellow flag", t=0.0, key="flag:yellow", repeat_after_s=30.0))
    again = msg("Yellow flag", t=10.0, key="flag:yellow", repeat_after_s=30.0)
    arbiter.submit(again)
    assert arbiter.pending == ()
    assert arbiter.stats.dropped_duplicate == 1
    assert step(arbiter, 10.0) is None
    later = msg("Yellow flag", t=30.0, key="flag:yellow", repeat_after_s=30.0)
    call = start(arbiter, later)
    assert call.message is later


def test_duplicates_without_key_are_told_apart_by_category_and_text() -> None:
    arbiter = Arbiter()
    start(arbiter, msg("Box", t=0.0, category="pit"))
    arbiter.submit(msg("Box", t=5.0, category="pit"))
    assert arbiter.stats.dropped_duplicate == 1
    other = msg("Box", t=5.0, category="team")
    arbiter.submit(other)
    assert arbiter.pending == (other,)


def test_queued_message_is_replaced_by_a_newer_one_with_the_same_key() -> None:
    arbiter = Arbiter()
    old = msg("Fuel for ten laps", t=0.0, key="fuel")
    new = msg("Fuel for nine laps", t=1.0, key="fuel")
    arbiter.submit(old)
    assert step(arbiter, 0.0, in_zone=True) is None
    arbiter.submit(new)
    assert arbiter.pending == (new,)
    assert arbiter.stats.dropped_duplicate == 1
    call = step(arbiter, 1.5)
    assert call is not None and call.message is new
    assert step(arbiter, call.ends_s + 1.0) is None


# --------------------------------------------------------------------------- rate limits, verbosity, overflow


def test_category_rate_limit_spaces_out_calls_of_one_kind() -> None:
    arbiter = Arbiter()  # default limits: brake calls 6 s apart
    first = start(arbiter, msg("Turn one, brake later", t=0.0, category="brake", key="b1"))
    assert first.ends_s < 2.0
    second = msg("Turn two, brake later", t=2.0, category="brake", key="b2")
    arbiter.submit(second)
    assert step(arbiter, 2.0) is None
    assert step(arbiter, 5.99) is None
    call = step(arbiter, 6.0)
    assert call is not None and call.message is second


def test_rate_limit_applies_per_category_and_not_to_urgent_calls() -> None:
    arbiter = Arbiter(rate_limits_s={"coach": 10.0})
    start(arbiter, msg("Turn one, brake later", t=0.0, category="coach", key="c1"))
    other = msg("Fuel for ten laps", t=3.0, category="fuel", key="f")
    call = start(arbiter, other)
    assert call.message is other
    critical = msg("Fuel critical, box now", Priority.CRITICAL, 5.0, category="coach", key="c2")
    call = start(arbiter, critical)
    assert call.message is critical


@pytest.mark.parametrize("setting", list(Verbosity))
@pytest.mark.parametrize("level", list(Verbosity))
def test_message_is_kept_only_when_verbosity_reaches_it(setting: Verbosity, level: Verbosity) -> None:
    arbiter = Arbiter(verbosity=setting)
    message = msg("Turn one, brake later", t=0.0, verbosity=level)
    arbiter.submit(message)
    kept = level <= setting
    assert arbiter.pending == ((message,) if kept else ())
    assert arbiter.stats.dropped_verbosity == (0 if kept else 1)


def test_verbosity_can_be_raised_while_running() -> None:
    arbiter = Arbiter(verbosity=Verbosity.QUIET)
    arbiter.submit(msg("Turn one, brake later", t=0.0, key="a", verbosity=Verbosity.COACHING))
    assert arbiter.pending == ()
    arbiter.verbosity = Verbosity.COACHING
    arbiter.submit(msg("Turn one, brake later", t=1.0, key="a", verbosity=Verbosity.COACHING))
    assert len(arbiter.pending) == 1


def test_queue_overflow_drops_the_lowest_class_oldest_first() -> None:
    arbiter = Arbiter(max_queue=3)
    important = msg("Yellow flag", Priority.IMPORTANT, 0.0, key="i")
    regular_old = msg("Turn one", Priority.REGULAR, 1.0, key="r1")
    regular_new = msg("Turn two", Priority.REGULAR, 2.0, key="r2")
    critical = msg("Black flag", Priority.CRITICAL, 3.0, key="c")
    for message in (important, regular_old, regular_new, critical):
        arbiter.submit(message)
    assert set(map(id, arbiter.pending)) == {id(important), id(regular_new), id(critical)}
    assert arbiter.stats.dropped_overflow == 1


def test_queue_overflow_drops_a_newcomer_of_the_lowest_class() -> None:
    arbiter = Arbiter(max_queue=2)
    kept = [msg(f"Black flag {n}", Priority.CRITICAL, float(n), key=f"c{n}") for n in range(2)]
    for message in kept:
        arbiter.submit(message)
    arbiter.submit(msg("Turn one", Priority.REGULAR, 5.0, key="r"))
    assert arbiter.pending == tuple(kept)
    assert arbiter.stats.dropped_overflow == 1


def test_clear_forgets_one_category_or_everything() -> None:
    arbiter = Arbiter()
    fuel = msg("Fuel for ten laps", t=0.0, category="fuel")
    brake = msg("Turn one, brake later", t=0.0, category="brake")
    arbiter.submit(fuel)
    arbiter.submit(brake)
    arbiter.clear(category="brake")
    assert arbiter.pending == (fuel,)
    arbiter.clear()
    assert arbiter.pending == ()
    assert arbiter.stats.dropped_stale == 2


def test_stats_count_every_outcome() -> None:
    arbiter = Arbiter(verbosity=Verbosity.NORMAL)
    arbiter.submit(msg("Brake later", t=0.0, verbosity=Verbosity.COACHING))  # verbosity
    start(arbiter, msg("Fuel for ten laps", t=0.0, key="a"))  # delivered
    arbiter.submit(msg("Fuel for ten laps", t=0.2, key="a"))  # duplicate
    preempting = start(arbiter, msg("Yellow flag, waving, slow down", Priority.IMPORTANT, 0.5, key="b"))
    arbiter.submit(msg("Turn one", t=0.6, deadline=1.0, key="c"))  # waits behind the flag, then stale
    assert step(arbiter, 0.6) is None
    assert step(arbiter, preempting.ends_s + 0.1) is None
    assert arbiter.stats == ArbiterStats(
        submitted=5,
        delivered=2,
        preempted=1,
        dropped_stale=1,
        dropped_duplicate=1,
        dropped_verbosity=1,
        dropped_overflow=0,
    )


def test_time_to_m() -> None:
    assert time_to_m(100.0, 50.0) == pytest.approx(2.0)
    assert time_to_m(100.0, 0.2) == math.inf


# --------------------------------------------------------------------------- property: random streams at 60 Hz

FRAME_S = 1 / 60
TRACK_M = 600.0
SPEED_MPS = 45.0
TEXTS = ("Box", "Fuel for 12 laps", "Yellow flag, waving, slow down", "Turn three, brake 15 metres later")
SPOTTER_TEXTS = ("Car left", "Clear left", "Three wide, you're in the middle", "Still there")

message_specs = st.fixed_dictionaries(
    {
        "priority": st.sampled_from([Priority.CRITICAL, *NON_URGENT]),
        "text": st.sampled_from(TEXTS),
        "category": st.sampled_from(["brake", "fuel", "flag", "pit", "other"]),
        "deadline_in": st.sampled_from([0.0, 0.2, 0.8, 2.0]) | st.floats(0.0, 8.0),
        "say_before": st.none() | st.tuples(st.integers(-1, 1), st.floats(-50.0, 400.0)),
        "key": st.sampled_from(["", "k1", "k2", "k3"]),
        "repeat_after_s": st.sampled_from([0.0, 3.0, 30.0]),
        "verbosity": st.sampled_from(list(Verbosity)),
    }
)
spotter_specs = st.fixed_dictionaries(
    {
        "text": st.sampled_from(SPOTTER_TEXTS),
        "deadline_in": st.floats(0.0, 1.0),
        "say_before": st.none() | st.tuples(st.integers(-1, 0), st.floats(-20.0, 50.0)),
    }
)


@st.composite
def scenarios(draw: Any) -> tuple[list[tuple[bool, float]], dict[int, list[dict[str, Any]]], dict[int, dict[str, Any]]]:
    runs = draw(
        st.lists(
            st.tuples(st.integers(1, 90), st.booleans(), st.sampled_from([0.0, 1.0, 2.5, 6.0, math.inf])),
            min_size=1,
            max_size=8,
        )
    )
    frames = [(in_zone, ahead) for length, in_zone, ahead in runs for _ in range(length)]
    last = len(frames) - 1
    events: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for frame, spec in draw(st.lists(st.tuples(st.integers(0, last), message_specs), min_size=8, max_size=60)):
        events[frame].append(spec)
    spotters = draw(st.dictionaries(st.integers(0, last), spotter_specs, min_size=1, max_size=20))
    return frames, events, spotters


def _place(frame: int) -> tuple[int, float]:
    travelled = 250.0 + frame * FRAME_S * SPEED_MPS
    return 1 + int(travelled // TRACK_M), travelled % TRACK_M


def _say_before(spec: tuple[int, float] | None, lap: int, dist: float) -> tuple[int, float] | None:
    if spec is None:
        return None
    lap_offset, ahead_m = spec
    return lap + lap_offset, min(max(dist + ahead_m, 0.0), TRACK_M)


def _passed(say_before: tuple[int, float] | None, lap: int, dist: float) -> bool:
    return say_before is not None and (lap, dist) > say_before


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_random_streams_keep_the_arbiter_rules(
    scenario: tuple[list[tuple[bool, float]], dict[int, list[dict[str, Any]]], dict[int, dict[str, Any]]],
) -> None:
    frames, events, spotters = scenario
    arbiter = Arbiter(verbosity=Verbosity.NORMAL, max_queue=8)
    current: Call | None = None
    started: set[int] = set()
    accepted: set[int] = set()
    key_started_at: dict[str, float] = {}
    category_started_at: dict[str, float] = {}
    alive: list[Message] = []  # keeps every message alive so that `id()` stays unique
    for frame, (in_zone, clear_ahead_s) in enumerate(frames):
        t = frame * FRAME_S
        lap, dist = _place(frame)
        for spec in events.get(frame, []):
            message = Message(
                text=spec["text"],
                priority=spec["priority"],
                category=spec["category"],
                created_s=t,
                deadline_s=t + spec["deadline_in"],
                key=spec["key"],
                verbosity=spec["verbosity"],
                say_before=_say_before(spec["say_before"], lap, dist),
                repeat_after_s=spec["repeat_after_s"],
            )
            arbiter.submit(message)
            alive.append(message)
            if message.verbosity <= Verbosity.NORMAL:
                accepted.add(id(message))
        spotter: Message | None = None
        if frame in spotters:
            spec = spotters[frame]
            spotter = Message(
                text=spec["text"],
                priority=Priority.SPOTTER,
                category="spotter",
                created_s=t,
                deadline_s=t + spec["deadline_in"],
                key=f"spotter:{frame}",
                say_before=_say_before(spec["say_before"], lap, dist),
            )
            arbiter.submit(spotter)
            alive.append(spotter)
            accepted.add(id(spotter))

        call = arbiter.step(t, lap, dist, in_zone=in_zone, clear_ahead_s=clear_ahead_s)

        if spotter is not None:
            stale = _passed(spotter.say_before, lap, dist)
            if stale:
                assert call is None or call.message is not spotter
            else:
                assert call is not None and call.message is spotter, "the spotter gets through on its frame"
        if call is None:
            continue
        m = call.message
        assert (call.start_s, call.lap, call.lap_dist_m) == (t, lap, dist)
        assert id(m) in accepted, "only messages the verbosity lets through are spoken"
        assert id(m) not in started, "a message is spoken at most once"
        started.add(id(m))
        assert call.start_s <= m.deadline_s
        assert not _passed(m.say_before, lap, dist)
        if not m.priority.urgent:
            assert not in_zone
            assert m.speaking_s <= clear_ahead_s
            limit = arbiter.rate_limits_s.get(m.category, 0.0)
            if limit and m.category in category_started_at:
                assert t - category_started_at[m.category] >= limit
        if m.dedupe_key in key_started_at:
            assert m.created_s - key_started_at[m.dedupe_key] >= m.repeat_after_s
        if current is not None and t < current.ends_s:
            previous = current.message
            assert call.interrupts is previous
            assert m.priority < previous.priority or (
                m.priority is Priority.SPOTTER and previous.priority is Priority.SPOTTER
            )
        else:
            assert call.interrupts is None
        assert call.ends_s == pytest.approx(t + m.speaking_s)
        current = call
        key_started_at[m.dedupe_key] = t
        category_started_at[m.category] = t
    stats = arbiter.stats
    assert stats.delivered == len(started)
    # Every submitted message was started, dropped (a replaced one counts as a duplicate), or is still queued.
    assert stats.submitted == (
        stats.delivered
        + stats.dropped_stale
        + stats.dropped_duplicate
        + stats.dropped_verbosity
        + stats.dropped_overflow
        + len(arbiter.pending)
    )
