"""TLS for the relay: a self-signed certificate made once, and contexts that pin it by fingerprint.

Why pinning instead of a certificate authority: the relay runs on a laptop or a mini-PC on the team's
LAN, reached by an IP address or a `.local` name. No public CA will certify such a name, and asking
every team member to install a private CA (and keep its key safe) is worse than the problem. Instead
the relay makes its own certificate on first start and puts the SHA-256 of it (the fingerprint) in
the pairing string, next to the token (see `relay.auth.encode_pairing`). The pairing string reaches
each team member over a channel they already trust (a chat message, a QR code on the relay's screen),
so the fingerprint authenticates the relay exactly as well as a CA would, and better: only this one
certificate is accepted, not any certificate some CA signed for that name.

So the client context does not verify a chain or a host name against CAs (`CERT_NONE`,
`check_hostname = False`): those checks cannot pass for a self-signed certificate on an IP address
and would add nothing. The pin is checked instead. `client_ssl_context` enforces it inside the TLS
handshake itself (its SSL objects compare the peer certificate as soon as the handshake completes,
before a single byte of application data, so the token, is sent), and `check_pinned`/`verify_peer`
do the same check explicitly on an established connection, for any context.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import secrets
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from relay.errors import CertificateError

logger = logging.getLogger(__name__)

CERT_FILE: Final = "relay-cert.pem"
KEY_FILE: Final = "relay-key.pem"
COMMON_NAME: Final = "PitBox relay"
VALIDITY_DAYS: Final = 3650
BACKDATE_S: Final = 24 * 3600
"""The certificate is valid from a day before it was made, so a client whose clock lags accepts it."""
_FINGERPRINT_RE: Final = re.compile(r"[0-9a-fA-F]{64}")
_DNS_NAME_RE: Final = re.compile(r"[A-Za-z0-9*](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?\.?")


@dataclass(frozen=True, slots=True)
class CertificateFiles:
    """The relay's certificate and key (PEM files) and the certificate's fingerprint."""

    cert_path: Path
    key_path: Path
    fingerprint_sha256: str
    """SHA-256 of the DER certificate, 64 lowercase hex characters: what pairing strings carry."""


class PinMismatchError(CertificateError, ssl.SSLCertVerificationError):
    """The peer's certificate is not the pinned one (or there is none).

    Also an `ssl.SSLCertVerificationError` (hence an `OSError`), because the standard library
    expects a failed handshake to raise one: asyncio then aborts the connection cleanly and hands
    the error, unchanged, to whoever awaited it, and a blocking `SSLSocket` closes itself. The
    consequence: a reconnect loop that retries on `OSError` retries a pin mismatch too (safe: no
    application byte is sent to the wrong peer). To make it fatal, catch `CertificateError` first.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def fingerprint_of(der: bytes) -> str:
    """The SHA-256 of a DER certificate, lowercase hex."""
    return hashlib.sha256(der).hexdigest()


def normalise_fingerprint(fingerprint_sha256: str) -> str:
    """A fingerprint in lowercase hex; `CertificateError` unless it is 64 hex characters (colons allowed)."""
    if isinstance(fingerprint_sha256, str):
        compact = fingerprint_sha256.strip().replace(":", "")
        if _FINGERPRINT_RE.fullmatch(compact):
            return compact.lower()
    raise CertificateError("a certificate fingerprint is 64 hexadecimal characters (SHA-256)")


# ------------------------------------------------------------------------------------------------
# The certificate


