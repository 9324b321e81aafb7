"""Who may use the relay: invite tokens, their salted-hash store, rate limits and the pairing string.

A team member is invited once (`TokenStore.invite`) and receives one secret token,
`"<token_id>.<secret>"`. The `token_id` is a short public handle (shown in listings and logs, used
to revoke); the secret is never stored, logged or put in an exception message: the store keeps only
a per-token salted scrypt hash and `verify` compares hashes in constant time. A small in-memory
cache, keyed by the SHA-256 of tokens that verified, makes reconnects cheap; revoking clears it.

The pairing string (`encode_pairing`) is the one thing a team member pastes (or scans as a QR
code) to reach the relay: `pitbox://HOST:PORT/?t=TOKEN&fp=FINGERPRINT`, where the fingerprint pins
the relay's self-signed TLS certificate (see `relay.tls`).

`RateLimiter` and `AuthAttempts` are pure (time is passed in) so the server can throttle messages
and lock out remotes that keep guessing tokens.
"""

from __future__ import annotations

import builtins
import collections
import hashlib
import hmac
import io
import ipaddress
import json
import logging
import math
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, quote, urlsplit

import segno

from relay.errors import PairingError, TokenStoreError
from relay.protocol import Role

logger = logging.getLogger(__name__)

STORE_FORMAT: Final = 1
"""Version of the token store's JSON layout."""
MAX_TOKEN_CHARS: Final = 256
"""Longer input is refused by `verify` before any work is done."""
MAX_NAME_CHARS: Final = 64
MAX_CAR_ID: Final = 65535
TOKEN_ID_BYTES: Final = 4
"""The public token id: 8 lowercase hex characters."""
SECRET_BYTES: Final = 24
"""The secret part: `secrets.token_urlsafe(24)`, 32 characters, 192 bits."""
SALT_BYTES: Final = 16
SCRYPT_N: Final = 2**14
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
SCRYPT_DKLEN: Final = 32
CACHE_SIZE: Final = 1024
"""Verified tokens remembered (by SHA-256) so a reconnect skips scrypt."""

_TOKEN_ID_RE: Final = re.compile(r"[0-9a-f]{8}")
_TOKEN_RE: Final = re.compile(r"([0-9a-f]{8})\.([A-Za-z0-9_-]{16,200})")
_TOKEN_CHARS_RE: Final = re.compile(r"[A-Za-z0-9._~-]+")
_HEX64_RE: Final = re.compile(r"[0-9a-fA-F]{64}")
_LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME_RE: Final = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?")


