"""Helpers every benchmark shares: percentiles of repeated runs and the closing JSON line."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def percentile(values: list[float], q: float) -> float:
    """The observation at quantile `q` (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(bench: str, metrics: Mapping[str, Any], goals: Mapping[str, Any], met: bool) -> None:
    """Print the one JSON object that must be a benchmark's last line."""
    print(json.dumps({"bench": bench, "metrics": dict(metrics), "goals": dict(goals), "met": met}))
