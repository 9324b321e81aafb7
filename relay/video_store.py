"""The relay's video store: the drivers' video segments and clips on disk, with rotation, and signed links.

Layout under the store's root (the relay's data directory + `video/`), one folder per car:

    car_7/seg-0042.mp4              the fragmented MP4 the driver uploaded
    car_7/seg-0042.json             its metadata: kind, time window, size, when stored, serial
    car_7/seg-0042.telemetry.json   the telemetry window of a clip (optional, uploaded separately)
    car_7/.seg-0042.XXXX.part       an upload in progress (removed if the relay stops half-way)

An upload streams into a temporary file next to its final name and is renamed into place once it
is complete and looks like an MP4 (an `ftyp` box first), so a reader never sees half a file. The
index lives in memory and is rebuilt from the metadata files when the relay starts, so it survives
a restart (and a crash: files without metadata are leftovers and are removed).

Rotation: segments and clips have separate byte budgets (a clip is kept longer than the rolling
segments it was cut from); when a kind is over its budget the oldest of that kind go first, across
all cars. The item just stored is never removed by its own arrival, even if it alone is larger than
its budget. A clip's telemetry counts towards the clip budget. Telemetry that arrives before its
video waits (at most `MAX_PENDING_TELEMETRY` of them) and is attached when the video arrives.

`<video>` cannot send an `Authorization` header, so the dashboard plays videos through short-lived
signed links (`LinkSigner`: HMAC-SHA256 of the path and an expiry, with a secret of this relay).
The pure parts (id and window checks, MP4 sniffing, the rotation plan, signing) take time as an
argument and touch no disk; `VideoStore` and `Upload` do the file work and are meant to run off
the event loop (their methods block). Refusals raise `VideoError` (`VideoTooLargeError`); disk
failures stay `OSError` for the caller to report as the server's fault, not the uploader's.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import math
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Final

from relay.errors import VideoError, VideoTooLargeError

logger = logging.getLogger(__name__)

KINDS: Final = ("segment", "clip")
SEGMENT_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_CAR_ID: Final = 65535
MIB: Final = 1024 * 1024
DEFAULT_SEGMENT_BUDGET_BYTES: Final = 2048 * MIB
DEFAULT_CLIP_BUDGET_BYTES: Final = 1024 * MIB
DEFAULT_MAX_UPLOAD_BYTES: Final = 256 * MIB
MAX_TELEMETRY_BYTES: Final = 5 * MIB
MAX_PENDING_TELEMETRY: Final = 8
"""Telemetry files kept while their video has not arrived (the oldest beyond this are removed)."""
MAX_WINDOW_S: Final = 1e9
"""Largest time (seconds) a segment's window may name: session times, not dates."""
META_FORMAT: Final = 1
SNIFF_BYTES: Final = 12
DEFAULT_LINK_TTL_S: Final = 3600.0
LINK_STEP_S: Final = 300.0
"""Expiries are rounded up to this step, so repeated listings give the same links for a while."""


# ------------------------------------------------------------------------------------------------
# Pure parts


@dataclass(frozen=True, slots=True)
class VideoItem:
    """One stored video. Times are the driver's session times (s); `stored_s` is wall-clock time."""

    car_id: int
    segment_id: str
    kind: str
    start_s: float
    end_s: float
    video_bytes: int
    stored_s: float
    serial: int
    """Order of arrival in this store (larger: newer), kept across restarts."""
    telemetry_bytes: int = 0
    """Size of the clip's telemetry JSON; 0: none."""

    @property
    def key(self) -> tuple[int, str]:
        return (self.car_id, self.segment_id)

    @property
    def total_bytes(self) -> int:
        return self.video_bytes + self.telemetry_bytes

    @property
    def has_telemetry(self) -> bool:
        return self.telemetry_bytes > 0

    @property
    def api_path(self) -> str:
        """Where a token holder fetches the video (the `url` of the `video_segment_ready` message)."""
        return api_path(self.car_id, self.segment_id)

    def announcement(self) -> dict[str, Any]:
        """The data of the `video_segment_ready` message that tells the team about this video."""
        return {
            "car_id": self.car_id,
            "segment_id": self.segment_id,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "kind": self.kind,
            "url": self.api_path,
            "bytes": self.video_bytes,
        }


