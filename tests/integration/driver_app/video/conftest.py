"""What the video integration tests share: an X display big enough, skipped with a reason otherwise."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def x_display() -> str:
    """$DISPLAY, when it is an X screen of at least 1280x720 (the suite runs under `xvfb-run`)."""
    display = os.environ.get("DISPLAY")
    if not display:
        pytest.skip("needs an X display: run the tests under `xvfb-run -a` (make test does)")
    import mss

    with mss.MSS() as screen:
        whole = screen.monitors[0]
    if whole["width"] < 1280 or whole["height"] < 720:
        pytest.skip(f"the X screen is {whole['width']}x{whole['height']}; the video tests need 1280x720")
    return display
