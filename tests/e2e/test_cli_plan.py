"""`pitbox plan` from the outside: a real process printing a table or JSON, and broken inputs."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest

from driver_app import cli_plan
from tests.support.reference import REPO_ROOT

pytestmark = pytest.mark.e2e

PLAN = "import sys; from driver_app.cli_plan import main; sys.exit(main())"


def run_plan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PLAN, *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_prints_a_table_and_driver_totals() -> None:
    result = run_plan("--hours", "6", "--drivers", "Ann,Bo,Cy", "--max-stint-min", "150", "--double-stint-tyres")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Stint plan: 6 h, 3 drivers" in out
    assert "Per driver" in out
    for name in ("Ann", "Bo", "Cy"):
        assert name in out
    assert "lap 33 -> Bo" in out
    assert "All rules met." in out
    assert result.stderr == ""


def test_json_output_is_the_plan() -> None:
    result = run_plan("--hours", "3", "--drivers", "A,B", "--min-share", "0.25", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["feasible"] is True
    assert doc["race_s"] == 3 * 3600
    assert {s["driver"] for s in doc["stints"]} == {"A", "B"}
    assert doc["stints"][-1]["end_s"] >= 3 * 3600


def test_unmet_rules_are_printed() -> None:
    result = run_plan("--hours", "6", "--drivers", "Solo", "--max-stint-min", "120")
    assert result.returncode == 0, result.stderr
    assert "Rules not met" in result.stdout
    assert "max_continuous_driving_s" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hours", "0", "--drivers", "A"], "must be a positive number"),
        (["--hours", "x", "--drivers", "A"], "is not a number"),
        (["--hours", "2", "--drivers", "A,,B"], "comma-separated driver names"),
        (["--hours", "2", "--drivers", "A,A"], "must be unique"),
        (["--hours", "2", "--drivers", "A", "--min-share", "2"], "between 0 and 1"),
        (["--drivers", "A"], "--hours"),
    ],
)
def test_bad_arguments_exit_2_with_one_clear_line(args: list[str], message: str) -> None:
    result = run_plan(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_values_the_planner_rejects_exit_1() -> None:
    result = run_plan("--hours", "2", "--drivers", "A", "--tank", "2", "--fuel-per-lap", "3")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("pitbox plan: tank_l")


def test_add_parser_registers_plan(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="pitbox")
    cli_plan.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["plan", "--hours", "2", "--drivers", "A,B", "--json"])
    assert args.run is cli_plan.run
    assert args.run(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["drivers"] == ["A", "B"]
