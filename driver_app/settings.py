"""The driver app's settings: one schema, validated once, stored as JSON in the platform's config directory.

`Settings` is the schema (a frozen dataclass with defaults that need no set-up before the first
lap); `validate` turns user input into `Settings` or a `SettingsError` that names every bad field
with a message a driver understands; `load_settings`/`save_settings` keep them in
`platformdirs.user_config_dir("pitbox")/settings.json` (atomic writes; a damaged file is moved
aside and the defaults are used, with a warning).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import platformdirs

from adapters import base
from adapters.f1udp import DEFAULT_LISTEN
from driver_app.udp_listener import parse_listen_address
from driver_app.video.capture import CaptureTarget
from driver_app.video.config import UPLOAD_MODES
from driver_app.video.presets import ENCODER_NAMES, RESOLUTIONS
from driver_app.voice.talk_button import TalkButtonError, parse_binding
from relay.auth import decode_pairing
from relay.errors import PairingError

logger = logging.getLogger(__name__)

VERBOSITIES: Final = ("quiet", "normal", "coaching")
INT_RANGES: Final = {
    "speech_rate_wpm": (80, 400),
    "speech_volume_pct": (0, 200),
    "video_fps": (5, 60),
    "video_segment_s": (1, 30),
    "video_clip_before_s": (0, 60),
    "video_clip_after_s": (0, 60),
}
CHOICES: Final[Mapping[str, Sequence[str]]] = {
    "verbosity": VERBOSITIES,
    "video_resolution": tuple(RESOLUTIONS),
    "video_encoder": tuple(ENCODER_NAMES),
    "video_upload": UPLOAD_MODES,
}
"""Settings that take one of a few names: the names each accepts."""


class DriverAppError(Exception):
    """Base of the driver app's errors."""


class SettingsError(DriverAppError):
    """Settings that cannot be used; `problems` maps each bad field to what is wrong with it."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("; ".join(f"{field}: {why}" for field, why in self.problems.items()))


@dataclass(frozen=True, slots=True)
class Settings:
    pairing: str = ""
    """The relay's pairing string from `pitbox-relay invite` (empty: no relay, nothing streamed)."""
    adapter: str = "auto"
    """"auto" (a running sim, else the demo) or an adapter's name."""
    f1_listen: str = DEFAULT_LISTEN
    """Where the F1 adapter listens for the game's UDP telemetry, "HOST:PORT" (the game sends to port 20777)."""
    verbosity: str = "normal"
    coach_muted: bool = False
    voice_enabled: bool = True
    video_enabled: bool = False
    push_to_talk: str = ""
    audio_output: str = ""
    """Output device name (empty: the system default)."""
    audio_input: str = ""
    speech_voice: str = ""
    """The synthesiser's voice id as `pitbox voice voices` lists it (empty: the system's default)."""
    speech_rate_wpm: int = 190
    """Speaking rate, words per minute (80-400)."""
    speech_volume_pct: int = 100
    """Speech volume, percent of the rendered level (0-200)."""
    start_with_windows: bool = False
    video_target: str = ""
    """What to capture: "" or "monitor" (the primary monitor), "monitor:N", "region:LEFT,TOP,W,H"
    (pixels), or "window:TITLE" (the window whose title contains TITLE, e.g. "window:iRacing.com Simulator")."""
    video_resolution: str = "720p"
    """The largest encoded size: 480p, 720p, 900p, 1080p or 1440p (the capture's aspect ratio is kept)."""
    video_fps: int = 30
    """Frames per second captured and encoded (5-60)."""
    video_segment_s: int = 4
    """Length of each video segment in seconds (1-30): the unit kept, uploaded and cut into clips."""
    video_encoder: str = "auto"
    """"auto" (NVENC, Quick Sync or AMF when present, else x264) or one of those encoders by name."""
    video_overlay: bool = True
    """Burn speed, gear and pedal inputs into saved clips."""
    video_upload: str = "all"
    """Share with the team's relay: "all" (live segments and clips), "clips", or "none"."""
    video_clip_before_s: int = 10
    """Seconds of video a clip keeps before its moment (0-60)."""
    video_clip_after_s: int = 10
    """Seconds of video a clip keeps after its moment (0-60)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def validate(values: Mapping[str, Any], base_settings: Settings | None = None) -> Settings:
    """New settings from `values` (only the fields given change); SettingsError names every bad one."""
    current = base_settings if base_settings is not None else Settings()
    known = {f.name: f for f in dataclasses.fields(Settings)}
    problems: dict[str, str] = {}
    changes: dict[str, Any] = {}
    for name, value in values.items():
        field = known.get(name)
        if field is None:
            problems[name] = "not a setting"
            continue
        expected = type(getattr(current, name))
        if expected is bool and not isinstance(value, bool):
            problems[name] = "must be true or false"
            continue
        if expected is str and not isinstance(value, str):
            problems[name] = "must be text"
            continue
        if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
            problems[name] = "must be a whole number"
            continue
        bounds = INT_RANGES.get(name)
        if bounds is not None and not bounds[0] <= value <= bounds[1]:
            problems[name] = f"must be between {bounds[0]} and {bounds[1]}"
            continue
        changes[name] = value.strip() if isinstance(value, str) else value
    pairing = changes.get("pairing")
    if pairing:
        try:
            decode_pairing(pairing)
        except PairingError as exc:
            problems["pairing"] = f"not a pairing string ({exc}); copy the whole line `pitbox-relay invite` printed"
    adapter = changes.get("adapter")
    if adapter is not None:
        names = {spec.name for spec in base.registered()} | {"auto"}
        if adapter not in names:
            problems["adapter"] = f"unknown sim {adapter!r}; choose one of {', '.join(sorted(names))}"
    f1_listen = changes.get("f1_listen")
    if f1_listen is not None:
        try:
            parse_listen_address(f1_listen)
        except ValueError as exc:
            problems["f1_listen"] = f"{exc}; use HOST:PORT, such as {DEFAULT_LISTEN}"
    for name, allowed in CHOICES.items():
        value = changes.get(name)
        if value is not None and value not in allowed:
            problems[name] = f"must be one of {', '.join(allowed)}"
    key = changes.get("push_to_talk")
    if key is not None:
        try:
            parse_binding(key)
        except TalkButtonError as exc:
            problems["push_to_talk"] = str(exc)
    target = changes.get("video_target")
    if target is not None:
        try:
            CaptureTarget.parse(target)
        except ValueError as exc:
            problems["video_target"] = str(exc)
    if problems:
        raise SettingsError(problems)
    return dataclasses.replace(current, **changes)


def config_path() -> Path:
    return Path(platformdirs.user_config_dir("pitbox", appauthor=False)) / "settings.json"


def load_settings(path: Path | None = None) -> Settings:
    """The stored settings (defaults when there are none; a damaged file is set aside)."""
    path = path if path is not None else config_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        known = {f.name for f in dataclasses.fields(Settings)}
        return validate({k: v for k, v in data.items() if k in known})
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError, SettingsError) as exc:
        aside = path.with_suffix(".json.bad")
        logger.warning("settings in %s unusable (%s): moved to %s, using defaults", path, exc, aside)
        try:
            os.replace(path, aside)
        except OSError as move_error:
            logger.warning("could not move %s aside: %s", path, move_error)
        return Settings()


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    path = path if path is not None else config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(settings.to_dict(), handle, indent=2)
    os.replace(tmp, path)
    return path
