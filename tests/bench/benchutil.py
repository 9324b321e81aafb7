"""Helpers every benchmark shares: percentiles of repeated runs and the closing JSON line."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from typing import Any


def percentile(values: list[float], q: float) -> float:
    """The observation at quantile `q` (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(bench: str, metrics: Mapping[str, Any], goals: Mapping[str, Any], met: bool) -> None:
    """Print the one JSON object that must be a benchmark's last line."""
    print(json.dumps({"bench": bench, "metrics": dict(metrics), "goals": dict(goals), "met": met}))


def memory_kb(pid: int | str = "self") -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in kB, from /proc."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                values[line.split(":")[0]] = int(line.split()[1])
    return values


def busy_cores(sample_s: float = 0.5) -> float:
    """Cores kept busy by other processes while this one sleeps (from /proc/stat)."""

    def read() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    total0, idle0 = read()
    time.sleep(sample_s)
    total1, idle1 = read()
    return (1 - (idle1 - idle0) / max(1, total1 - total0)) * (os.cpu_count() or 1)
