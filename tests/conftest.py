"""Suite-wide test configuration: the Qt platform default, the `gui` marker, and `artifacts_dir`.

Everything else belongs in the test packages or in `tests/support/` helpers imported explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before anything imports Qt: render offscreen unless the caller chose a platform (a test that needs
# a real X display, e.g. under `xvfb-run`, sets QT_QPA_PLATFORM=xcb in its own environment).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
"""Screenshots, reports and other files tests leave for a person to look at (gitignored)."""

_QT_FIXTURES = frozenset({"qtbot", "qapp"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses pytest-qt's `qtbot` (or `qapp`) as `gui`."""
    for item in items:
        if _QT_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.gui)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """`tests/artifacts/`, created on first use, for screenshots and reports worth keeping."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS_DIR
