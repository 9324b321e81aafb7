"""The team dashboard's web server: the page's static files and the JSON the page reads, over HTTPS.

It runs beside the relay's WebSocket port, on its own port with the relay's certificate (aiohttp:
static files, conditional requests, and room for uploads and video ranges). The page itself is
plain HTML, CSS and JavaScript in `relay/dashboard/` (no build step, nothing from the internet);
live data reaches it over the relay's WebSocket, which the page opens with the token it was given.

Routes:

    GET /                              the page
    GET /static/NAME                   its scripts, styles and icons
    GET /api/config                    where the relay's WebSocket is (public)
    GET /api/channels                  the telemetry channel table the batch decoder needs (public)
    GET /api/cars/ID/laps              lap table and stints            } bearer token of any role;
    GET /api/cars/ID/best-lap          the best lap's trace            } 404 until the relay has it
    GET /api/cars/ID/segments          time lost per segment, last lap }
    GET /api/cars/ID/track-map         the track outline               }
    PUT|GET /api/cars/ID/video...      drivers' video uploads; the list } see `relay.video_web`
    GET /video/ID/SEG.mp4?exp=&sig=    what <video> plays (signed link)  }

Every response carries a Content-Security-Policy that allows nothing but this origin and the
relay's WebSocket. Failed tokens count towards the relay's per-address lockout.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from aiohttp import web

from adapters.model import CAR_CHANNELS, CHANNELS, MAX_CARS, Channel
from relay.auth import AuthAttempts
from relay.core import IdentityLike
from relay.errors import RelayError
from relay.protocol import PROTOCOL_VERSION
from relay.video_web import VideoRoutes

logger = logging.getLogger(__name__)

STATIC_DIR: Final = Path(__file__).resolve().parent / "dashboard"
CONTENT_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webmanifest": "application/manifest+json",
}
STATIC_NAME: Final = re.compile(r"^[a-z0-9_-]+\.[a-z]+$")
TOKEN_CACHE_S: Final = 60.0
"""How long a verified token is trusted without hashing it again (a token hash takes ~50 ms)."""
MAX_CACHED_TOKENS: Final = 256


class TokenVerifier(Protocol):
    def verify(self, token: object) -> IdentityLike | None: ...


class DashboardData(Protocol):
    """What the relay knows of each car (`relay.team_view.TeamView`)."""

    def laps(self, car_id: int) -> dict[str, Any] | None: ...

    def best_lap(self, car_id: int) -> dict[str, Any] | None: ...

    def segments(self, car_id: int) -> dict[str, Any] | None: ...

    def track_map(self, car_id: int) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class RelayEndpoint:
    """Where the page finds the relay's WebSocket: its port and scheme (the host is the page's own)."""

    port: int
    tls: bool
    name: str


def channel_table() -> dict[str, Any]:
    """The channel declarations the page's batch decoder reads (model order = wire order)."""

    def describe(channel: Channel) -> dict[str, Any]:
        kind = channel.dtype.lstrip("<>=")[0]
        return {
            "name": channel.name,
            "unit": channel.unit,
            "kind": {"?": "b"}.get(kind, kind),
            "precision": channel.precision if kind == "f" else 1,
            "columns": channel.shape[0] if channel.shape else 1,
        }

    return {
        "frame": [describe(c) for c in CHANNELS],
        "car": [describe(c) for c in CAR_CHANNELS],
        "max_cars": MAX_CARS,
        "protocol": PROTOCOL_VERSION,
    }


