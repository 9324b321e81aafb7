"""The voice package's errors: one base, one class per thing that can go wrong."""

from __future__ import annotations


class VoiceError(Exception):
    """Speech out or voice commands cannot work as asked."""


class SpeechError(VoiceError):
    """No synthesiser, a voice or rate it does not have, or a phrase it could not render."""


class AudioDeviceError(VoiceError):
    """The chosen sound device does not exist or cannot be opened."""
