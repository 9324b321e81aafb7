"""Guard against the PySide6 build that corrupts reference counts on this Python.

PySide6 6.12.0 on Python 3.11 lowers the reference count of `None` on every void Qt call
(`setText`, timer callbacks) and of `True`/`False` on every `Signal.emit` of a bool; a long-running
tray app then aborts with "Fatal Python error: none_dealloc" (see the stack notes). Short GUI tests
pass on that build all the same, so these tests measure the counts directly. From Python 3.12 on,
`None`, `True` and `False` are immortal and the counts never move: the tests pass trivially there.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable

import pytest
from PySide6 import __version__ as pyside_version
from PySide6 import __version_info__ as pyside_version_info
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

CALLS = 1_000
"""Void Qt calls per measurement; the broken build loses exactly one reference per call."""
DRIFT = 10
"""References a healthy build may lose to unrelated bookkeeping (measured: 0)."""

BAD_RANGE_MIN = (6, 12)
"""First PySide6 release with the bug on Python < 3.12 (pyproject.toml pins below it)."""


def _lost_references(obj: object, run: Callable[[], None]) -> int:
    """References of `obj` lost while `run` ran, after one warm-up run (first-call caches, garbage
    left by earlier tests) so that only a loss per call remains."""
    run()
    gc.collect()
    before = sys.getrefcount(obj)
    run()
    gc.collect()
    return before - sys.getrefcount(obj)


def test_pyside6_version_is_not_in_the_bad_range_for_this_python() -> None:
    if sys.version_info >= (3, 12):
        pytest.skip("the bug only affects Python < 3.12")
    assert tuple(pyside_version_info[:2]) < BAD_RANGE_MIN, (
        f"PySide6 {pyside_version} on Python {sys.version.split()[0]} corrupts the reference count of "
        "None (a long-running app aborts with 'none_dealloc'); install PySide6-Essentials < 6.12 "
        "(pyproject.toml pins it: run `make venv` after `rm .venv/.pitbox-installed`)"
    )


def test_set_text_keeps_the_reference_count_of_none(qtbot: QtBot) -> None:
    label = QLabel()
    qtbot.addWidget(label)
    texts = [f"lap {i}" for i in range(CALLS)]  # built before measuring

    def run() -> None:
        for text in texts:
            label.setText(text)

    lost = _lost_references(None, run)
    assert lost <= DRIFT, f"{CALLS} QLabel.setText calls lost {lost} references of None (PySide6 {pyside_version})"


class _Flag(QObject):
    changed = Signal(bool)


def test_bool_signal_emit_keeps_the_reference_counts_of_true_and_false(qtbot: QtBot) -> None:
    flag = _Flag()
    received = [0]

    def on_changed(value: bool) -> None:
        received[0] += 1

    flag.changed.connect(on_changed)

    def run_with(value: bool) -> Callable[[], None]:
        def run() -> None:
            for _ in range(CALLS):
                flag.changed.emit(value)

        return run

    for value in (True, False):
        lost = _lost_references(value, run_with(value))
        assert lost <= DRIFT, (
            f"{CALLS} Signal(bool).emit({value}) calls lost {lost} references of {value} (PySide6 {pyside_version})"
        )
    assert received[0] == 4 * CALLS  # two runs (warm-up + measured) per value


def test_timer_driven_updates_keep_the_reference_count_of_none(qtbot: QtBot) -> None:
    """What the tray app does at 60 Hz: a QTimer whose callback updates a label."""
    label = QLabel()
    qtbot.addWidget(label)
    timer = QTimer()
    timer.setInterval(0)
    ticks = [0]

    def on_timeout() -> None:
        ticks[0] += 1
        label.setText("tick")
        if ticks[0] >= CALLS:
            timer.stop()

    timer.timeout.connect(on_timeout)

    def run() -> None:
        ticks[0] = 0
        timer.start()
        qtbot.waitUntil(lambda: not timer.isActive(), timeout=30_000)

    lost = _lost_references(None, run)
    assert ticks[0] == CALLS
    assert lost <= DRIFT, (
        f"{CALLS} QTimer callbacks updating a QLabel lost {lost} references of None (PySide6 {pyside_version})"
    )