class DashboardSite:
    """The dashboard's HTTP(S) server. `start()` binds, `stop()` closes."""

    def __init__(
        self,
        data: DashboardData,
        tokens: TokenVerifier,
        relay: Callable[[], RelayEndpoint],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        attempts: AuthAttempts | None = None,
        static_dir: Path = STATIC_DIR,
        video: VideoRoutes | None = None,
    ) -> None:
        """`video`: the video upload and playback routes (None: the site has no video)."""
        self.data = data
        self.tokens = tokens
        self.relay = relay
        self.host = host
        self.requested_port = port
        self.ssl_context = ssl_context
        self.attempts = attempts if attempts is not None else AuthAttempts()
        self.static_dir = static_dir
        self.video = video
        self._verified: dict[str, tuple[IdentityLike, float]] = {}
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._channels = json.dumps(channel_table(), separators=(",", ":"))

    @property
    def port(self) -> int:
        if self._runner is None or not self._runner.addresses:
            raise RelayError("the dashboard is not running")
        port: int = self._runner.addresses[0][1]
        return port

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        host = self.host if ":" not in self.host else f"[{self.host}]"
        if host in ("0.0.0.0", "[::]"):
            host = "127.0.0.1"
        return f"{scheme}://{host}:{self.port}/"

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._headers], client_max_size=64 * 1024)
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/api/config", self._config)
        app.router.add_get("/api/channels", self._channel_table)
        if self.video is not None:  # before the catch-all below
            self.video.add_routes(app.router, self._authorise)
        app.router.add_get(r"/api/cars/{car_id:\d{1,5}}/{what}", self._car_data)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, self.requested_port, ssl_context=self.ssl_context)
        await self._site.start()
        logger.info("dashboard on %s", self.url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    # ---------------------------------------------------------------- handlers

    @web.middleware
    async def _headers(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            self._secure(request, exc)  # errors (404, 401...) carry the same headers
            raise
        self._secure(request, response)
        return response

    def _secure(self, request: web.Request, response: web.StreamResponse) -> None:
        relay = self.relay()
        scheme = "wss" if relay.tls else "ws"
        host = request.url.host or "localhost"
        if ":" in host:
            host = f"[{host}]"
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            f"media-src 'self' blob:; connect-src 'self' {scheme}://{host}:{relay.port}; "
            "manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Cache-Control", "no-cache")

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return self._file("index.html")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if not STATIC_NAME.match(name):
            raise web.HTTPNotFound(text="no such file")
        return self._file(name)

    def _file(self, name: str) -> web.StreamResponse:
        path = self.static_dir / name
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is None or not path.is_file():
            raise web.HTTPNotFound(text="no such file")
        # FileResponse answers If-Modified-Since and ranges; "no-cache" makes the browser revalidate.
        return web.FileResponse(path, headers={"Content-Type": content_type})

    async def _config(self, request: web.Request) -> web.StreamResponse:
        relay = self.relay()
        return web.json_response(
            {"relay_port": relay.port, "tls": relay.tls, "relay_name": relay.name, "protocol": PROTOCOL_VERSION}
        )

    async def _channel_table(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=self._channels, content_type="application/json")

    async def _car_data(self, request: web.Request) -> web.StreamResponse:
        await self._authorise(request)
        car_id = int(request.match_info["car_id"])
        readers: dict[str, Callable[[int], dict[str, Any] | None]] = {
            "laps": self.data.laps,
            "best-lap": self.data.best_lap,
            "segments": self.data.segments,
            "track-map": self.data.track_map,
        }
        reader = readers.get(request.match_info["what"])
        if reader is None:
            raise web.HTTPNotFound(text="no such resource")
        document = reader(car_id)
        if document is None:
            raise web.HTTPNotFound(text=f"nothing yet for car {car_id}")
        return web.json_response(document, dumps=lambda value: json.dumps(value, separators=(",", ":")))

    async def _authorise(self, request: web.Request) -> IdentityLike:
        remote = request.remote or "?"
        now = time.monotonic()
        if self.attempts.blocked(remote, now):
            raise web.HTTPTooManyRequests(text="too many failed authentications from this address")
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip() or len(token) > 256:
            raise web.HTTPUnauthorized(text="sign in: send the pairing token as 'Authorization: Bearer TOKEN'")
        token = token.strip()
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
        cached = self._verified.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        identity = await asyncio.get_running_loop().run_in_executor(None, self.tokens.verify, token)
        if identity is None:
            self.attempts.failed(remote, now)
            raise web.HTTPUnauthorized(text="unknown or revoked token")
        self.attempts.succeeded(remote)
        if len(self._verified) >= MAX_CACHED_TOKENS:
            self._verified.clear()
        self._verified[key] = (identity, now + TOKEN_CACHE_S)
        return identity
