"""The `pitbox-relay` entry point: version, help, and no subcommand."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest

from relay.cli import main


def test_version_names_program_and_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"pitbox-relay {version('pitbox')}"


def test_no_subcommand_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: pitbox-relay" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "usage: pitbox-relay" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve-everything"]) == 2
    assert "invalid choice: 'serve-everything'" in capsys.readouterr().err


def test_module_runs_as_a_program() -> None:
    done = subprocess.run([sys.executable, "-m", "relay.cli", "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("pitbox-relay ")
