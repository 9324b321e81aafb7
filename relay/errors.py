"""The relay package's errors: one base, a subclass per kind of failure.

Messages never carry secrets: no token, no key material, only what is safe to log or show.
"""

from __future__ import annotations


class RelayError(Exception):
    """Base of every error the relay package raises (other than the wire's `ProtocolError`)."""


class PairingError(RelayError):
    """A pairing string is malformed (wrong scheme, missing token, bad port or fingerprint)."""


class TokenStoreError(RelayError):
    """An invite cannot be made (bad role/car id) or the token store file cannot be read or written."""


class CertificateError(RelayError):
    """A TLS certificate cannot be created or loaded, or the peer's certificate does not match the pin."""


class DiscoveryError(RelayError):
    """LAN discovery (zeroconf) cannot advertise or browse."""


class SpoolError(RelayError):
    """The durable spool cannot be opened, written or read (bad or wrong key, corrupt file, disk error)."""


class SinkError(RelayError):
    """A sink did not accept a batch (network error, refused or failed request): the batch is retried."""


class CircuitOpenError(SinkError):
    """A sink's circuit breaker is open: no request was made; retry after the breaker's reset time."""


class RecorderError(RelayError):
    """A session recording cannot be written (file error, write after close, unusable batches)."""


class VideoError(RelayError):
    """A video or its telemetry is refused: bad car or segment id, bad time window, not an MP4, not JSON."""


class VideoTooLargeError(VideoError):
    """An upload is larger than the relay accepts."""
