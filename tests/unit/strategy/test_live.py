"""The live strategy state: fed frame by frame and lap by lap like the driver app does."""

from __future__ import annotations

import json

import numpy as np
import pytest

from adapters.demo import DemoSim
from adapters.laps import LapSplitter
from adapters.model import SessionInfo
from strategy.live import LiveStrategy


def _drive(sim: DemoSim, frames: int) -> tuple[LiveStrategy, SessionInfo]:
    info = sim.session_info
    live = LiveStrategy(info)
    live.on_session(info)
    splitter = LapSplitter()
    for frame in sim.generate_block(frames, cars=True):
        for lap in splitter.feed(frame):
            live.on_lap(lap)
        live.on_frame(frame)
    return live, info


def test_fuel_and_pace_become_available_after_green_laps() -> None:
    sim = DemoSim(seed=3, laps=12)
    live, _ = _drive(sim, 60 * 60 * 7)  # seven minutes: four or so laps
    snap = live.snapshot()
    assert snap.fuel_estimate is not None
    assert snap.fuel_estimate.fuel_per_lap_l == pytest.approx(sim.fuel_per_lap_l, rel=0.05)
    assert snap.fuel is not None
    assert 0 < snap.fuel.laps_remaining < 12
    # The demo starts with fuel for the race plus a lap: no fuel to add.
    assert snap.fuel.fuel_to_add_l == 0.0
    assert snap.next_lap is not None and 85.0 < snap.next_lap.time_s < 110.0
    assert snap.best_lap_s is not None and snap.last_lap_s is not None
    json.dumps(snap.to_dict(), allow_nan=False)


def test_nothing_is_claimed_before_a_lap_is_complete() -> None:
    live, _ = _drive(DemoSim(seed=1, laps=5), 60 * 30)
    snap = live.snapshot()
    assert snap.fuel is None and snap.fuel_estimate is None and snap.next_lap is None


def test_fuel_to_finish_tracks_the_tank_as_laps_go_by() -> None:
    sim = DemoSim(seed=5, laps=10)
    live, _ = _drive(sim, 60 * 60 * 5)
    first = live.snapshot().fuel
    block = sim.generate_block(60 * 200, cars=False)
    splitter = LapSplitter()
    for frame in block:
        for lap in splitter.feed(frame):
            live.on_lap(lap)
        live.on_frame(frame)
    later = live.snapshot().fuel
    assert first is not None and later is not None
    assert later.laps_remaining < first.laps_remaining - 1.5
    assert later.fuel_to_finish_l < first.fuel_to_finish_l
    assert np.isclose(later.fuel_l, float(block.fuel_level_l[-1]))


def test_pit_window_is_planned_when_the_tank_cannot_reach_the_flag() -> None:
    sim = DemoSim(seed=4, laps=30, pit_every_laps=12)
    live, _ = _drive(sim, 60 * 60 * 6)
    window = live.snapshot().pit_window
    assert window is not None
    assert window["stop_laps"], "a stop is needed: the demo fuels for 13 laps of a 30-lap race"
    assert window["reasons"] and all(isinstance(r, str) and r for r in window["reasons"])
    assert 0.0 <= window["confidence"] <= 1.0
