"""`make dist` builds the PyInstaller bundle, and the bundled programs run as a user would run them:
`--version`, `--self-test` (every check that can run here passes) and the headless demo.

The bundle is built once per run into a temporary folder (`DIST_DIR`/`DIST_WORK_DIR`), so the
checkout is not littered; its size goes to `tests/artifacts/dist_bundle.json`. The test skips only
when PyInstaller cannot be installed into the venv (`make dist-deps`), and says why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
VENV_PY = REPO / ".venv" / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
APP = "PitBox" if sys.platform == "win32" else "pitbox"
MUST_PASS = ("imports", "files", "qt", "recognizer", "video", "relay")
"""Checks that need nothing beyond the bundle (and the test machine's display libraries) to pass."""
QT_LEFT_OUT = ("Qt6WebEngine", "Qt6Qml", "Qt6Quick", "Qt6Pdf")


def _tail(result: subprocess.CompletedProcess[str], lines: int = 40) -> str:
    return "\n".join((result.stdout + result.stderr).splitlines()[-lines:])


def _make(*args: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-C", str(REPO), *args], capture_output=True, text=True, timeout=timeout_s, check=False
    )


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bundle folder `make dist` built (holding `pitbox` and `pitbox-relay`)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    deps = _make("dist-deps", timeout_s=900)
    has_pyinstaller = VENV_PY.exists() and (
        subprocess.run([str(VENV_PY), "-c", "import PyInstaller"], capture_output=True, check=False).returncode == 0
    )
    if deps.returncode != 0 or not has_pyinstaller:
        pytest.skip(f"PyInstaller could not be installed into {VENV_PY.parent.parent} (make dist-deps):\n{_tail(deps)}")
    out = tmp_path_factory.mktemp("dist")
    build = _make("dist", f"DIST_DIR={out / 'dist'}", f"DIST_WORK_DIR={out / 'work'}", timeout_s=900)
    assert build.returncode == 0, _tail(build)
    assert f"bundle: {out / 'dist' / APP}, " in build.stdout, _tail(build)
    yield out / "dist" / APP
    shutil.rmtree(out, ignore_errors=True)  # ~340 MB: do not keep it until pytest prunes its temp folders


@pytest.fixture
def user_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a user whose home is a fresh folder (nothing read or written in the real one)."""
    env = dict(os.environ)
    env.update(
        HOME=str(tmp_path),
        XDG_CONFIG_HOME=str(tmp_path / ".config"),
        XDG_DATA_HOME=str(tmp_path / ".local" / "share"),
        XDG_CACHE_HOME=str(tmp_path / ".cache"),
        QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
    )
    env.pop("PITBOX_VOSK_MODEL", None)
    return env


def _run(program: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(program), *args], capture_output=True, text=True, timeout=300, check=False, env=env)


def test_bundle_holds_both_programs_and_no_unused_qt(bundle: Path, artifacts_dir: Path) -> None:
    exe = ".exe" if sys.platform == "win32" else ""
    assert (bundle / f"{APP}{exe}").is_file()
    assert (bundle / f"pitbox-relay{exe}").is_file()
    files = [p for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()]
    unwanted = [p.name for p in files if any(name in p.name for name in QT_LEFT_OUT)]
    assert unwanted == []
    assert (bundle / "_internal" / "assets" / "tracks" / "pitbox_park.json").is_file()
    assert (bundle / "_internal" / "relay" / "dashboard" / "index.html").is_file()
    size_mb = sum(p.stat().st_size for p in files) / 1e6
    (artifacts_dir / "dist_bundle.json").write_text(
        json.dumps({"bundle": str(bundle), "files": len(files), "size_mb": round(size_mb, 1)}), encoding="utf-8"
    )


def test_both_programs_print_the_project_version(bundle: Path, user_env: dict[str, str]) -> None:
    with (REPO / "pyproject.toml").open("rb") as handle:
        version = tomllib.load(handle)["project"]["version"]
    app = _run(bundle / APP, "--version", env=user_env)
    relay = _run(bundle / "pitbox-relay", "--version", env=user_env)
    assert (app.returncode, app.stdout.strip()) == (0, f"pitbox {version}"), app.stderr
    assert (relay.returncode, relay.stdout.strip()) == (0, f"pitbox-relay {version}"), relay.stderr


def test_self_test_passes_every_check_that_can_run(bundle: Path, user_env: dict[str, str], tmp_path: Path) -> None:
    report = tmp_path / "self-test.txt"
    result = _run(bundle / APP, "--self-test", "--self-test-report", str(report), env=user_env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("PitBox ") and "(bundle, " in lines[0]
    assert lines[-1] == "self-test passed"
    statuses = {line.split()[1]: line.split()[0] for line in lines[1:-1]}
    assert "FAILED" not in statuses.values(), result.stdout
    for name in MUST_PASS:
        assert statuses.get(name) == "ok", result.stdout
    assert report.read_text(encoding="utf-8").splitlines() == lines


def test_headless_demo_runs_from_the_bundle(bundle: Path, user_env: dict[str, str]) -> None:
    env = {k: v for k, v in user_env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = _run(bundle / APP, "demo", "--headless", "--laps", "1", "--speed", "20", env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["laps"] == 1
    assert summary["frames_produced"] > 0
    assert summary["frames_acked_by_relay"] == summary["frames_produced"]