def api_path(car_id: int, segment_id: str) -> str:
    return f"/api/cars/{car_id}/video/{segment_id}"


def check_car_id(value: int) -> int:
    if not 0 <= value <= MAX_CAR_ID:
        raise VideoError(f"a car id is an integer in 0..{MAX_CAR_ID}")
    return value


def check_segment_id(value: str) -> str:
    if not SEGMENT_ID.fullmatch(value):
        raise VideoError("a segment id is 1 to 64 characters of A-Z, a-z, 0-9, _ and -")
    return value


def _seconds(name: str, text: str | None) -> float:
    if text is None or not text.strip():
        raise VideoError(f"{name} is required (seconds of session time)")
    try:
        value = float(text)
    except ValueError:
        raise VideoError(f"{name} must be a number of seconds") from None
    if not math.isfinite(value) or abs(value) > MAX_WINDOW_S:
        raise VideoError(f"{name} must be a finite number of seconds within ±{MAX_WINDOW_S:.0e}")
    return value


def parse_window(kind: str | None, start_s: str | None, end_s: str | None) -> tuple[str, float, float]:
    """The kind and time window of an upload from its query parameters (kind defaults to segment)."""
    kind = "segment" if kind is None or kind == "" else kind
    if kind not in KINDS:
        raise VideoError(f"kind must be one of {', '.join(KINDS)}")
    start, end = _seconds("start_s", start_s), _seconds("end_s", end_s)
    if end < start:
        raise VideoError("end_s must not be before start_s")
    return kind, start, end


def looks_like_mp4(head: bytes) -> bool:
    """Whether the first bytes of a file are an ISO BMFF `ftyp` box (MP4, fragmented or not)."""
    if len(head) < SNIFF_BYTES or head[4:8] != b"ftyp":
        return False
    size = int.from_bytes(head[0:4], "big")
    brand = head[8:12]
    return (size == 1 or size >= 16) and all(0x20 <= b < 0x7F for b in brand)


def plan_rotation(
    items: Iterable[VideoItem], budgets: Mapping[str, int], keep: Collection[tuple[int, str]] = ()
) -> list[VideoItem]:
    """The items to remove so that each kind fits its byte budget: the oldest first, never those in `keep`."""
    removed: list[VideoItem] = []
    by_kind: dict[str, list[VideoItem]] = {}
    for item in items:
        by_kind.setdefault(item.kind, []).append(item)
    for kind, members in by_kind.items():
        budget = budgets[kind]
        total = sum(m.total_bytes for m in members)
        for item in sorted(members, key=lambda m: m.serial):
            if total <= budget:
                break
            if item.key in keep:
                continue
            removed.append(item)
            total -= item.total_bytes
    return removed


class LinkSigner:
    """Short-lived links to one path: `?exp=UNIX_S&sig=HEX`, HMAC-SHA256 with this relay's secret. Pure."""

    def __init__(self, secret: bytes, *, ttl_s: float = DEFAULT_LINK_TTL_S, step_s: float = LINK_STEP_S) -> None:
        if len(secret) < 16:
            raise ValueError("a link secret is at least 16 bytes")
        if not (ttl_s > 0 and step_s > 0):
            raise ValueError("ttl_s and step_s must be positive")
        self._secret = secret
        self.ttl_s = ttl_s
        self.step_s = step_s

    def expiry(self, now_s: float) -> int:
        """When a link made at `now_s` expires: at least `ttl_s` later, rounded up to `step_s`."""
        return int(math.ceil((now_s + self.ttl_s) / self.step_s) * self.step_s)

    def signature(self, path: str, expires_s: int) -> str:
        message = f"{path}\n{expires_s}".encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def link(self, path: str, now_s: float) -> str:
        expires = self.expiry(now_s)
        return f"{path}?exp={expires}&sig={self.signature(path, expires)}"

    def verify(self, path: str, expires: str | None, signature: str | None, now_s: float) -> bool:
        """Whether a link's `exp` and `sig` are this relay's for `path` and it has not expired."""
        if not expires or not signature or len(expires) > 16 or not expires.isdigit() or len(signature) != 64:
            return False
        expires_s = int(expires)
        if expires_s < now_s or expires_s > now_s + self.ttl_s + self.step_s:
            return False
        return hmac.compare_digest(self.signature(path, expires_s), signature)


