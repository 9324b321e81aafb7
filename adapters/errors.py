"""The adapters package's one error hierarchy.

Pure code raises these; the CLI and the driver app catch them at their boundary and turn them into
one clear line for the user.
"""

from __future__ import annotations


class AdapterError(Exception):
    """Base of every error raised by `adapters`."""


class SimNotFoundError(AdapterError):
    """The sim (or the memory image / file standing in for it) is not there."""


class TelemetryFormatError(AdapterError):
    """A telemetry source is not in the layout it claims: truncated, corrupt, or not iRacing at all."""


class SessionInfoError(AdapterError):
    """The session description could not be parsed."""


class UnknownAdapterError(AdapterError):
    """No adapter is registered under the requested name."""


class PitCommandError(AdapterError):
    """A pit command could not be delivered to the sim."""


class TrackModelError(AdapterError):
    """A track model file in `assets/` is missing or malformed."""


class UnknownPacketFormatError(TelemetryFormatError):
    """A datagram is in a packet format the adapter does not read (a game year or UDP format setting
    it does not know); `packet_format` says which."""

    def __init__(self, message: str, packet_format: int) -> None:
        super().__init__(message)
        self.packet_format = packet_format
