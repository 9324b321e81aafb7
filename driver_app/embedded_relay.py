"""A relay inside the driver app, on loopback: for `pitbox demo` and for a driver without a team relay.

It is the real relay (`relay.server.RelayServer`, token store, spool), listening on 127.0.0.1 with
plain ws:// (allowed on loopback only), in a directory of its own. It invites the local driver
(car 1) and a viewer, whose pairing string the demo prints for teammates' tools and the dashboard.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from relay.auth import PairingInfo, TokenStore, encode_pairing
from relay.protocol import Role
from relay.server import RelayServer, ServerOptions
from relay.spool import Spool

DRIVER_CAR_ID = 1
INVITES_FILE = "local-invites.json"
"""The local driver's and viewer's tokens, kept (mode 0600) so a relay in the same folder reuses them."""


@dataclass
class EmbeddedRelay:
    server: RelayServer
    spool: Spool
    driver_token: str
    viewer_pairing: str

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def dashboard_url(self) -> str:
        """The team dashboard, signed in as the viewer (the pairing string rides in the fragment)."""
        assert self.server.dashboard is not None
        return f"{self.server.dashboard.url}#pair={urllib.parse.quote(self.viewer_pairing, safe='')}"

    @classmethod
    async def start(cls, directory: Path, *, driver_name: str = "Driver", port: int = 0) -> EmbeddedRelay:
        directory.mkdir(parents=True, exist_ok=True)
        store = TokenStore(directory / "tokens.json")
        driver_token, viewer_token = _invites(directory, store, driver_name)
        spool = Spool(directory / "spool.sqlite3")
        options = ServerOptions(
            host="127.0.0.1",
            port=port,
            state_path=directory / "state.json",
            dashboard_port=0,
            maps_dir=directory / "track-maps",
            video_dir=directory / "video",  # the driver app's clips and segments, for the team page
        )
        server = RelayServer(store, spool, options=options, relay_name="PitBox embedded relay", roster=store.roster)
        await server.start()
        pairing = encode_pairing(PairingInfo("127.0.0.1", server.port, viewer_token, tls=False))
        return cls(server, spool, driver_token, pairing)

    async def stop(self) -> None:
        await self.server.stop()
        self.spool.close()


def _invites(directory: Path, store: TokenStore, driver_name: str) -> tuple[str, str]:
    """The driver and viewer tokens of this folder's relay: the stored ones while valid, else new."""
    path = directory / INVITES_FILE
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        driver, viewer = str(stored["driver"]), str(stored["viewer"])
        if store.verify(driver) is not None and store.verify(viewer) is not None:
            return driver, viewer
    except (OSError, ValueError, KeyError, TypeError):
        pass  # first start, or a damaged file: new invites below
    now = time.time()
    _, driver = store.invite(driver_name, Role.DRIVER, DRIVER_CAR_ID, now_s=now)
    _, viewer = store.invite("Team viewer", Role.VIEWER, now_s=now)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"driver": driver, "viewer": viewer}, handle)
    return driver, viewer