# ------------------------------------------------------------------------------------------------
# Files (blocking: call off the event loop)


class Upload:
    """A video being received: streamed into a temporary file beside its final name, never whole in memory."""

    def __init__(self, directory: Path, car_id: int, segment_id: str, limit_bytes: int) -> None:
        self.car_id = car_id
        self.segment_id = segment_id
        self.limit_bytes = limit_bytes
        self.bytes = 0
        self._head = b""
        fd, name = tempfile.mkstemp(dir=directory, prefix=f".{segment_id}.", suffix=".part")
        self.path = Path(name)
        self._file: IO[bytes] | None = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        """Append a chunk; VideoTooLargeError past the limit, VideoError when the start is not an MP4."""
        if self._file is None:
            raise VideoError("the upload is closed")
        self.bytes += len(chunk)
        if self.bytes > self.limit_bytes:
            raise VideoTooLargeError(f"a video is at most {self.limit_bytes} bytes")
        if len(self._head) < SNIFF_BYTES:
            self._head += chunk[: SNIFF_BYTES - len(self._head)]
            if len(self._head) >= SNIFF_BYTES and not looks_like_mp4(self._head):
                raise VideoError("not an MP4 file (it does not start with an ftyp box)")
        self._file.write(chunk)

    def finish(self) -> None:
        """Check the whole upload and make it durable (the caller then renames it into place)."""
        if not looks_like_mp4(self._head):
            raise VideoError("not an MP4 file (it does not start with an ftyp box)")
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    def discard(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        with contextlib.suppress(OSError):
            self.path.unlink()


def _write_atomically(path: Path, data: bytes) -> None:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise


class VideoStore:
    """The stored videos of every car, their index, and rotation (see the module docstring).

    Thread-safe: the web server runs the blocking methods in worker threads while it lists from
    the event loop."""

    def __init__(
        self,
        root: Path,
        *,
        segment_budget_bytes: int = DEFAULT_SEGMENT_BUDGET_BYTES,
        clip_budget_bytes: int = DEFAULT_CLIP_BUDGET_BYTES,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        max_telemetry_bytes: int = MAX_TELEMETRY_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if min(segment_budget_bytes, clip_budget_bytes, max_upload_bytes, max_telemetry_bytes) <= 0:
            raise VideoError("video budgets and upload limits must be positive")
        self.root = Path(root)
        self.budgets: dict[str, int] = {"segment": segment_budget_bytes, "clip": clip_budget_bytes}
        self.max_upload_bytes = max_upload_bytes
        self.max_telemetry_bytes = max_telemetry_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._items: dict[tuple[int, str], VideoItem] = {}
        self._pending: dict[tuple[int, str], int] = {}
        """Telemetry waiting for its video: key -> serial (order of arrival)."""
        self._serial = 0
        self.load()

    # ------------------------------------------------------------ reading

    def items(self, car_id: int | None = None) -> list[VideoItem]:
        """Stored videos (of one car, or all), newest first."""
        with self._lock:
            chosen = [i for i in self._items.values() if car_id is None or i.car_id == car_id]
        return sorted(chosen, key=lambda i: i.serial, reverse=True)

    def get(self, car_id: int, segment_id: str) -> VideoItem | None:
        with self._lock:
            return self._items.get((car_id, segment_id))

    def total_bytes(self, kind: str) -> int:
        with self._lock:
            return sum(i.total_bytes for i in self._items.values() if i.kind == kind)

    def car_dir(self, car_id: int) -> Path:
        return self.root / f"car_{car_id}"

    def video_file(self, car_id: int, segment_id: str) -> Path:
        return self.car_dir(car_id) / f"{segment_id}.mp4"

    def telemetry_file(self, car_id: int, segment_id: str) -> Path:
        return self.car_dir(car_id) / f"{segment_id}.telemetry.json"

    def _meta_file(self, car_id: int, segment_id: str) -> Path:
        return self.car_dir(car_id) / f"{segment_id}.json"

    # ------------------------------------------------------------ writing

    def begin(self, car_id: int, segment_id: str) -> Upload:
        """Start receiving a video (a temporary file in the car's folder)."""
        check_car_id(car_id)
        check_segment_id(segment_id)
        directory = self.car_dir(car_id)
        directory.mkdir(parents=True, exist_ok=True)
        return Upload(directory, car_id, segment_id, self.max_upload_bytes)

    def commit(self, upload: Upload, kind: str, start_s: float, end_s: float) -> tuple[VideoItem, list[VideoItem]]:
        """Put a complete upload in place and index it; returns it and the videos rotation removed.

        A video with the id of a stored one replaces it (an uploader's retry)."""
        if kind not in KINDS:
            raise VideoError(f"kind must be one of {', '.join(KINDS)}")
        upload.finish()
        car_id, segment_id = upload.car_id, upload.segment_id
        with self._lock:
            serial = self._serial
            self._serial += 1
        telemetry = self.telemetry_file(car_id, segment_id)
        try:
            os.replace(upload.path, self.video_file(car_id, segment_id))
            telemetry_bytes = telemetry.stat().st_size if telemetry.exists() else 0
            item = VideoItem(
                car_id, segment_id, kind, start_s, end_s, upload.bytes, self._clock(), serial, telemetry_bytes
            )
            self._write_meta(item)
        except OSError:
            upload.discard()
            raise
        with self._lock:
            self._items[item.key] = item
            self._pending.pop(item.key, None)
            removed = self._rotate(keep={item.key})
        self._delete_files(removed)
        logger.info(
            "stored %s %s of car %d (%d bytes, %.1f-%.1f s)", kind, segment_id, car_id, upload.bytes, start_s, end_s
        )
        return item, removed

    def store_telemetry(self, car_id: int, segment_id: str, data: bytes) -> tuple[VideoItem | None, list[VideoItem]]:
        """Keep the telemetry JSON of a video (before or after the video arrives).

        Returns the video it belongs to (None while it has not arrived) and the videos rotation removed."""
        check_car_id(car_id)
        check_segment_id(segment_id)
        if len(data) > self.max_telemetry_bytes:
            raise VideoTooLargeError(f"a clip's telemetry is at most {self.max_telemetry_bytes} bytes")
        try:
            json.loads(data)
        except (ValueError, RecursionError):
            raise VideoError("the telemetry is not valid JSON") from None
        path = self.telemetry_file(car_id, segment_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, data)
        key = (car_id, segment_id)
        dropped: list[tuple[int, str]] = []
        removed: list[VideoItem] = []
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self._pending[key] = self._serial
                self._serial += 1
                dropped = self._drop_pending()
            else:
                item = self._items[key] = replace(item, telemetry_bytes=len(data))
                removed = self._rotate(keep={key})
        self._delete_telemetry(dropped)
        self._delete_files(removed)
        return item, removed

    # ------------------------------------------------------------ rotation and start-up

    # The index changes under the lock; the files go after it is released (`_delete_files`,
    # `_delete_telemetry`), so a listing on the event loop never waits for the disk.

    def _rotate(self, keep: Collection[tuple[int, str]] = ()) -> list[VideoItem]:
        """Take what is over budget out of the index (call with the lock held); returns it."""
        removed = plan_rotation(list(self._items.values()), self.budgets, keep)
        for item in removed:
            del self._items[item.key]
        return removed

    def _drop_pending(self) -> list[tuple[int, str]]:
        """Forget the oldest waiting telemetry beyond `MAX_PENDING_TELEMETRY` (lock held); returns its keys."""
        dropped: list[tuple[int, str]] = []
        while len(self._pending) > MAX_PENDING_TELEMETRY:
            oldest = min(self._pending, key=lambda k: self._pending[k])
            del self._pending[oldest]
            dropped.append(oldest)
        return dropped

    def _delete_telemetry(self, dropped: Iterable[tuple[int, str]]) -> None:
        for key in dropped:
            with contextlib.suppress(OSError):
                self.telemetry_file(*key).unlink()
            logger.info("telemetry of %d/%s removed: its video never arrived", *key)

    def _delete_files(self, removed: Sequence[VideoItem]) -> None:
        for item in removed:
            for path in (
                self._meta_file(item.car_id, item.segment_id),
                self.video_file(item.car_id, item.segment_id),
                self.telemetry_file(item.car_id, item.segment_id),
            ):
                try:
                    path.unlink(missing_ok=True)
                except OSError as exc:  # e.g. open for reading on Windows: found again at the next start
                    logger.warning("cannot remove %s: %s", path, exc.strerror)
        if removed:
            names = ", ".join(f"{i.car_id}/{i.segment_id}" for i in removed)
            logger.info("rotation removed %d video(s): %s", len(removed), names)

    def _write_meta(self, item: VideoItem) -> None:
        meta = {
            "format": META_FORMAT,
            "car_id": item.car_id,
            "segment_id": item.segment_id,
            "kind": item.kind,
            "start_s": item.start_s,
            "end_s": item.end_s,
            "stored_s": item.stored_s,
            "serial": item.serial,
        }
        _write_atomically(self._meta_file(item.car_id, item.segment_id), json.dumps(meta).encode("utf-8"))

    def load(self) -> None:
        """Rebuild the index from the files (leftovers of interrupted uploads are removed), then rotate."""
        items: dict[tuple[int, str], VideoItem] = {}
        pending: dict[tuple[int, str], float] = {}
        if self.root.is_dir():
            for directory in sorted(self.root.iterdir()):
                car_id = _car_of(directory)
                if car_id is not None:
                    self._load_car(directory, car_id, items, pending)
        with self._lock:
            self._items = items
            self._serial = max((i.serial for i in items.values()), default=-1) + 1
            self._pending = {}
            for key in sorted(pending, key=lambda k: pending[k]):
                self._pending[key] = self._serial
                self._serial += 1
            dropped = self._drop_pending()
            removed = self._rotate()
        self._delete_telemetry(dropped)
        self._delete_files(removed)
        if items:
            logger.info("video store: %d video(s) of %d car(s)", len(items), len({i.car_id for i in items.values()}))

    def _load_car(
        self,
        directory: Path,
        car_id: int,
        items: dict[tuple[int, str], VideoItem],
        pending: dict[tuple[int, str], float],
    ) -> None:
        names = {p.name: p for p in directory.iterdir() if p.is_file()}
        for name, path in names.items():
            if name.startswith(".") and name.endswith(".part"):
                with contextlib.suppress(OSError):
                    path.unlink()  # an upload the relay did not finish
        for name, path in names.items():
            if not name.endswith(".json") or name.endswith(".telemetry.json") or name.startswith("."):
                continue
            segment_id = name.removesuffix(".json")
            video = names.get(f"{segment_id}.mp4")
            item = _read_meta(path, car_id, segment_id)
            if item is None or video is None:
                logger.warning("video store: removing %s (unreadable, or its video is missing)", path)
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
            telemetry = names.get(f"{segment_id}.telemetry.json")
            try:
                size = video.stat().st_size
                telemetry_bytes = telemetry.stat().st_size if telemetry is not None else 0
            except OSError:
                continue
            items[(car_id, segment_id)] = replace(item, video_bytes=size, telemetry_bytes=telemetry_bytes)
        for name, path in names.items():
            if name.endswith(".mp4") and not name.startswith("."):
                segment_id = name.removesuffix(".mp4")
                if (car_id, segment_id) not in items:
                    logger.warning("video store: removing %s (no metadata: an interrupted upload)", path)
                    with contextlib.suppress(OSError):
                        path.unlink()
            elif name.endswith(".telemetry.json") and not name.startswith("."):
                segment_id = name.removesuffix(".telemetry.json")
                if (car_id, segment_id) not in items and SEGMENT_ID.fullmatch(segment_id):
                    with contextlib.suppress(OSError):
                        pending[(car_id, segment_id)] = path.stat().st_mtime


def _car_of(directory: Path) -> int | None:
    name = directory.name
    if not directory.is_dir() or not name.startswith("car_") or not name[4:].isdigit() or len(name) > 9:
        return None
    car_id = int(name[4:])
    return car_id if car_id <= MAX_CAR_ID else None


def _read_meta(path: Path, car_id: int, segment_id: str) -> VideoItem | None:
    try:
        meta = json.loads(path.read_bytes())
        if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
            return None
        if meta.get("car_id") != car_id or meta.get("segment_id") != segment_id or meta.get("kind") not in KINDS:
            return None
        if not SEGMENT_ID.fullmatch(segment_id):
            return None
        start_s, end_s, stored_s = float(meta["start_s"]), float(meta["end_s"]), float(meta["stored_s"])
        if not all(math.isfinite(v) for v in (start_s, end_s, stored_s)):
            return None
        return VideoItem(car_id, segment_id, str(meta["kind"]), start_s, end_s, 0, stored_s, int(meta["serial"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None
