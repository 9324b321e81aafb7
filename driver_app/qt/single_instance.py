"""One PitBox per user: a second start asks the running one to show its window, then exits.

The first instance listens on a `QLocalServer` whose name is per user (and per config directory,
so a test with its own config does not meet the driver's real app). A later instance connects,
sends `show`, and learns that it should exit. A stale socket left by a crash is removed when no
one answers on it.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
from typing import Final

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from driver_app.settings import config_path

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_MS: Final = 500
SHOW_MESSAGE: Final = b"show\n"


def default_server_name() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment
        user = "user"
    digest = hashlib.sha256(f"{user}\0{config_path().parent}".encode()).hexdigest()[:12]
    safe_user = "".join(c for c in user if c.isalnum())[:16] or "user"
    return f"pitbox-{safe_user}-{digest}"


class SingleInstance(QObject):
    """`acquire()` True: this is the first instance (listening); False: another one was told to show."""

    show_requested = Signal()

    def __init__(self, name: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name if name is not None else default_server_name()
        self.server: QLocalServer | None = None
        self._clients: list[QLocalSocket] = []

    def acquire(self) -> bool:
        if self._ask_running_instance():
            return False
        QLocalServer.removeServer(self.name)  # a stale socket of a crashed instance
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            logger.warning("single-instance server %s: %s; running anyway", self.name, server.errorString())
            return True
        server.newConnection.connect(self._on_connection)
        self.server = server
        logger.debug("single-instance server listening as %s", self.name)
        return True

    def close(self) -> None:
        for socket in self._clients:
            socket.readyRead.disconnect(self._read_all)
            socket.disconnected.disconnect(self._read_all)
            socket.abort()
            socket.deleteLater()
        self._clients.clear()
        if self.server is not None:
            self.server.newConnection.disconnect(self._on_connection)
            self.server.close()
            self.server.deleteLater()
            self.server = None

    def _ask_running_instance(self) -> bool:
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(CONNECT_TIMEOUT_MS):
            return False
        socket.write(SHOW_MESSAGE)
        socket.waitForBytesWritten(CONNECT_TIMEOUT_MS)
        socket.disconnectFromServer()
        if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState:
            socket.waitForDisconnected(CONNECT_TIMEOUT_MS)
        return True

    # Slots are methods of this QObject (never lambdas), so Qt disconnects them when it goes.

    def _on_connection(self) -> None:
        if self.server is None:
            return
        while (socket := self.server.nextPendingConnection()) is not None:
            self._clients.append(socket)
            socket.readyRead.connect(self._read_all)
            socket.disconnected.connect(self._read_all)
        self._read_all()

    def _read_all(self) -> None:
        for socket in list(self._clients):
            while socket.canReadLine():
                line = bytes(socket.readLine().data()).strip()
                if line == SHOW_MESSAGE.strip():
                    logger.info("another PitBox was started: showing this one")
                    self.show_requested.emit()
            if socket.state() == QLocalSocket.LocalSocketState.UnconnectedState:
                self._clients.remove(socket)
                socket.deleteLater()
