"""What the tray app remembers besides the settings: whether the first-run flow is done, and
whether the driver chose a relay on this PC. Kept as JSON next to `settings.json`.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from driver_app.settings import config_path

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AppState:
    first_run_done: bool = False
    local_relay: bool = False
    """Run a relay on this PC (used while no pairing string is set)."""


def app_state_path() -> Path:
    return config_path().parent / "app-state.json"


def load_app_state(path: Path | None = None) -> AppState:
    path = path if path is not None else app_state_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return AppState()
    except (OSError, ValueError) as exc:
        logger.warning("app state in %s unusable (%s): starting afresh", path, exc)
        return AppState()
    if not isinstance(data, dict):
        return AppState()
    known = {f.name for f in fields(AppState)}
    return AppState(**{k: v for k, v in data.items() if k in known and isinstance(v, bool)})


def save_app_state(state: AppState, path: Path | None = None) -> Path:
    path = path if path is not None else app_state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(asdict(state), handle, indent=2)
    os.replace(tmp, path)
    return path
