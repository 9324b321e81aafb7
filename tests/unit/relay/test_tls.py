"""The relay's self-signed certificate and the TLS contexts (`relay.tls`), without a network."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from relay.errors import CertificateError, RelayError
from relay.tls import (
    CERT_FILE,
    KEY_FILE,
    CertificateFiles,
    check_pinned,
    client_ssl_context,
    ensure_certificate,
    normalise_fingerprint,
    server_ssl_context,
    verify_peer,
)

HOSTS = ["relay-pc.local", "localhost", "192.168.1.20", "::1", "[fe80::2]"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    return ensure_certificate(tmp_path_factory.mktemp("tls") / "certs", HOSTS)


def _cert(files: CertificateFiles) -> x509.Certificate:
    return x509.load_pem_x509_certificate(files.cert_path.read_bytes())


def test_certificate_is_created_once_and_reused(tmp_path: Path) -> None:
    first = ensure_certificate(tmp_path, ["localhost"])
    pem = first.cert_path.read_bytes()
    key = first.key_path.read_bytes()
    again = ensure_certificate(tmp_path, ["other-name.local", "10.0.0.1"])
    assert again == first
    assert first.cert_path.read_bytes() == pem and first.key_path.read_bytes() == key
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([CERT_FILE, KEY_FILE])  # no temp files
    fresh = ensure_certificate(tmp_path / "elsewhere", ["localhost"])
    assert fresh.fingerprint_sha256 != first.fingerprint_sha256


def test_file_modes(files: CertificateFiles) -> None:
    assert stat.S_IMODE(files.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.cert_path.stat().st_mode) == 0o644
    assert stat.S_IMODE(files.cert_path.parent.stat().st_mode) & 0o077 == 0


def test_fingerprint_is_sha256_of_the_der(files: CertificateFiles) -> None:
    der = _cert(files).public_bytes(serialization.Encoding.DER)
    assert files.fingerprint_sha256 == hashlib.sha256(der).hexdigest()
    assert len(files.fingerprint_sha256) == 64 and files.fingerprint_sha256 == files.fingerprint_sha256.lower()
    assert ssl.PEM_cert_to_DER_cert(files.cert_path.read_text(encoding="ascii")) == der


def test_subject_alternative_names_hold_the_names_and_addresses(files: CertificateFiles) -> None:
    san = _cert(files).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["relay-pc.local", "localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("192.168.1.20"),
        ipaddress.ip_address("::1"),
        ipaddress.ip_address("fe80::2"),
    ]


def test_certificate_fields(files: CertificateFiles) -> None:
    cert = _cert(files)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "PitBox relay"
    assert cert.issuer == cert.subject
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert datetime.timedelta(days=3650) <= lifetime <= datetime.timedelta(days=3652)
    assert cert.not_valid_before_utc < datetime.datetime.now(datetime.UTC)
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    key = serialization.load_pem_private_key(files.key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)


def test_no_hostnames_gives_localhost(tmp_path: Path) -> None:
    files = ensure_certificate(tmp_path, [])
    san = _cert(files).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]


def test_bad_hostname_is_a_certificate_error(tmp_path: Path) -> None:
    with pytest.raises(CertificateError):
        ensure_certificate(tmp_path, ["bad name!"])
    assert not any(tmp_path.iterdir())


def test_missing_or_corrupt_files_are_typed_errors(tmp_path: Path) -> None:
    files = ensure_certificate(tmp_path, ["localhost"])
    key = files.key_path.read_bytes()
    files.key_path.unlink()
    with pytest.raises(CertificateError, match=KEY_FILE):
        ensure_certificate(tmp_path, ["localhost"])
    files.key_path.write_bytes(b"garbage")
    with pytest.raises(CertificateError, match="corrupt"):
        ensure_certificate(tmp_path, ["localhost"])
    other = ensure_certificate(tmp_path / "other", ["localhost"])
    files.key_path.write_bytes(other.key_path.read_bytes())
    with pytest.raises(CertificateError, match="does not belong"):
        ensure_certificate(tmp_path, ["localhost"])
    files.key_path.write_bytes(key)
    assert ensure_certificate(tmp_path, ["localhost"]) == files
    assert issubclass(CertificateError, RelayError)


def test_loose_key_permissions_are_tightened(tmp_path: Path) -> None:
    files = ensure_certificate(tmp_path, ["localhost"])
    files.key_path.chmod(0o644)
    ensure_certificate(tmp_path, ["localhost"])
    assert stat.S_IMODE(files.key_path.stat().st_mode) == 0o600


def test_server_context(files: CertificateFiles) -> None:
    context = server_ssl_context(files)
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert context.protocol == ssl.PROTOCOL_TLS_SERVER


def test_client_context_pins_instead_of_trusting_cas(files: CertificateFiles) -> None:
    context = client_ssl_context(files.fingerprint_sha256.upper())
    assert context.verify_mode == ssl.CERT_NONE
    assert not context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


@pytest.mark.parametrize("bad", ["", "abc", "g" * 64, "a" * 63, "a" * 65])
def test_client_context_refuses_a_malformed_fingerprint(bad: str) -> None:
    with pytest.raises(CertificateError, match="64 hexadecimal"):
        client_ssl_context(bad)


def test_normalise_fingerprint_accepts_colons_and_upper_case() -> None:
    fp = "ab" * 32
    assert normalise_fingerprint(":".join(["AB"] * 32)) == fp
    assert normalise_fingerprint(f" {fp.upper()} ") == fp


class _FakeSSL:
    def __init__(self, der: bytes | None) -> None:
        self.der = der

    def getpeercert(self, binary_form: bool = False) -> bytes | None:
        assert binary_form
        return self.der


def test_check_pinned_compares_the_der_fingerprint(files: CertificateFiles) -> None:
    der = _cert(files).public_bytes(serialization.Encoding.DER)
    check_pinned(_FakeSSL(der), files.fingerprint_sha256)  # type: ignore[arg-type]
    with pytest.raises(CertificateError, match="does not match"):
        check_pinned(_FakeSSL(der), "0" * 64)  # type: ignore[arg-type]
    with pytest.raises(CertificateError, match="no certificate"):
        check_pinned(_FakeSSL(None), files.fingerprint_sha256)  # type: ignore[arg-type]


def test_verify_peer_refuses_a_connection_without_tls() -> None:
    class PlainTransport:
        def get_extra_info(self, name: str) -> object:
            return None

    class Connection:
        transport = PlainTransport()

    for connection in (PlainTransport(), Connection(), object()):
        with pytest.raises(CertificateError, match="not encrypted"):
            verify_peer(connection, "0" * 64)
