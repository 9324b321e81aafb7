"""Suite-wide test configuration: the Qt platform default, the `gui` marker, the two xdist lanes, and
`artifacts_dir`.

Everything else belongs in the test packages or in `tests/support/` helpers imported explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

import pytest

# Before anything imports Qt: render offscreen unless the caller chose a platform (a test that needs
# a real X display, e.g. under `xvfb-run`, sets QT_QPA_PLATFORM=xcb in its own environment).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
"""Screenshots, reports and other files tests leave for a person to look at (gitignored)."""

_QT_FIXTURES = frozenset({"qtbot", "qapp"})
SIDE_LANE_FILES: Final = frozenset(
    {
        "tests/unit/driver_app/qt/test_long_run.py",  # five minutes, mostly waiting
        "tests/integration/driver_app/voice/test_recognition_espeak.py",  # renders and hears 520 commands
    }
)
"""The long tests that keep to themselves. `make test` runs two xdist workers with `--dist loadgroup`:
one runs these, the other everything else in collection order, so the long ones overlap the rest
instead of adding to it (and no two tests that share the X display run at once)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses pytest-qt's `qtbot` (or `qapp`) as `gui`."""
    for item in items:
        if _QT_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.gui)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup`: two lanes, the side lane's files and the main lane of everything else.

    Done here rather than with `xdist_group` marks because xdist 3.8 groups by rewriting a test's
    node id, which pytest 9 no longer lets it do: the marks are silently ignored."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class TwoLanes(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return "side" if nodeid.split("::", 1)[0] in SIDE_LANE_FILES else "main"

    return TwoLanes(config, log)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """`tests/artifacts/`, created on first use, for screenshots and reports worth keeping."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS_DIR
