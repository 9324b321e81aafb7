"""Helpers shared by the tray app's tests (unit and integration)."""

from __future__ import annotations

from collections.abc import Callable

from driver_app.pipeline import PipelineConfig
from driver_app.qt.app import PitBoxApp

WAIT_MS = 10_000
"""Every wait on the pipeline thread gives up after this long."""

MakeApp = Callable[..., PitBoxApp]


def demo_config(**changes: object) -> PipelineConfig:
    options = {"adapter": "demo", "adapter_options": {"speed": 1.0, "seed": 1, "laps": 5}, **changes}
    return PipelineConfig(**options)  # type: ignore[arg-type]
