"""What the relay remembers of a car: lap rows, stints, best-lap trace, segment losses and the learned map.

Frames come from the real demo sim (deterministic) in the ~6-frame batches the relay receives;
expected values come from the same frames through `adapters.laps.split_laps` and plain numpy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adapters.base import SessionChanged
from adapters.demo import DemoSim, DemoVariance
from adapters.laps import split_laps
from adapters.model import FrameBlock, Lap, LapKind
from relay.car_history import CarHistory
from relay.track_map import align_rms_m, map_from_track_file

TRACK_FILE = Path(__file__).resolve().parents[3] / "assets" / "tracks" / "pitbox_park.json"
BATCH = 6
LAP_KEYS = ("lap", "kind", "time_s", "start_time_s", "end_time_s", "sim_time_s", "fuel_used_l", "reasons")


def feed_all(history: CarHistory, block: FrameBlock, batch: int = BATCH) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for start in range(0, len(block), batch):
        rows += history.feed(block.slice(start, start + batch))
    return rows


def without_gps(block: FrameBlock) -> FrameBlock:
    frames = block.frames.copy()
    frames["latitude_deg"] = np.nan
    frames["longitude_deg"] = np.nan
    return FrameBlock(frames)


@pytest.fixture(scope="module")
def race() -> tuple[DemoSim, FrameBlock]:
    """Six laps with five opponents; the player pits at the end of lap 3 (and goes off on that lap)."""
    sim = DemoSim(seed=3, laps=6, pit_every_laps=3, opponents=5)
    return sim, sim.generate_block(10**6, cars=False)


@pytest.fixture(scope="module")
def fed(race: tuple[DemoSim, FrameBlock]) -> tuple[CarHistory, list[dict[str, Any]], list[Lap]]:
    sim, block = race
    history = CarHistory(7)
    history.on_session({**sim.session_info.to_dict(), "driver": "Alex Demo"})
    return history, feed_all(history, block), split_laps(block)


@pytest.fixture(scope="module")
def truth() -> np.ndarray:
    return map_from_track_file(json.loads(TRACK_FILE.read_text(encoding="utf-8"))).points_m


def test_lap_rows_match_the_laps_split_laps_finds_on_the_same_frames(
    fed: tuple[CarHistory, list[dict[str, Any]], list[Lap]],
) -> None:
    history, rows, laps = fed
    assert [lap.number for lap in laps] == [2, 3, 4, 5, 6]
    assert [{k: row[k] for k in LAP_KEYS} for row in rows] == [{k: lap.to_dict()[k] for k in LAP_KEYS} for lap in laps]
    without_delta = [{k: v for k, v in row.items() if k != "delta_to_best_s"} for row in rows]
    assert [
        {k: v for k, v in r.items() if k != "delta_to_best_s"} for r in history.laps_view()["laps"]
    ] == without_delta
    json.dumps(history.laps_view(), allow_nan=False)


def test_batch_size_does_not_change_the_rows(race: tuple[DemoSim, FrameBlock]) -> None:
    _, block = race
    by_batch = {}
    for batch in (1, 6, 1000, 5000):
        by_batch[batch] = feed_all(CarHistory(1), block, batch)
    assert by_batch[1] == by_batch[6] == by_batch[1000] == by_batch[5000]
    assert len(by_batch[1]) == 5


def test_a_pit_stop_starts_a_new_stint(fed: tuple[CarHistory, list[dict[str, Any]], list[Lap]]) -> None:
    history, rows, _ = fed
    table = [(row["lap"], row["kind"], row["pit"], row["stint"], row["stint_lap"]) for row in rows]
    assert table == [
        (2, "flying", False, 1, 1),
        (3, "invalid", True, 1, 2),  # went off on the in-lap: invalid, but it still touched pit road
        (4, "out", True, 2, 1),
        (5, "flying", False, 2, 2),
        (6, "flying", False, 2, 3),
    ]
    view = history.laps_view()
    assert (view["stint"], view["stint_laps"], view["car_id"], view["driver"]) == (2, 3, 7, "Alex Demo")


def test_a_car_that_starts_in_the_pits_begins_stint_one_when_it_leaves(race: tuple[DemoSim, FrameBlock]) -> None:
    _, block = race
    laps = split_laps(block)
    out_lap = next(lap for lap in laps if lap.kind is LapKind.OUT)
    history = CarHistory(1)
    rows = feed_all(history, block.slice(out_lap.start_index - 600, len(block)))  # joins in the pit box
    # The fragment from the pit box to the line is a lap (as split_laps counts it: it ends on pit road).
    assert [(row["lap"], row["kind"], row["stint"]) for row in rows] == [
        (3, "in", 1),
        (4, "out", 1),
        (5, "flying", 1),
        (6, "flying", 1),
    ]
    assert history.laps_view()["stint"] == 1


def test_position_and_incidents_come_from_the_frames_of_the_lap(
    race: tuple[DemoSim, FrameBlock], fed: tuple[CarHistory, list[dict[str, Any]], list[Lap]]
) -> None:
    _, block = race
    _, rows, laps = fed
    for row, lap in zip(rows, laps, strict=True):
        last = block[lap.end_index - 1]
        assert row["position"] == last.position
        assert row["incidents"] == last.incident_count - block[lap.start_index - 1].incident_count
    assert len({row["position"] for row in rows}) > 1  # the field moves: positions are not a constant
    assert [row["incidents"] for row in rows] == [0, 1, 0, 0, 0]  # the off-track on lap 3


def test_delta_to_best_is_against_the_best_flying_lap_before_the_lap(
    fed: tuple[CarHistory, list[dict[str, Any]], list[Lap]],
) -> None:
    history, rows, _ = fed
    best: float | None = None
    for row in rows:
        expected = None if best is None or row["time_s"] is None else round(row["time_s"] - best, 3)
        assert row["delta_to_best_s"] == pytest.approx(expected, abs=0.002)
        if row["kind"] == "flying":
            best = row["time_s"] if best is None else min(best, row["time_s"])
    assert rows[0]["delta_to_best_s"] is None
    view = history.laps_view()
    flying = [row for row in rows if row["kind"] == "flying"]
    fastest = min(flying, key=lambda row: row["time_s"])
    assert (view["best_lap"], view["best_time_s"]) == (fastest["lap"], fastest["time_s"])
    # The table the dashboard reads: every lap against the best lap now, which shows 0.
    for row in view["laps"]:
        expected = None if row["time_s"] is None else round(row["time_s"] - fastest["time_s"], 3)
        assert row["delta_to_best_s"] == pytest.approx(expected, abs=0.002)
    assert next(r for r in view["laps"] if r["lap"] == fastest["lap"])["delta_to_best_s"] == 0


def test_best_trace_is_the_fastest_flying_lap_on_equal_fractions(
    race: tuple[DemoSim, FrameBlock], fed: tuple[CarHistory, list[dict[str, Any]], list[Lap]]
) -> None:
    _, block = race
    history, _, laps = fed
    trace = history.best_trace()
    assert trace is not None
    json.dumps(trace, allow_nan=False)
    best = min((lap for lap in laps if lap.kind is LapKind.FLYING), key=lambda lap: lap.time_s or 1e9)
    assert trace["lap"] == best.number and trace["time_s"] == pytest.approx(best.time_s, abs=0.001)
    frac = np.array(trace["frac"])
    assert len(frac) == 500 and frac[0] == 0.0 and frac[-1] == 1.0
    np.testing.assert_allclose(np.diff(frac), 1 / 499, atol=2e-5)
    elapsed = np.array(trace["elapsed_s"])
    assert elapsed[0] == 0.0 and elapsed[-1] == pytest.approx(best.time_s, abs=0.001)
    assert (np.diff(elapsed) > 0).all()
    # The values are the lap's own, read at those fractions.
    lap = block.slice(best.start_index, best.end_index)
    for name, rounding in (("speed_mps", 0.005), ("throttle", 0.0005), ("brake", 0.0005)):
        expected = np.interp(frac[1:-1], lap.lap_dist_frac, getattr(lap, name))
        # Rounding, plus the trace's fractions being rounded to 1e-5 (up to 0.01 m/s in a hard stop).
        np.testing.assert_allclose(np.array(trace[name])[1:-1], expected, atol=rounding + 0.01)
    expected_elapsed = np.interp(frac[1:-1], lap.lap_dist_frac, lap.session_time_s - best.start_time_s)
    np.testing.assert_allclose(elapsed[1:-1], expected_elapsed, atol=0.002)


def test_segment_losses_add_up_to_the_lap_time_difference(
    fed: tuple[CarHistory, list[dict[str, Any]], list[Lap]],
) -> None:
    history, rows, _ = fed
    losses = history.segment_losses()
    assert losses is not None
    json.dumps(losses, allow_nan=False)
    times = {row["lap"]: row["time_s"] for row in rows}
    assert losses["lap"] == 6 and losses["best_lap"] == history.laps_view()["best_lap"]
    assert len(losses["loss_s"]) == 20
    assert sum(losses["loss_s"]) == pytest.approx(times[6] - times[losses["best_lap"]], abs=0.005)


def test_segment_losses_point_at_the_corner_braked_for_too_early() -> None:
    # A robot driver: every lap is the same, except that on lap 4 it brakes 60 m early for T4.
    sim = DemoSim(seed=2, laps=4, opponents=0, variance=DemoVariance.none(), brake_offsets_m={(4, "T4"): -60.0})
    block = sim.generate_block(10**6, cars=False)
    history = CarHistory(1, segments=20)
    history.on_session(sim.session_info.to_dict())
    feed_all(history, block)
    losses = history.segment_losses()
    assert losses is not None and losses["lap"] == 4 and losses["best_lap"] in (2, 3)
    loss = np.array(losses["loss_s"])
    corner = sim.track.corner("T4")
    brake_segment = int(corner.brake_m / sim.track.length_m * 20)
    assert int(np.argmax(loss)) in (brake_segment, brake_segment + 1)
    assert loss.max() > 0.1
    others = np.delete(loss, [brake_segment, brake_segment + 1])
    assert np.abs(others).max() < 0.02


def test_learned_map_comes_from_clean_flying_laps_and_matches_the_track(
    race: tuple[DemoSim, FrameBlock], fed: tuple[CarHistory, list[dict[str, Any]], list[Lap]], truth: np.ndarray
) -> None:
    sim, block = race
    history, _, _ = fed
    learned = history.learned_map()
    assert learned is not None
    assert (learned.track, learned.source, learned.laps_used, learned.length_m) == (
        "pitbox_park-grand_prix",
        "gps",
        3,  # laps 2, 5 and 6; not the invalid in-lap 3 nor the out-lap 4
        4650.0,
    )
    assert align_rms_m(truth, learned.points_m) < 0.25

    dead = CarHistory(7)
    dead.on_session(sim.session_info.to_dict())
    feed_all(dead, without_gps(block))
    reckoned = dead.learned_map()
    assert reckoned is not None and reckoned.source == "dead_reckoning" and reckoned.laps_used == 3
    assert align_rms_m(truth, reckoned.points_m) < 2.0


def test_nothing_to_show_before_the_first_flying_lap(race: tuple[DemoSim, FrameBlock]) -> None:
    _, block = race
    history = CarHistory(1)
    view = history.laps_view()
    assert (view["laps"], view["best_lap"], view["best_time_s"], view["stint"], view["driver"]) == (
        [],
        None,
        None,
        1,
        None,
    )
    assert history.best_trace() is None and history.segment_losses() is None and history.learned_map() is None
    laps = split_laps(block)
    feed_all(history, block.slice(0, laps[0].end_index + 300))  # up to the first lap's row
    assert [row["lap"] for row in history.laps_view()["laps"]] == [2]
    assert history.best_trace() is not None and history.learned_map() is not None


def test_laps_carry_the_driver_who_started_them_across_a_driver_swap() -> None:
    sim = DemoSim(seed=3, laps=5, pit_every_laps=2, opponents=3, team_drivers=("Alex Demo", "Sam Demo"))
    history = CarHistory(1)
    rows: list[dict[str, Any]] = []
    while True:
        for event in sim.drain_events():
            if isinstance(event, SessionChanged):
                history.on_session(event.info.to_dict())
        block = sim.generate_block(BATCH, cars=False)
        if len(block) == 0:
            break
        rows += history.feed(block)
    assert [(row["lap"], row["driver"], row["stint"]) for row in rows] == [
        (2, "Alex Demo", 1),  # the in-lap: the swap happens in the pit box near its end
        (3, "Sam Demo", 2),
        (4, "Sam Demo", 2),
        (5, "Alex Demo", 3),
    ]
    assert history.laps_view()["driver"] == "Alex Demo"


def test_lap_table_keeps_only_the_newest_rows(race: tuple[DemoSim, FrameBlock]) -> None:
    _, block = race
    history = CarHistory(1, max_rows=2)
    rows = feed_all(history, block)
    assert [row["lap"] for row in history.laps_view()["laps"]] == [row["lap"] for row in rows[-2:]] == [5, 6]


def test_a_lap_longer_than_the_sample_ring_gets_a_row_but_no_trace_or_map(race: tuple[DemoSim, FrameBlock]) -> None:
    _, block = race
    history = CarHistory(1, max_samples=3000)  # 50 s of frames; a lap takes 95 s
    rows = feed_all(history, block)
    assert [row["lap"] for row in rows] == [2, 3, 4, 5, 6]
    assert history.laps_view()["best_lap"] == 5
    assert history.best_trace() is None and history.segment_losses() is None and history.learned_map() is None


def test_a_new_session_restarts_lap_splitting_and_keeps_the_rows(race: tuple[DemoSim, FrameBlock]) -> None:
    _, block = race
    history = CarHistory(1)
    first = feed_all(history, block)
    second = feed_all(history, block)  # the session clock starts again from zero
    assert [{k: r[k] for k in LAP_KEYS} for r in second] == [{k: r[k] for k in LAP_KEYS} for r in first]
    assert len(history.laps_view()["laps"]) == 2 * len(first)


def test_a_new_track_forgets_the_best_lap_and_the_map(
    race: tuple[DemoSim, FrameBlock], fed: tuple[CarHistory, list[dict[str, Any]], list[Lap]]
) -> None:
    sim, block = race
    history = CarHistory(1)
    history.on_session(sim.session_info.to_dict())
    feed_all(history, block)
    assert history.learned_map() is not None
    history.on_session({"track": {"name": "monza", "config": "", "length_m": 5793.0}, "driver": "Kim"})
    assert history.learned_map() is None and history.best_trace() is None
    assert history.laps_view()["best_lap"] is None and history.laps_view()["driver"] == "Kim"


@pytest.mark.parametrize("options", [{"trace_points": 1}, {"segments": 0}, {"max_rows": 0}, {"max_samples": 1}])
def test_bad_limits_are_refused(options: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        CarHistory(1, **options)