def _subject_alt_names(hostnames: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for raw in hostnames:
        host = raw.strip()
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not host:
            continue
        try:
            entry: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            if not host.isascii() or not _DNS_NAME_RE.fullmatch(host):
                raise CertificateError(f"not an IP address or an ASCII DNS name: {host!r}") from None
            entry = x509.DNSName(host.lower())
        if entry not in names:
            names.append(entry)
    if not names:
        names.append(x509.DNSName("localhost"))
    return names


def _make_certificate(hostnames: Sequence[str]) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1 or 1)
        .not_valid_before(now - datetime.timedelta(seconds=BACKDATE_S))
        .not_valid_after(now + datetime.timedelta(days=VALIDITY_DAYS))
        .add_extension(x509.SubjectAlternativeName(_subject_alt_names(hostnames)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load(cert_path: Path, key_path: Path) -> CertificateFiles:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except OSError as exc:
        raise CertificateError(f"cannot read the relay certificate in {cert_path.parent}: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        raise CertificateError(
            f"the relay certificate or key in {cert_path.parent} is corrupt ({type(exc).__name__}); "
            f"delete {cert_path.name} and {key_path.name} to make a new one (clients must pair again)"
        ) from None
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        raise CertificateError(
            f"the key {key_path.name} does not belong to the certificate {cert_path.name} in {cert_path.parent}"
        )
    if key_path.stat().st_mode & 0o077:
        logger.warning("the relay's private key %s is readable by other users; tightening to 0600", key_path)
        key_path.chmod(0o600)
    return CertificateFiles(cert_path, key_path, fingerprint_of(cert.public_bytes(serialization.Encoding.DER)))


def ensure_certificate(directory: Path, hostnames: Sequence[str]) -> CertificateFiles:
    """The relay's certificate in `directory`, made on first call (EC P-256, 10 years), reused after.

    `hostnames` (DNS names and IP addresses) go into the SubjectAlternativeName of a new
    certificate; an existing one is reused as is, so the fingerprint (and every pairing string)
    stays valid. Raises `CertificateError` if only one of the two files exists, or they are unreadable.
    """
    directory = Path(directory)
    cert_path, key_path = directory / CERT_FILE, directory / KEY_FILE
    have_cert, have_key = cert_path.exists(), key_path.exists()
    if have_cert and have_key:
        files = _load(cert_path, key_path)
        logger.debug("reusing the relay certificate %s (sha256 %s)", cert_path, files.fingerprint_sha256)
        return files
    if have_cert or have_key:
        present, missing = (cert_path, key_path) if have_cert else (key_path, cert_path)
        raise CertificateError(
            f"{present.name} exists in {directory} but {missing.name} does not; "
            f"delete {present.name} to make a new certificate (clients must pair again)"
        )
    cert, key = _make_certificate(hostnames)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_atomic(key_path, key_pem, 0o600)
        _write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    except OSError as exc:
        raise CertificateError(f"cannot write the relay certificate in {directory}: {exc.strerror}") from None
    files = CertificateFiles(cert_path, key_path, fingerprint_of(cert.public_bytes(serialization.Encoding.DER)))
    logger.info("made a new relay certificate %s (sha256 %s)", cert_path, files.fingerprint_sha256)
    return files


# ------------------------------------------------------------------------------------------------
# Contexts and the pin


def server_ssl_context(files: CertificateFiles) -> ssl.SSLContext:
    """A server context serving the relay's certificate, TLS 1.2 or later."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(files.cert_path, files.key_path)
    except (OSError, ssl.SSLError) as exc:
        raise CertificateError(f"cannot load the relay certificate {files.cert_path}: {exc}") from None
    return context


def check_pinned(ssl_object: ssl.SSLObject | ssl.SSLSocket, fingerprint_sha256: str) -> None:
    """Raise `CertificateError` unless the peer's certificate has this SHA-256 fingerprint."""
    expected = normalise_fingerprint(fingerprint_sha256)
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        raise PinMismatchError("the relay presented no certificate")
    actual = fingerprint_of(der)
    if not hmac.compare_digest(actual, expected):
        raise PinMismatchError(
            f"the relay's certificate does not match the pairing string (expected sha256 {expected}, "
            f"got {actual}): it is another machine, or the relay made a new certificate; pair again"
        )


def verify_peer(connection: object, fingerprint_sha256: str) -> None:
    """`check_pinned` on an SSL object or socket, an asyncio transport, or anything with a `.transport`
    (a websockets connection). Raises `CertificateError` if the connection is not TLS."""
    ssl_object: Any = None
    if isinstance(connection, ssl.SSLObject | ssl.SSLSocket):
        ssl_object = connection
    else:
        target: Any = connection
        if not callable(getattr(target, "get_extra_info", None)):
            target = getattr(connection, "transport", None)
        get_extra_info = getattr(target, "get_extra_info", None)
        if callable(get_extra_info):
            ssl_object = get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        raise CertificateError("the connection is not encrypted with TLS, so there is no certificate to check")
    check_pinned(ssl_object, fingerprint_sha256)


def _pinned_classes(fingerprint: str) -> tuple[type[ssl.SSLObject], type[ssl.SSLSocket]]:
    class PinnedSSLObject(ssl.SSLObject):
        """asyncio's SSL object: the pin is checked the moment the handshake completes."""

        def do_handshake(self) -> None:
            super().do_handshake()
            check_pinned(self, fingerprint)

    class PinnedSSLSocket(ssl.SSLSocket):
        """A blocking socket's SSL wrapper: the same check."""

        def do_handshake(self, block: bool = False) -> None:
            super().do_handshake(block)
            check_pinned(self, fingerprint)

    return PinnedSSLObject, PinnedSSLSocket


def client_ssl_context(fingerprint_sha256: str) -> ssl.SSLContext:
    """A client context that trusts exactly the certificate with this fingerprint (see the module doc).

    No CA or host-name verification; the handshake fails with `CertificateError` (a
    `PinMismatchError`) unless the relay's certificate matches. Use one context per pinned relay.
    """
    fingerprint = normalise_fingerprint(fingerprint_sha256)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.sslobject_class, context.sslsocket_class = _pinned_classes(fingerprint)
    return context
