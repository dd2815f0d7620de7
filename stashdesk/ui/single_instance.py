"""One window per data directory: a second start raises the first and exits.

The first instance takes a lock file in the data directory (``QLockFile``, which
notices a lock left by a crashed process) and listens on a ``QLocalServer``
named after the data directory. A second start finds the lock taken, connects
to that server, sends ``show`` and exits; the first brings its window to the
front. Two starts at the same moment are settled by the lock, not by a race on
the socket.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

LOCK_FILE = "window.lock"
SHOW = b"show\n"


def server_name(data_dir: Path) -> str:
    """A socket name unique to this user and data directory."""
    key = f"{os.getuid() if hasattr(os, 'getuid') else os.getlogin()}:{Path(data_dir).resolve()}"
    return "stashdesk-" + hashlib.sha256(key.encode()).hexdigest()[:20]


class SingleInstance(QObject):
    """Signals:
        activated(): another start asked this instance to show its window.

    Attributes:
        name: the local server's name.
        server: the QLocalServer once ``acquire`` succeeded.
    """

    activated = Signal()

    def __init__(self, data_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.data_dir = Path(data_dir)
        self.name = server_name(self.data_dir)
        self.lock = QLockFile(str(self.data_dir / LOCK_FILE))
        self.lock.setStaleLockTime(0)  # stale only when its process is gone
        self.server: QLocalServer | None = None

    def acquire(self) -> bool:
        """Become the instance for this data directory; False when another one is."""
        if not self.lock.tryLock(200):
            return False
        QLocalServer.removeServer(self.name)  # a socket file left by a crash
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            log.warning(
                "cannot listen on %s (%s): a second start will not raise this window",
                self.name,
                server.errorString(),
            )
        server.newConnection.connect(self._accept)
        self.server = server
        return True

    def _accept(self) -> None:
        assert self.server is not None
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            # The socket stays a child of the server until the server goes: deleting
            # it earlier (deleteLater) double-frees it under PySide6, whose wrapper
            # also believes it owns it. One tiny object per second start is nothing.
            socket.readyRead.connect(lambda s=socket: self._read(s))
            if socket.bytesAvailable():
                self._read(socket)

    def _read(self, socket: QLocalSocket) -> None:
        if b"show" in bytes(socket.readAll().data()):
            self.activated.emit()

    def signal_running(self, timeout_ms: int = 3000) -> bool:
        """Ask the running instance to show its window (blocking; used before any loop)."""
        socket = QLocalSocket()
        # The first instance may hold the lock but not listen yet: try for a while.
        for _attempt in range(max(1, timeout_ms // 250)):
            socket.connectToServer(self.name)
            if socket.waitForConnected(250):
                break
        else:
            return False
        socket.write(SHOW)
        sent = socket.waitForBytesWritten(timeout_ms)
        socket.disconnectFromServer()
        if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState:
            socket.waitForDisconnected(timeout_ms)
        return sent

    def release(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        self.lock.unlock()
