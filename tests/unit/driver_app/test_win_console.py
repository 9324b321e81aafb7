"""The windowed executable's console: nothing changes where the streams exist or off Windows."""

from __future__ import annotations

import sys

import pytest

from driver_app.win_console import attach_parent_console


def test_streams_that_exist_are_left_alone() -> None:
    stdout, stderr = sys.stdout, sys.stderr
    assert attach_parent_console() is False
    assert (sys.stdout, sys.stderr) == (stdout, stderr)


@pytest.mark.skipif(sys.platform == "win32", reason="off Windows only")
def test_off_windows_a_missing_stream_stays_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", None)
    assert attach_parent_console() is False
    assert sys.stdout is None