# ------------------------------------------------------------------------------------------------
# Identities and the token store


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a verified token belongs to. `car_id` is the one car a driver may publish; None otherwise."""

    name: str
    role: Role
    car_id: int | None
    token_id: str
    """The public handle of the invite (not the secret)."""


@dataclass(frozen=True, slots=True)
class Invite:
    """One entry of `TokenStore.list()`: the identity, when it was invited, whether it is revoked."""

    identity: Identity
    created_s: float
    revoked: bool


@dataclass(frozen=True, slots=True)
class _Record:
    identity: Identity
    created_s: float
    revoked: bool
    salt: bytes = field(repr=False)
    digest: bytes = field(repr=False)
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P

    def to_json(self) -> dict[str, Any]:
        return {
            "token_id": self.identity.token_id,
            "name": self.identity.name,
            "role": self.identity.role.value,
            "car_id": self.identity.car_id,
            "created_s": self.created_s,
            "revoked": self.revoked,
            "kdf": {"name": "scrypt", "n": self.n, "r": self.r, "p": self.p},
            "salt": self.salt.hex(),
            "hash": self.digest.hex(),
        }

    @staticmethod
    def from_json(raw: object) -> _Record:
        if not isinstance(raw, Mapping):
            raise TypeError("an invite is not an object")
        kdf = raw["kdf"]
        if not isinstance(kdf, Mapping) or kdf.get("name") != "scrypt":
            raise ValueError("unknown key derivation")
        token_id, name, car_id = raw["token_id"], raw["name"], raw["car_id"]
        if not isinstance(token_id, str) or not _TOKEN_ID_RE.fullmatch(token_id):
            raise ValueError("bad token id")
        if not isinstance(name, str):
            raise TypeError("bad name")
        if car_id is not None and (not isinstance(car_id, int) or isinstance(car_id, bool)):
            raise TypeError("bad car id")
        n, r, p = (kdf[key] for key in ("n", "r", "p"))
        if not all(isinstance(v, int) and 0 < v <= 2**20 for v in (n, r, p)):
            raise ValueError("bad scrypt parameters")
        revoked, created_s = raw["revoked"], raw["created_s"]
        if not isinstance(revoked, bool) or not isinstance(created_s, int | float):
            raise TypeError("bad revoked flag or creation time")
        return _Record(
            identity=Identity(name=name, role=Role(raw["role"]), car_id=car_id, token_id=token_id),
            created_s=float(created_s),
            revoked=revoked,
            salt=bytes.fromhex(raw["salt"]),
            digest=bytes.fromhex(raw["hash"]),
            n=n,
            r=r,
            p=p,
        )


def _hash_secret(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret.encode("ascii"), salt=salt, n=n, r=r, p=p, dklen=SCRYPT_DKLEN, maxmem=256 * n * r + 2**20
    )


def _validate_invite(name: str, role: Role, car_id: int | None) -> tuple[str, Role]:
    if not isinstance(name, str) or not name.strip():
        raise TokenStoreError("an invite needs a non-empty name")
    name = name.strip()
    if len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise TokenStoreError(f"an invite name must be printable and at most {MAX_NAME_CHARS} characters")
    try:
        role = Role(role)
    except ValueError:
        raise TokenStoreError(f"unknown role (expected one of: {', '.join(r.value for r in Role)})") from None
    if role is Role.DRIVER:
        if car_id is None:
            raise TokenStoreError("a driver invite needs the car id the driver publishes")
        if not isinstance(car_id, int) or isinstance(car_id, bool) or not 0 <= car_id <= MAX_CAR_ID:
            raise TokenStoreError(f"a car id is an integer in 0..{MAX_CAR_ID}")
    elif car_id is not None:
        raise TokenStoreError(f"a {role.value} invite has no car id (only drivers publish a car)")
    return name, role


class TokenStore:
    """Invites persisted in one JSON file (mode 0o600, written atomically), tokens kept only as hashes.

    The file is re-read when it changes on disk, so an invite or revocation made by another process
    (the command line, while the relay runs) takes effect on the next `verify`. Safe to call from
    several threads (the server may verify in an executor so scrypt does not block its event loop).
    """

    __slots__ = ("_cache", "_lock", "_path", "_records", "_stamp")

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        self._records: dict[str, _Record] = {}
        self._stamp: tuple[int, int] | None = None
        self._cache: collections.OrderedDict[bytes, str] = collections.OrderedDict()
        with self._lock:
            self._refresh()

    def __repr__(self) -> str:
        return f"TokenStore({str(self._path)!r})"

    @property
    def path(self) -> Path:
        return self._path

    # --- public API ------------------------------------------------------------------------------

    def invite(self, name: str, role: Role, car_id: int | None = None, *, now_s: float) -> tuple[Identity, str]:
        """Create an invite; returns its identity and the secret token (shown once, never stored)."""
        name, role = _validate_invite(name, role, car_id)
        secret = secrets.token_urlsafe(SECRET_BYTES)
        salt = secrets.token_bytes(SALT_BYTES)
        digest = _hash_secret(secret, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        with self._lock:
            self._refresh()
            token_id = secrets.token_hex(TOKEN_ID_BYTES)
            while token_id in self._records:
                token_id = secrets.token_hex(TOKEN_ID_BYTES)
            identity = Identity(name=name, role=role, car_id=car_id, token_id=token_id)
            record = _Record(identity=identity, created_s=float(now_s), revoked=False, salt=salt, digest=digest)
            records = dict(self._records)
            records[token_id] = record
            self._save(records)
        logger.info("invited %s as %s (car %s, token id %s)", name, role.value, car_id, token_id)
        return identity, f"{token_id}.{secret}"

    def verify(self, token: object) -> Identity | None:
        """The identity of a valid, unrevoked token; None for anything else. Never raises on bad input."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            logger.debug("token refused: not a string of 1..%d characters", MAX_TOKEN_CHARS)
            return None
        match = _TOKEN_RE.fullmatch(token)
        if match is None:
            logger.debug("token refused: malformed")
            return None
        token_id, secret = match.group(1), match.group(2)
        key = hashlib.sha256(token.encode("ascii")).digest()
        with self._lock:
            try:
                self._refresh()
            except TokenStoreError:
                logger.exception("token store unreadable; keeping the invites loaded before")
            record = self._records.get(token_id)
            if record is None or record.revoked:
                logger.debug("token refused: token id %s unknown or revoked", token_id)
                return None
            if self._cache.get(key) == token_id:
                self._cache.move_to_end(key)
                return record.identity
        digest = _hash_secret(secret, record.salt, record.n, record.r, record.p)
        if not hmac.compare_digest(digest, record.digest):
            logger.debug("token refused: wrong secret for token id %s", token_id)
            return None
        with self._lock:
            current = self._records.get(token_id)
            if current is None or current.revoked or current.digest != record.digest:
                return None  # revoked while we were hashing
            self._cache[key] = token_id
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        logger.debug("token verified: %s (token id %s)", record.identity.name, token_id)
        return record.identity

    def revoke(self, name_or_token_id: str) -> int:
        """Revoke every live invite with this token id or name; returns how many were revoked."""
        with self._lock:
            self._refresh()
            hits = [
                record
                for record in self._records.values()
                if not record.revoked and name_or_token_id in (record.identity.token_id, record.identity.name)
            ]
            if hits:
                records = dict(self._records)
                for record in hits:
                    records[record.identity.token_id] = _Record(
                        identity=record.identity,
                        created_s=record.created_s,
                        revoked=True,
                        salt=record.salt,
                        digest=record.digest,
                        n=record.n,
                        r=record.r,
                        p=record.p,
                    )
                self._save(records)
                revoked_ids = {record.identity.token_id for record in hits}
                for key in [k for k, v in self._cache.items() if v in revoked_ids]:
                    del self._cache[key]
        for record in hits:
            logger.info("revoked %s (token id %s)", record.identity.name, record.identity.token_id)
        return len(hits)

    def list(self) -> list[Invite]:
        """Every invite, live or revoked, oldest first."""
        with self._lock:
            self._refresh()
            records = sorted(self._records.values(), key=lambda r: (r.created_s, r.identity.token_id))
        return [Invite(identity=r.identity, created_s=r.created_s, revoked=r.revoked) for r in records]

    def __iter__(self) -> Iterator[Invite]:
        return iter(self.list())

    def roster(self, car_id: int) -> builtins.list[str]:
        """The drivers paired to a car (live invites), oldest invite first, each name once."""
        names = (
            i.identity.name
            for i in self.list()
            if not i.revoked and i.identity.role is Role.DRIVER and i.identity.car_id == car_id
        )
        return list(dict.fromkeys(names))

    # --- persistence (call with the lock held) -------------------------------------------------------

    def _refresh(self) -> None:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            if self._stamp is not None:
                self._records, self._stamp = {}, None
                self._cache.clear()
            return
        except OSError as exc:
            raise TokenStoreError(f"cannot read the token store {self._path}: {exc.strerror}") from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        try:
            raw = json.loads(self._path.read_bytes())
            if not isinstance(raw, Mapping) or raw.get("format") != STORE_FORMAT:
                raise ValueError("not a PitBox token store (or an unknown format version)")
            invites = raw["invites"]
            if not isinstance(invites, list):
                raise TypeError("invites is not a list")
            records = {rec.identity.token_id: rec for rec in map(_Record.from_json, invites)}
        except OSError as exc:
            raise TokenStoreError(f"cannot read the token store {self._path}: {exc.strerror}") from None
        except (ValueError, TypeError, KeyError) as exc:
            raise TokenStoreError(f"the token store {self._path} is corrupt ({type(exc).__name__})") from None
        self._records, self._stamp = records, stamp
        self._cache.clear()
        logger.debug("loaded %d invites from %s", len(records), self._path)

    def _save(self, records: dict[str, _Record]) -> None:
        body = {"format": STORE_FORMAT, "invites": [record.to_json() for record in records.values()]}
        data = json.dumps(body, indent=2, sort_keys=True).encode("utf-8") + b"\n"
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(prefix=f".{self._path.name}.", suffix=".tmp", dir=self._path.parent)
        except OSError as exc:
            raise TokenStoreError(f"cannot write the token store {self._path}: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), 0o600)
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self._path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise TokenStoreError(f"cannot write the token store {self._path}: {exc.strerror}") from None
        stat = self._path.stat()
        self._records, self._stamp = records, (stat.st_mtime_ns, stat.st_size)


# ------------------------------------------------------------------------------------------------
# Throttling (pure: the caller passes the time)


class RateLimiter:
    """A token bucket: `burst` units at once, refilled at `rate_per_s`. Pure: time is passed in."""

    __slots__ = ("_last_s", "_level", "burst", "rate_per_s")

    def __init__(self, rate_per_s: float, burst: float) -> None:
        if not (math.isfinite(rate_per_s) and rate_per_s > 0 and math.isfinite(burst) and burst > 0):
            raise ValueError("rate_per_s and burst must be finite and positive")
        self.rate_per_s = float(rate_per_s)
        self.burst = float(burst)
        self._level = float(burst)
        self._last_s: float | None = None

    def allow(self, now_s: float, cost: float = 1.0) -> bool:
        """Spend `cost` units if the bucket holds them; a refused call spends nothing."""
        if self._last_s is not None and now_s > self._last_s:
            self._level = min(self.burst, self._level + (now_s - self._last_s) * self.rate_per_s)
        if self._last_s is None or now_s > self._last_s:
            self._last_s = now_s
        if cost <= self._level:
            self._level -= cost
            return True
        return False

    @property
    def level(self) -> float:
        """Units left after the last call (without refill since then)."""
        return self._level


class AuthAttempts:
    """Failed authentications per remote address; a remote with too many is blocked for a while.

    `max_failures` failures within `window_s` block the remote for `block_s`. Pure: time is passed
    in. At most `max_remotes` addresses are tracked (the stalest are forgotten first).
    """

    __slots__ = ("_blocked_until", "_failures", "block_s", "max_failures", "max_remotes", "total_failures", "window_s")

    def __init__(
        self, max_failures: int = 5, window_s: float = 60.0, block_s: float = 60.0, *, max_remotes: int = 10_000
    ) -> None:
        if max_failures < 1 or window_s <= 0 or block_s <= 0 or max_remotes < 1:
            raise ValueError("max_failures, window_s, block_s and max_remotes must be positive")
        self.max_failures = max_failures
        self.window_s = window_s
        self.block_s = block_s
        self.max_remotes = max_remotes
        self.total_failures = 0
        self._failures: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()
        self._blocked_until: dict[str, float] = {}

    def failed(self, remote: str, now_s: float) -> None:
        """Record one failed authentication from `remote`."""
        self.total_failures += 1
        times = self._failures.pop(remote, None) or collections.deque()
        times.append(now_s)
        while times and times[0] <= now_s - self.window_s:
            times.popleft()
        if len(times) >= self.max_failures:
            self._blocked_until[remote] = now_s + self.block_s
            times.clear()
            logger.warning(
                "blocking %s for %.0f s after %d failed authentications", remote, self.block_s, self.max_failures
            )
        self._failures[remote] = times
        while len(self._failures) > self.max_remotes:
            self._failures.popitem(last=False)
        if len(self._blocked_until) > self.max_remotes:
            self._blocked_until = {r: t for r, t in self._blocked_until.items() if t > now_s}

    def succeeded(self, remote: str) -> None:
        """Forget the failures of `remote` (does not lift a block)."""
        self._failures.pop(remote, None)

    def blocked(self, remote: str, now_s: float) -> bool:
        """Whether `remote` is blocked at `now_s`."""
        until = self._blocked_until.get(remote)
        if until is None:
            return False
        if now_s >= until:
            del self._blocked_until[remote]
            return False
        return True


# ------------------------------------------------------------------------------------------------
# The pairing string

SCHEME_TLS: Final = "pitbox"
SCHEME_INSECURE: Final = "pitbox+insecure"
MAX_PAIRING_CHARS: Final = 2048


@dataclass(frozen=True, slots=True)
class PairingInfo:
    """Everything a client needs to reach and trust the relay. The token is kept out of the repr."""

    host: str
    port: int
    token: str = field(repr=False)
    fingerprint_sha256: str = ""
    """Lowercase hex SHA-256 of the relay's certificate (64 characters); empty without TLS."""
    tls: bool = True


def _normalise_host(host: str) -> str:
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not host.isascii() or not _HOSTNAME_RE.fullmatch(host):
        raise PairingError("the host is neither an IP address nor a valid host name")
    return host.lower()


def _check_token(token: object) -> str:
    if not isinstance(token, str) or not token:
        raise PairingError("the pairing string has no token (t=...)")
    if len(token) > MAX_TOKEN_CHARS or not _TOKEN_CHARS_RE.fullmatch(token):
        raise PairingError(f"the token must be 1..{MAX_TOKEN_CHARS} URL-safe characters")
    return token


def _check_fingerprint(fingerprint: object) -> str:
    if not isinstance(fingerprint, str) or not _HEX64_RE.fullmatch(fingerprint):
        raise PairingError("the certificate fingerprint (fp=...) must be 64 hexadecimal characters")
    return fingerprint.lower()


def _check_port(port: object) -> int:
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise PairingError("the port must be an integer in 1..65535")
    return port


def encode_pairing(info: PairingInfo) -> str:
    """One copy-pasteable string: `pitbox://HOST:PORT/?t=TOKEN&fp=HEX` (`pitbox+insecure://` without TLS)."""
    host = _normalise_host(info.host)
    if ":" in host:
        host = f"[{host}]"
    port = _check_port(info.port)
    token = quote(_check_token(info.token), safe="")
    if not info.tls:
        return f"{SCHEME_INSECURE}://{host}:{port}/?t={token}"
    return f"{SCHEME_TLS}://{host}:{port}/?t={token}&fp={_check_fingerprint(info.fingerprint_sha256)}"


def decode_pairing(text: object) -> PairingInfo:
    """Parse a pairing string; anything malformed raises `PairingError` (whose message never echoes it)."""
    if not isinstance(text, str):
        raise PairingError("a pairing string is text")
    text = text.strip()
    if not text:
        raise PairingError("the pairing string is empty")
    if len(text) > MAX_PAIRING_CHARS:
        raise PairingError(f"the pairing string is longer than {MAX_PAIRING_CHARS} characters")
    if not text.isascii() or not text.isprintable():
        raise PairingError("the pairing string may hold only printable ASCII characters")
    try:
        parts = urlsplit(text)
    except ValueError:
        raise PairingError("the pairing string is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in (SCHEME_TLS, SCHEME_INSECURE):
        raise PairingError(f"a pairing string starts with {SCHEME_TLS}:// or {SCHEME_INSECURE}://")
    if parts.username is not None or parts.password is not None:
        raise PairingError("the pairing string must not carry a user name or password")
    if parts.path not in ("", "/") or parts.fragment:
        raise PairingError("the pairing string has an unexpected path or fragment")
    if not parts.hostname:
        raise PairingError("the pairing string has no host")
    try:
        port = parts.port
    except ValueError:
        raise PairingError("the port must be an integer in 1..65535") from None
    if port is None:
        raise PairingError("the pairing string has no port (HOST:PORT)")
    host = _normalise_host(parts.hostname)
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query), max_num_fields=8)
    except ValueError:
        raise PairingError("the pairing string's query (?t=...&fp=...) is malformed") from None
    if set(query) - {"t", "fp"}:
        raise PairingError("the pairing string has unknown fields (only t and fp are allowed)")
    if any(len(values) != 1 for values in query.values()):
        raise PairingError("the pairing string repeats a field")
    token = _check_token(query.get("t", [""])[0])
    tls = scheme == SCHEME_TLS
    if tls:
        fingerprint = _check_fingerprint(query.get("fp", [""])[0])
    elif "fp" in query:
        raise PairingError(f"a {SCHEME_INSECURE}:// pairing string has no certificate fingerprint")
    else:
        fingerprint = ""
    return PairingInfo(host=host, port=_check_port(port), token=token, fingerprint_sha256=fingerprint, tls=tls)


def pairing_qr_text(text: str) -> str:
    """The pairing string as a QR code drawn with terminal characters (for `pitbox-relay invite`)."""
    buffer = io.StringIO()
    segno.make_qr(text, error="m").terminal(out=buffer, compact=True)
    return buffer.getvalue()
