"""The relay's durable spool: everything it acknowledges, on disk, in order, before anything else.

One SQLite file in WAL mode holds:

- `records(seq, key, kind, car_id, batch_seq, created_s, payload)`: `seq` (AUTOINCREMENT) is the
  spool order; `key` is the idempotency key (`t:{car_id}:{batch_seq}` for a telemetry batch,
  `m:{message_id}` for a team message, ...). Appending a key that is already there is a no-op that
  returns the existing `seq`, so a batch a driver app resends is stored (and forwarded) once.
- `cursors(sink, seq)`: how far each sink has forwarded (`read` after it, `commit` moves it).
- `car_seqs(car_id, batch_seq)`: the last telemetry batch seq appended per car; it survives
  `prune`, so a restarted relay knows where each car's numbering stands.
- `meta`: format version and, when a key is configured, a key check value.

Durability: every append is one transaction committed with `synchronous=FULL`, so when `append`
returns the record is in the WAL and the WAL is fsynced: neither a killed process (SIGKILL) nor a
power cut loses it. (`NORMAL` in WAL mode would survive a killed process but not a power cut:
"acknowledged" would not mean durable.)

Encryption at rest: with a 32-byte `key`, each payload is sealed with AES-256-GCM (a random 12-byte
nonce stored in front of the ciphertext, the record's idempotency key as associated data, so a
payload cannot be moved to another record). Keys, kinds, car ids and times stay in clear: the
forwarders need them to route and order. Opening with the wrong key, or without the key a spool was
written with, is a `SpoolError`.

Threads: a `Spool` belongs to the thread that opened it (the relay's asyncio thread). Every call is
one short transaction (an append costs one fsync, typically well under a few milliseconds), so the
relay calls it directly from the event loop rather than through an executor.
"""

from __future__ import annotations

import enum
import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from relay.errors import SpoolError

logger = logging.getLogger(__name__)

