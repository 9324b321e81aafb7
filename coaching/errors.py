"""The coaching package's errors: one base, a subclass per kind of bad input."""

from __future__ import annotations


class CoachingError(Exception):
    """Base of every error the coaching package raises."""


class TrackNotesError(CoachingError):
    """A track-notes file is missing a field, has a wrong type, or is not valid YAML/JSON."""


class SegmentStoreError(CoachingError):
    """A stored segment map or personal-best lap cannot be read (corrupt, wrong format version)."""


class NotEnoughLapError(CoachingError):
    """A lap has too few in-world samples to be analysed."""
