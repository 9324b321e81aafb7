"""A packaged PitBox finds the vosk model it carries, after the configured and the installed one."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from driver_app.voice import recognition
from driver_app.voice.recognition import BUNDLED_MODEL_DIR, MODEL_ENV, bundled_model, find_vosk_model


@pytest.fixture
def bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A frozen app whose bundle holds a model; no model configured or installed."""
    root = tmp_path / "bundle"
    (root / BUNDLED_MODEL_DIR).mkdir(parents=True)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(root), raising=False)
    monkeypatch.delenv(MODEL_ENV, raising=False)
    monkeypatch.setattr(recognition, "model_home", lambda: tmp_path / "home" / "vosk-model")
    return root


def test_from_source_there_is_no_bundled_model() -> None:
    assert not getattr(sys, "frozen", False)
    assert bundled_model() is None


def test_the_bundled_model_is_used_when_no_other_is_there(bundle: Path) -> None:
    assert find_vosk_model() == bundle / BUNDLED_MODEL_DIR


def test_an_installed_or_configured_model_wins_over_the_bundled_one(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed = tmp_path / "home" / "vosk-model"
    installed.mkdir(parents=True)
    assert find_vosk_model() == installed
    configured = tmp_path / "configured"
    configured.mkdir()
    monkeypatch.setenv(MODEL_ENV, str(configured))
    assert find_vosk_model() == configured
