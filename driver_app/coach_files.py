"""Coaching's files on disk: what the copilot learns per track and car, and the track notes it reads.

The copilot itself does no I/O; it is given `copilot_files(data_dir)`: a loader of track notes
(`assets/tracks/<track>.notes.yaml` and the track's `.json` corner list) and, with a data
directory, a `CoachStore` per track and car.

Files live under a root the caller gives (the driver app passes the user data directory):
`<root>/coaching/<track>/<car>/segments.json` and `personal_best.json`. Writes are atomic
(temporary file, then rename). A file that cannot be read is moved aside (`.corrupt`), never
overwritten, and reported with a `SegmentStoreError`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from coaching.errors import SegmentStoreError, TrackNotesError
from coaching.reference import ReferenceLap
from coaching.segments import CornerName, SegmentMap
from coaching.tracknotes import TrackNotes, parse_track_notes

logger = logging.getLogger(__name__)

TRACKS_DIR: Final = Path(__file__).resolve().parent.parent / "assets" / "tracks"
"""Where the track files and track notes ship."""


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return slug or "unknown"


class CoachStore:
    """Segment maps and personal bests for one track and car."""

    def __init__(self, root: Path | str, track: str, car: str) -> None:
        self.directory = Path(root) / "coaching" / _slug(track) / _slug(car)

    @property
    def segments_path(self) -> Path:
        return self.directory / "segments.json"

    @property
    def personal_best_path(self) -> Path:
        return self.directory / "personal_best.json"

    def load_segments(self, names: Sequence[CornerName] = ()) -> SegmentMap | None:
        data = self._read(self.segments_path)
        return (
            None if data is None else self._parse(self.segments_path, lambda: SegmentMap.from_dict(data, names=names))
        )

    def save_segments(self, segments: SegmentMap) -> None:
        self._write(self.segments_path, segments.to_dict())

    def load_personal_best(self) -> ReferenceLap | None:
        data = self._read(self.personal_best_path)
        return None if data is None else self._parse(self.personal_best_path, lambda: ReferenceLap.from_dict(data))

    def save_personal_best(self, reference: ReferenceLap) -> None:
        self._write(self.personal_best_path, reference.to_dict())

    # ------------------------------------------------------------ internals

    def _read(self, path: Path) -> Any:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SegmentStoreError(f"cannot read {path}: {exc}") from exc
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._set_aside(path)
            raise SegmentStoreError(f"{path} is not valid JSON ({exc}); moved aside") from exc

    def _parse(self, path: Path, build: Any) -> Any:
        try:
            return build()
        except SegmentStoreError as exc:
            self._set_aside(path)
            raise SegmentStoreError(f"{path}: {exc}; moved aside") from exc

    def _set_aside(self, path: Path) -> None:
        target = path.with_suffix(path.suffix + ".corrupt")
        try:
            os.replace(path, target)
            logger.warning("unreadable coaching file %s moved to %s", path, target)
        except OSError as exc:
            logger.warning("unreadable coaching file %s could not be moved aside: %s", path, exc)

    def _write(self, path: Path, data: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, separators=(",", ":"))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _corners_from_track_file(path: Path) -> tuple[CornerName, ...]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return tuple(
            CornerName(apex_m=float(c["apex_m"]), name=f"Turn {int(c['number'])}", id=str(c["id"]))
            for c in data.get("corners", [])
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TrackNotesError(f"{path}: cannot read its corners: {exc}") from exc


def load_track_notes(track: str, directory: Path | str) -> TrackNotes:
    """The notes and corner names for `track` from `directory` (empty when there are none)."""
    directory = Path(directory)
    corners: tuple[CornerName, ...] = ()
    track_file = directory / f"{track}.json"
    if track_file.is_file():
        corners = _corners_from_track_file(track_file)
    notes_file = directory / f"{track}.notes.yaml"
    if not notes_file.is_file():
        return TrackNotes(track, corners)
    try:
        text = notes_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TrackNotesError(f"{notes_file}: {exc}") from exc
    parsed = parse_track_notes(text, str(notes_file))
    return TrackNotes(parsed.track, parsed.corners or corners, parsed.notes)


def copilot_files(data_dir: Path | str | None, notes_dir: Path | None = TRACKS_DIR) -> dict[str, Any]:
    """The `Copilot` keyword arguments that give it its files: track notes from `notes_dir`, and
    segment maps and personal bests under `data_dir` (None: nothing learned is kept)."""
    memory: Callable[[str, str], CoachStore] | None = None
    if data_dir is not None:
        root = Path(data_dir)

        def memory(track: str, car: str) -> CoachStore:
            return CoachStore(root, track, car)

    notes: Callable[[str], TrackNotes] | None = None
    if notes_dir is not None:
        directory = notes_dir

        def notes(track: str) -> TrackNotes:
            return load_track_notes(track, directory)

    return {"memory": memory, "notes": notes}
