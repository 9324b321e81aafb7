"""Per-track notes for the track guide: declarative files under `assets/tracks/`, keyed by lap distance.

`<track>.notes.yaml` (the track name as the sim reports it, e.g. `martinsville.notes.yaml`):

    format: 1
    track: martinsville
    corners:                       # optional: names for the learned segments, by apex distance
      - {id: T1, name: "Turns 1 and 2", apex_m: 200}
    notes:
      - {at_m: 20, text: "Brake at the end of the wall", corner: T1}

`at_m` is the lap distance the note must be said before. Corner names also come from the track's
own `<track>.json` (the demo track) when it lists corners. The files are data: they are parsed
with a safe YAML loader, and nothing in them is evaluated. This module parses text; reading the
files is the driver app's job (`driver_app.coach_files.load_track_notes`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import yaml

from coaching.errors import TrackNotesError
from coaching.segments import CornerName

FORMAT: Final = 1
MAX_NOTE_CHARS: Final = 160
"""A note longer than this is not a call, it is a paragraph."""


@dataclass(frozen=True, slots=True)
class Note:
    """Something to say before `at_m` on the lap."""

    at_m: float
    text: str
    corner: str | None = None


@dataclass(frozen=True, slots=True)
class TrackNotes:
    track: str
    corners: tuple[CornerName, ...] = ()
    notes: tuple[Note, ...] = ()


def _field(entry: Mapping[str, Any], name: str, kind: type, where: str, *, optional: bool = False) -> Any:
    if name not in entry or entry[name] is None:
        if optional:
            return None
        raise TrackNotesError(f"{where}: missing '{name}'")
    value = entry[name]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TrackNotesError(f"{where}: '{name}' must be {kind.__name__}, not {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise TrackNotesError(f"{where}: '{name}' must be a finite number")
    return value


def _list(data: Mapping[str, Any], name: str, source: str) -> list[Any]:
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise TrackNotesError(f"{source}: '{name}' must be a list")
    return value


def parse_track_notes(text: str, source: str = "<notes>") -> TrackNotes:
    """Parse and validate a notes file's text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TrackNotesError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise TrackNotesError(f"{source}: expected a mapping at the top")
    if type(data.get("format")) is not int or data.get("format") != FORMAT:
        raise TrackNotesError(f"{source}: format must be {FORMAT}, not {data.get('format')!r}")
    track = _field(data, "track", str, source)
    corners = []
    for i, entry in enumerate(_list(data, "corners", source)):
        where = f"{source}: corners[{i}]"
        if not isinstance(entry, dict):
            raise TrackNotesError(f"{where}: expected a mapping")
        corners.append(
            CornerName(
                apex_m=_field(entry, "apex_m", float, where),
                name=_field(entry, "name", str, where),
                id=_field(entry, "id", str, where, optional=True),
            )
        )
    notes = []
    for i, entry in enumerate(_list(data, "notes", source)):
        where = f"{source}: notes[{i}]"
        if not isinstance(entry, dict):
            raise TrackNotesError(f"{where}: expected a mapping")
        note_text = _field(entry, "text", str, where).strip()
        if not note_text or len(note_text) > MAX_NOTE_CHARS:
            raise TrackNotesError(f"{where}: text must be 1 to {MAX_NOTE_CHARS} characters")
        at_m = _field(entry, "at_m", float, where)
        if at_m < 0:
            raise TrackNotesError(f"{where}: at_m must not be negative")
        notes.append(Note(at_m, note_text, _field(entry, "corner", str, where, optional=True)))
    return TrackNotes(track, tuple(corners), tuple(sorted(notes, key=lambda n: n.at_m)))