SPOOL_FORMAT: Final = 1
KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
MAX_KEY_CHARS: Final = 256
_KEY_CHECK_PLAINTEXT: Final = b"pitbox-spool-key-check"
_KEY_CHECK_AAD: Final = b"meta:key_check"

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('telemetry', 'control')),
    car_id INTEGER,
    batch_seq INTEGER,
    created_s REAL NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (sink TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS car_seqs (car_id INTEGER PRIMARY KEY, batch_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
"""


class RecordKind(enum.StrEnum):
    TELEMETRY = "telemetry"
    """A binary telemetry batch exactly as the driver app sent it."""
    CONTROL = "control"
    """A JSON control message (UTF-8)."""


def telemetry_key(car_id: int, batch_seq: int) -> str:
    """The idempotency key of a telemetry batch."""
    return f"t:{car_id}:{batch_seq}"


def message_key(message_id: str) -> str:
    """The idempotency key of a team message."""
    return f"m:{message_id}"


def _batch_seq_of(key: str) -> int | None:
    """The batch seq in a telemetry key `t:{car_id}:{seq}` (None if the key has another form)."""
    parts = key.split(":")
    if len(parts) == 3 and parts[0] == "t" and parts[2].isdigit():
        return int(parts[2])
    return None


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    """A record to append (`created_s` None: now)."""

    key: str
    kind: RecordKind
    car_id: int | None
    payload: bytes
    created_s: float | None = None
    batch_seq: int | None = None
    """For telemetry: the batch's seq (None: taken from a `t:{car_id}:{seq}` key)."""


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    """A record read back (payload decrypted)."""

    seq: int
    key: str
    kind: RecordKind
    car_id: int | None
    batch_seq: int | None
    created_s: float
    payload: bytes


class Spool:
    """The durable, ordered, idempotent record store with one cursor per sink (see the module docstring).

    `max_records`: when set, `prune` also drops the oldest records beyond that many even if a sink has
    not forwarded them (a bound on disk use during a very long outage; logged as a warning). None
    (the default) never drops an unforwarded record.
    """

    def __init__(self, path: Path, *, key: bytes | None = None, max_records: int | None = None) -> None:
        if key is not None and (not isinstance(key, bytes) or len(key) != KEY_BYTES):
            raise SpoolError(f"a spool key is {KEY_BYTES} bytes")
        if max_records is not None and max_records < 1:
            raise SpoolError("max_records must be at least 1")
        self.path = Path(path)
        self.max_records = max_records
        self._aead = AESGCM(key) if key is not None else None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
        except (OSError, sqlite3.Error) as exc:
            raise SpoolError(f"cannot open the spool {self.path}: {exc}") from exc
        try:
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise SpoolError(f"the spool {self.path} cannot use WAL mode (got {mode})")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._check_meta()
        except sqlite3.Error as exc:
            self._db.close()
            raise SpoolError(f"cannot open the spool {self.path}: {exc}") from exc
        except SpoolError:
            self._db.close()
            raise
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Checkpoint the WAL and close the file (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:  # the data is safe in the WAL; the next open checkpoints it
            logger.warning("spool checkpoint on close failed: %s", exc)
        finally:
            self._db.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def encrypted(self) -> bool:
        return self._aead is not None

    # ------------------------------------------------------------------ writing

    def append(
        self,
        key: str,
        kind: str,
        car_id: int | None,
        payload: bytes,
        created_s: float | None = None,
        *,
        batch_seq: int | None = None,
    ) -> int:
        """Store one record durably and return its spool seq (an existing key: its seq, nothing stored)."""
        entry = SpoolEntry(key, _kind(kind), car_id, bytes(payload), created_s, batch_seq)
        return self.append_many([entry])[0]

    def append_many(self, entries: Sequence[SpoolEntry]) -> list[int]:
        """Store records in one transaction (all or none); their seqs, in order."""
        now = time.time()
        seqs: list[int] = []
        with self._transaction("append to"):
            for entry in entries:
                seqs.append(self._append_one(entry, now))
        return seqs

    def _append_one(self, entry: SpoolEntry, now: float) -> int:
        if not entry.key or len(entry.key) > MAX_KEY_CHARS:
            raise SpoolError(f"a record key is 1 to {MAX_KEY_CHARS} characters")
        kind = _kind(entry.kind)
        row = self._db.execute("SELECT seq FROM records WHERE key = ?", (entry.key,)).fetchone()
        if row is not None:
            logger.debug("spool: %s already stored as seq %d", entry.key, row[0])
            return int(row[0])
        batch_seq = entry.batch_seq
        if batch_seq is None and kind is RecordKind.TELEMETRY:
            batch_seq = _batch_seq_of(entry.key)
        created_s = now if entry.created_s is None else float(entry.created_s)
        cursor = self._db.execute(
            "INSERT INTO records (key, kind, car_id, batch_seq, created_s, payload) VALUES (?, ?, ?, ?, ?, ?)",
            (entry.key, kind.value, entry.car_id, batch_seq, created_s, self._seal(entry.key, entry.payload)),
        )
        if kind is RecordKind.TELEMETRY and entry.car_id is not None and batch_seq is not None:
            self._db.execute(
                "INSERT INTO car_seqs (car_id, batch_seq) VALUES (?, ?) "
                "ON CONFLICT(car_id) DO UPDATE SET batch_seq = excluded.batch_seq",
                (entry.car_id, batch_seq),
            )
        seq = cursor.lastrowid
        if seq is None:  # pragma: no cover - sqlite always sets it after an INSERT
            raise SpoolError("the spool did not assign a seq")
        return int(seq)

    # ------------------------------------------------------------------ sinks

    def register_sink(self, sink: str) -> None:
        """Give `sink` a cursor (at the start) if it has none: `prune` keeps what it has not passed."""
        with self._transaction("register a sink in"):
            self._db.execute("INSERT OR IGNORE INTO cursors (sink, seq) VALUES (?, 0)", (sink,))

    def sinks(self) -> dict[str, int]:
        """Every registered sink and its cursor."""
        rows = self._query("SELECT sink, seq FROM cursors ORDER BY sink", ())
        return {str(name): int(seq) for name, seq in rows}

    def cursor(self, sink: str) -> int:
        """The last seq `sink` committed (0: none; an unregistered sink reads from the start)."""
        rows = self._query("SELECT seq FROM cursors WHERE sink = ?", (sink,))
        return int(rows[0][0]) if rows else 0

    def read(self, sink: str, limit: int) -> list[SpoolRecord]:
        """Up to `limit` records after `sink`'s cursor, in spool order (payloads decrypted)."""
        if limit < 1:
            raise SpoolError("read at least one record")
        rows = self._query(
            "SELECT seq, key, kind, car_id, batch_seq, created_s, payload FROM records "
            "WHERE seq > ? ORDER BY seq LIMIT ?",
            (self.cursor(sink), limit),
        )
        return [
            SpoolRecord(
                seq=int(seq),
                key=str(key),
                kind=RecordKind(kind),
                car_id=None if car_id is None else int(car_id),
                batch_seq=None if batch_seq is None else int(batch_seq),
                created_s=float(created_s),
                payload=self._open(str(key), bytes(payload)),
            )
            for seq, key, kind, car_id, batch_seq, created_s, payload in rows
        ]

    def commit(self, sink: str, seq: int) -> None:
        """`sink` has forwarded everything up to `seq` (a cursor never moves back)."""
        with self._transaction("commit a cursor in"):
            row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'records'").fetchone()
            last = int(row[0]) if row else 0
            if not 0 <= seq <= last:
                raise SpoolError(f"cannot commit seq {seq}: the spool's last seq is {last}")
            self._db.execute(
                "INSERT INTO cursors (sink, seq) VALUES (?, ?) "
                "ON CONFLICT(sink) DO UPDATE SET seq = max(seq, excluded.seq)",
                (sink, seq),
            )

    def pending(self, sink: str) -> int:
        """How many records `sink` has not forwarded yet."""
        rows = self._query("SELECT count(*) FROM records WHERE seq > ?", (self.cursor(sink),))
        return int(rows[0][0])

    def last_batch_seq(self, car_id: int) -> int | None:
        """The seq of the last telemetry batch appended for `car_id` (None: never), even after pruning."""
        rows = self._query("SELECT batch_seq FROM car_seqs WHERE car_id = ?", (car_id,))
        return int(rows[0][0]) if rows else None

    def __len__(self) -> int:
        return int(self._query("SELECT count(*) FROM records", ())[0][0])

    def prune(self) -> int:
        """Delete the records every registered sink has passed (and, with `max_records`, the oldest
        beyond that bound); returns how many were deleted. No registered sink: nothing is deleted."""
        with self._transaction("prune"):
            row = self._db.execute("SELECT min(seq) FROM cursors").fetchone()
            deleted = 0
            if row is not None and row[0] is not None:
                deleted += self._db.execute("DELETE FROM records WHERE seq <= ?", (int(row[0]),)).rowcount
            if self.max_records is not None:
                excess = int(self._db.execute("SELECT count(*) FROM records").fetchone()[0]) - self.max_records
                if excess > 0:
                    dropped = self._db.execute(
                        "DELETE FROM records WHERE seq IN (SELECT seq FROM records ORDER BY seq LIMIT ?)", (excess,)
                    ).rowcount
                    logger.warning(
                        "spool over %d records: dropped the %d oldest unforwarded", self.max_records, dropped
                    )
                    deleted += dropped
        return deleted

    # ------------------------------------------------------------------ internals

    @contextmanager
    def _transaction(self, what: str) -> Iterator[None]:
        if self._closed:
            raise SpoolError("the spool is closed")
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot {what} the spool: {exc}") from exc
        try:
            yield
        except BaseException as exc:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error as rollback_error:
                logger.warning("spool rollback failed: %s", rollback_error)
            if isinstance(exc, sqlite3.Error):
                raise SpoolError(f"cannot {what} the spool: {exc}") from exc
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot {what} the spool: {exc}") from exc

    def _query(self, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        if self._closed:
            raise SpoolError("the spool is closed")
        try:
            return list(self._db.execute(sql, params).fetchall())
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot read the spool: {exc}") from exc

    def _seal(self, key: str, payload: bytes) -> bytes:
        if self._aead is None:
            return payload
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, payload, key.encode("utf-8"))

    def _open(self, key: str, stored: bytes) -> bytes:
        if self._aead is None:
            return stored
        try:
            return self._aead.decrypt(stored[:NONCE_BYTES], stored[NONCE_BYTES:], key.encode("utf-8"))
        except (InvalidTag, ValueError) as exc:
            raise SpoolError(f"record {key!r} cannot be decrypted: wrong key or corrupt spool") from exc

    def _check_meta(self) -> None:
        """Create the meta rows of a new spool, or check an existing one's format and key (SpoolError).

        An existing spool is never switched between encrypted and clear: a process that opens it with
        the wrong configuration (another key, no key, a key for a clear spool) is refused, not obeyed.
        """
        meta = {str(name): bytes(value) for name, value in self._db.execute("SELECT name, value FROM meta")}
        fmt = meta.get("format")
        if fmt is None:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES ('format', ?)", (str(SPOOL_FORMAT).encode(),)
            )
            if self._aead is not None:
                nonce = os.urandom(NONCE_BYTES)
                sealed = nonce + self._aead.encrypt(nonce, _KEY_CHECK_PLAINTEXT, _KEY_CHECK_AAD)
                self._db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('key_check', ?)", (sealed,))
            self._db.execute("COMMIT")
            return
        if int(fmt.decode("ascii")) != SPOOL_FORMAT:
            raise SpoolError(f"the spool {self.path} has format {fmt.decode('ascii')}, this relay reads {SPOOL_FORMAT}")
        check = meta.get("key_check")
        if check is None and self._aead is not None:
            raise SpoolError(f"the spool {self.path} was written without encryption: configure no key, or a new spool")
        if check is not None and self._aead is None:
            raise SpoolError(f"the spool {self.path} was written with encryption: configure its key")
        if check is not None and self._aead is not None:
            try:
                self._aead.decrypt(check[:NONCE_BYTES], check[NONCE_BYTES:], _KEY_CHECK_AAD)
            except (InvalidTag, ValueError) as exc:
                raise SpoolError(f"the spool {self.path} was written with another key") from exc


def _kind(kind: str) -> RecordKind:
    try:
        return RecordKind(kind)
    except ValueError:
        raise SpoolError(f"a record kind is one of {', '.join(RecordKind)}, not {kind[:40]!r}") from None
