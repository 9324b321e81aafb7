"""The capture clock mapped to the telemetry's session time: real time, pauses, resets, both ways."""

from __future__ import annotations

import numpy as np
import pytest

from driver_app.video.clockmap import ClockMap


def real_time_map(offset_s: float = 1000.0, until_s: float = 10.0) -> ClockMap:
    clock = ClockMap(min_interval_s=0.0)
    for mono in np.arange(0.0, until_s, 1 / 60):
        clock.add(float(mono), float(mono) + offset_s)
    return clock


def test_an_empty_map_uses_the_capture_clock() -> None:
    clock = ClockMap()
    assert clock.empty
    assert clock.to_session(12.5) == 12.5
    assert clock.to_mono(12.5) == 12.5


def test_while_the_sim_runs_in_real_time_the_map_is_an_offset() -> None:
    clock = real_time_map()
    times = np.array([0.01, 3.333, 9.99, 20.0])  # the last one is after the newest sample
    assert clock.to_session_array(times) == pytest.approx(times + 1000.0, abs=1e-9)
    assert clock.to_mono(1005.0) == pytest.approx(5.0)
    assert clock.to_session(-2.0) == pytest.approx(998.0)  # before the first sample: the same offset


def test_during_a_pause_every_capture_maps_to_the_paused_time() -> None:
    clock = ClockMap(min_interval_s=0.0)
    clock.add(0.0, 100.0)
    clock.add(1.0, 101.0)
    clock.add(5.0, 101.0)  # paused for 4 s
    clock.add(6.0, 102.0)
    assert clock.to_session(0.5) == pytest.approx(100.5)
    assert clock.to_session(3.0) == pytest.approx(101.0)
    assert clock.to_session(5.5) == pytest.approx(101.5)
    mapped = clock.to_session_array(np.linspace(0, 6, 61))
    assert np.all(np.diff(mapped) >= 0)


def test_after_a_session_restart_session_times_map_to_the_newest_session() -> None:
    clock = ClockMap(min_interval_s=0.0)
    clock.add(0.0, 500.0)
    clock.add(1.0, 501.0)
    clock.add(2.0, 0.5)  # a new session began
    clock.add(3.0, 1.5)
    assert clock.to_mono(1.0) == pytest.approx(2.5)
    assert clock.to_mono(0.0) == pytest.approx(1.5)  # before the newest session began: its offset
    assert clock.to_session(2.5) == pytest.approx(1.0)
    assert clock.to_session(0.5) == pytest.approx(500.5)


def test_samples_are_thinned_and_bounded() -> None:
    clock = ClockMap(min_interval_s=0.05, max_samples=100)
    for i in range(10_000):
        clock.add(i / 120, i / 120)
    assert len(clock) == 100  # bounded memory
    clock.add(0.0, 0.0)  # going back in time is ignored
    assert clock.to_session(83.0) == pytest.approx(83.0, abs=1e-6)
