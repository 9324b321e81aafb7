"""The video package's errors: one base, one class per thing that can go wrong."""

from __future__ import annotations


class VideoError(Exception):
    """Video capture, encoding, clips or uploads cannot work as asked."""


class CaptureError(VideoError):
    """The capture target cannot be read: no display, no such monitor or window, a bad region."""


class EncoderError(VideoError):
    """No usable H.264 encoder, or a segment that could not be written."""


class ClipError(VideoError):
    """A clip could not be cut from the replay buffer (its video is gone, or nothing was captured)."""


class UploadError(VideoError):
    """The relay refused an upload for good (bad token, wrong car, too large, not an MP4)."""
