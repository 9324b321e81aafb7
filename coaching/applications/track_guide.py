"""TrackGuideApplication: the track's notes read out before each place, on the first laps of a session."""

from __future__ import annotations

from coaching.applications.base import Context, Sample
from coaching.applications.timing import plan_before
from coaching.messages import Verbosity
from coaching.tracknotes import TrackNotes


class TrackGuideApplication:
    """Notes come from `assets/tracks/<track>.notes.yaml` (see `coaching.tracknotes`); each is
    planned to end, with the driver's reaction time, before its lap distance, on the first
    `guide_laps` laps of the session.

    Each lap start plans the next lap's notes, because a note about a place just after the line
    is said at the end of the lap before.
    """

    name = "track_guide"

    def __init__(self, notes: TrackNotes | None = None) -> None:
        self.notes = notes
        self._first_lap: int | None = None

    def on_lap_start(self, lap: int, s: Sample, ctx: Context) -> None:
        if self.notes is None:
            return
        if self._first_lap is None:
            self._first_lap = lap
            self._plan_lap(self.notes, lap, ctx)
        self._plan_lap(self.notes, lap + 1, ctx)

    def _plan_lap(self, notes: TrackNotes, lap: int, ctx: Context) -> None:
        if self._first_lap is None or lap - self._first_lap >= ctx.settings.guide_laps:
            return
        for index, note in enumerate(notes.notes):
            segment = ctx.segments.get(note.corner) if note.corner else None
            plan_before(
                ctx,
                lap=lap,
                point_m=note.at_m,
                text=note.text,
                category=self.name,
                segment_id=None if segment is None else segment.id,
                verbosity=Verbosity.COACHING,
                key=f"guide:{index}:{lap}",
                data={"note": index},
            )
