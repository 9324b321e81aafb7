"""The capture target setting: every form it takes, and a readable error for the rest."""

from __future__ import annotations

import pytest

from driver_app.video.capture import CaptureTarget, TargetKind
from driver_app.video.window_finder import FoundWindow, Region, pick


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", CaptureTarget(TargetKind.MONITOR, 1)),
        ("monitor", CaptureTarget(TargetKind.MONITOR, 1)),
        ("monitor:2", CaptureTarget(TargetKind.MONITOR, 2)),
        ("  Monitor: 3 ", CaptureTarget(TargetKind.MONITOR, 3)),
        ("region:10,20,1280,720", CaptureTarget(TargetKind.REGION, region=Region(10, 20, 1280, 720))),
        ("window:iRacing.com Simulator", CaptureTarget(TargetKind.WINDOW, window_title="iRacing.com Simulator")),
        ("window: a:b ", CaptureTarget(TargetKind.WINDOW, window_title="a:b")),
    ],
)
def test_targets_parse_from_their_text(text: str, expected: CaptureTarget) -> None:
    assert CaptureTarget.parse(text) == expected
    assert CaptureTarget.parse(expected.describe()) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("monitor:0", "from 1"),
        ("monitor:two", "not a monitor number"),
        ("region:1,2,3", "LEFT,TOP,WIDTH,HEIGHT"),
        ("region:0,0,8,8", "at least 16"),
        ("window:", "title"),
        ("camera:1", "use monitor"),
    ],
)
def test_bad_targets_say_what_is_expected(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        CaptureTarget.parse(text)


def test_regions_clamp_to_the_screen() -> None:
    screen = Region(0, 0, 1920, 1080)
    assert Region(-10, -10, 100, 100).clamp(screen) == Region(0, 0, 90, 90)
    assert Region(1900, 1000, 100, 100).clamp(screen) == Region(1900, 1000, 20, 80)
    assert Region(2000, 0, 100, 100).clamp(screen) is None


def test_the_window_meant_by_a_title_is_an_exact_match_then_the_largest() -> None:
    small = FoundWindow("iRacing.com Simulator - chat", Region(0, 0, 300, 200))
    large = FoundWindow("iRacing.com Simulator - replay", Region(0, 0, 1920, 1080))
    exact = FoundWindow("iRacing.com Simulator", Region(0, 0, 800, 600))
    assert pick([small, large], "iracing.com simulator") == large
    assert pick([small, large, exact], "iRacing.com Simulator") == exact
    assert pick([small], "Assetto") is None
    assert pick([FoundWindow("iRacing", Region(0, 0, 1, 1))], "iRacing") is None  # a 1x1 helper window
