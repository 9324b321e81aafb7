"""Benchmark: the vectorised Monte Carlo pit optimiser against a per-race Python loop of the same model.

Run standalone: `python tests/bench/bench_strategy.py`. Both sides simulate the same 4 strategies
(no stop, two one-stops, a two-stop) over 10,000 races of a 60-lap race in the same run:
`strategy.pit.simulate` (numpy over races and laps) and `strategy.pit.simulate_reference` (a
plain Python loop over races, laps and strategies, same model, same summary). Prints p50/p90 over
repeats, the ratio, and a last line of JSON `{"bench", "metrics", "goals", "met"}`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

from benchutil import percentile, report

from strategy.pit import PitStopCost, RaceModel, Strategy, StrategyResult, simulate, simulate_reference

Simulator = Callable[[RaceModel, Sequence[Strategy], int, int], list[StrategyResult]]

ITERATIONS = 10_000
GOAL_P50_S = 0.050
GOAL_RATIO = 50.0

MODEL = RaceModel(
    laps=60,
    pit=PitStopCost(pit_lane_loss_s=22.0, fuel_flow_lps=2.5, tyre_change_s=12.0),
    base_lap_time_s=90.0,
    fuel_per_lap_l=2.5,
    tank_capacity_l=100.0,
    start_fuel_l=100.0,
    tyre_deg_s_per_lap=0.06,
    tyre_deg_s_per_lap2=0.001,
    tyre_deg_sd_frac=0.2,
    lap_time_sd_s=0.4,
    safety_car_prob_per_lap=0.02,
    traffic_prob=0.3,
    traffic_loss_s=1.5,
    field_race_times_s=tuple(5420.0 + 3.0 * i for i in range(20)),
    field_time_sd_s=8.0,
)
STRATEGIES = [
    Strategy("no stop"),
    Strategy("box lap 25", (25,)),
    Strategy("box lap 32", (32,)),
    Strategy("box laps 20 and 40", (20, 40)),
]


def _time(fn: Simulator, seed: int) -> float:
    start = time.perf_counter()
    fn(MODEL, STRATEGIES, ITERATIONS, seed)
    return time.perf_counter() - start


def main() -> int:
    simulate(MODEL, STRATEGIES, ITERATIONS, 0)  # warm up imports and caches
    fast_runs = [_time(simulate, seed) for seed in range(30)]
    loop_runs = [_time(simulate_reference, seed) for seed in range(3)]
    fast_s = statistics.median(fast_runs)
    loop_s = statistics.median(loop_runs)
    best = simulate(MODEL, STRATEGIES, ITERATIONS, 1)[0]
    metrics: dict[str, float | int | str] = {
        "strategies": len(STRATEGIES),
        "iterations": ITERATIONS,
        "laps": MODEL.laps,
        "loop_s_p50": round(loop_s, 4),
        "vectorised_s_p50": round(fast_s, 5),
        "vectorised_s_p90": round(percentile(fast_runs, 0.9), 5),
        "ratio_vs_loop": round(loop_s / fast_s, 1),
        "best": best.name,
    }
    goals = {"vectorised_s_p50": f"<= {GOAL_P50_S:g}", "ratio_vs_loop": f">= {GOAL_RATIO:g}"}
    met = fast_s <= GOAL_P50_S and loop_s / fast_s >= GOAL_RATIO
    print(
        f"{len(STRATEGIES)} strategies x {ITERATIONS} races x {MODEL.laps} laps\n"
        f"per-race Python loop: p50 {loop_s * 1e3:.0f} ms (p90 {percentile(loop_runs, 0.9) * 1e3:.0f} ms)\n"
        f"vectorised: p50 {fast_s * 1e3:.2f} ms, p90 {percentile(fast_runs, 0.9) * 1e3:.2f} ms "
        f"({metrics['ratio_vs_loop']}x the loop); best: {best.name}"
    )
    report("strategy", metrics, goals, met)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
