"""`pitbox plan --hours H --drivers A,B,C [...]`: print an endurance stint plan.

Plans a timed race with `strategy.stints.plan_stints` and prints a table of stints (driver, start lap,
laps, start and end on the race clock, fuel, tyres, handoff) and per-driver totals, or with `--json`
the plan's `to_dict()` as one JSON object. Rules the plan cannot meet are listed after the table
(and in the JSON as `unmet_rules`); the exit status is still 0, since the plan is still useful.

Bad input is one line on stderr: exit 2 for arguments argparse rejects, 1 for values the planner
rejects.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from driver_app.cli_args import fraction, non_negative, positive
from strategy.errors import StrategyError
from strategy.stints import CarParams, StintPlan, StintRules, plan_stints

PROG = "pitbox plan"


def _drivers(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    if not names or any(not name for name in names):
        raise argparse.ArgumentTypeError(f"expected comma-separated driver names, got {text!r}")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"driver names must be unique, got {text!r}")
    return names


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hours", type=positive, required=True, help="race length in hours")
    parser.add_argument("--drivers", type=_drivers, required=True, help="comma-separated driver names, e.g. A,B,C")
    parser.add_argument("--lap-time", type=positive, default=120.0, metavar="S", help="lap time, s (default 120)")
    parser.add_argument("--fuel-per-lap", type=positive, default=3.0, metavar="L", help="fuel use, l/lap (default 3)")
    parser.add_argument("--tank", type=positive, default=100.0, metavar="L", help="tank capacity, l (default 100)")
    parser.add_argument(
        "--pit-loss", type=non_negative, default=30.0, metavar="S", help="pit lane loss, s (default 30)"
    )
    parser.add_argument(
        "--max-stint-min",
        type=positive,
        default=240.0,
        metavar="M",
        help="maximum continuous driving per driver, minutes (default 240)",
    )
    parser.add_argument(
        "--min-share",
        type=fraction,
        default=0.0,
        metavar="F",
        help="minimum fraction of the driving each driver must do (default 0)",
    )
    parser.add_argument(
        "--max-share", type=fraction, default=None, metavar="F", help="maximum fraction per driver (default none)"
    )
    parser.add_argument(
        "--min-rest-min",
        type=non_negative,
        default=0.0,
        metavar="M",
        help="minimum rest between two spells of a driver, minutes (default 0)",
    )
    parser.add_argument(
        "--fatigue",
        type=non_negative,
        default=0.0,
        metavar="S",
        help="lap-time loss per hour in the car, s (default 0)",
    )
    parser.add_argument("--double-stint-tyres", action="store_true", help="run each tyre set for two fuel stints")
    parser.add_argument("--json", action="store_true", help="print the plan as one JSON object")


def add_parser(subparsers: Any) -> None:
    """Register `plan` on the `pitbox` command's subparsers."""
    parser = subparsers.add_parser(
        "plan",
        help="plan stints and driver rotation for an endurance race",
        description="Plan fuel stints, driver rotation, tyres and handoff laps for a timed race.",
    )
    _add_arguments(parser)
    parser.set_defaults(run=run)


def build_plan(args: argparse.Namespace) -> StintPlan:
    """The plan the parsed arguments ask for (raises StrategyError on values the planner rejects)."""
    rules = StintRules(
        max_continuous_driving_s=args.max_stint_min * 60.0,
        min_driver_share=args.min_share,
        max_driver_share=args.max_share if args.max_share else None,
        min_rest_between_stints_s=args.min_rest_min * 60.0,
        tyre_stints_per_set=2 if args.double_stint_tyres else 1,
        fatigue_s_per_hour=args.fatigue,
    )
    car = CarParams(
        lap_time_s=args.lap_time, fuel_per_lap_l=args.fuel_per_lap, tank_l=args.tank, pit_loss_s=args.pit_loss
    )
    return plan_stints(args.hours * 3600.0, args.drivers, rules, car)


def run(args: argparse.Namespace) -> int:
    try:
        plan = build_plan(args)
    except StrategyError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(plan.to_dict(), allow_nan=False))
    else:
        print_plan(Console(), plan)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run `plan` on its own (`python -m driver_app.cli_plan --hours 6 --drivers A,B,C`)."""
    from driver_app import cli  # here, not at the top: cli imports this module

    return cli.main(["plan", *(sys.argv[1:] if argv is None else argv)])


# --------------------------------------------------------------------------- tables


def _clock(seconds: float) -> str:
    minutes = int(round(seconds / 60.0))
    return f"{minutes // 60}:{minutes % 60:02d}"


def print_plan(console: Console, plan: StintPlan) -> None:
    handoffs = {h.lap: h for h in plan.handoffs}
    table = Table(title=f"Stint plan: {plan.race_s / 3600:g} h, {len(plan.drivers)} drivers, {plan.total_laps} laps")
    for column in ("stint", "driver", "start lap", "laps", "start", "end", "fuel l", "tyres", "handoff"):
        table.add_column(column, justify="right" if column not in ("driver", "tyres", "handoff") else "left")
    for stint in plan.stints:
        handoff = handoffs.get(stint.end_lap)
        table.add_row(
            str(stint.index + 1),
            stint.driver,
            str(stint.start_lap),
            str(stint.laps),
            _clock(stint.start_s),
            _clock(stint.end_s),
            f"{stint.fuel_l:.1f}",
            f"new (set {stint.tyre_set})" if stint.new_tyres else f"used (set {stint.tyre_set})",
            f"lap {handoff.lap} -> {handoff.to_driver}" if handoff else "",
        )
    console.print(table)
    totals = Table(title="Per driver")
    for column in ("driver", "stints", "laps", "driving", "share"):
        totals.add_column(column, justify="left" if column == "driver" else "right")
    for total in plan.driver_totals():
        totals.add_row(total.driver, str(total.stints), str(total.laps), _clock(total.driving_s), f"{total.share:.1%}")
    console.print(totals)
    if plan.feasible:
        console.print("All rules met.")
    else:
        console.print(f"[bold red]Rules not met:[/bold red] {', '.join(plan.unmet_rules)}")
        for violation in plan.violations:
            console.print(f"  {violation.rule}: {violation.message}")


if __name__ == "__main__":
    sys.exit(main())
