"""One window per data directory: a second start raises the first and exits.

The first instance takes a lock file in the data directory (``QLockFile``, which
notices a lock left by a crashed process), listens on a loopback port and writes the
port with a random token to ``window.port`` (owner-only, like the rest of the data
folder). A second start finds the lock taken, reads that file, connects, sends
``show <token>`` and exits; the first brings its window to the front. Two starts at
the same moment are settled by the lock, not by a race on the socket.

Plain Python sockets watched by a ``QSocketNotifier``, not ``QLocalServer``: this is
the only thing QtNetwork did for the window, and leaving QtNetwork out keeps 3.4 MB
out of the bundle. Loopback TCP works the same on every platform; the token means no
other local program can raise the window (or learn anything by trying).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import socket
import time
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, QSocketNotifier, Signal

log = logging.getLogger(__name__)

LOCK_FILE = "window.lock"
PORT_FILE = "window.port"
MAX_REQUEST = 256  # "show " and a 32-character token, with room to spare


class SingleInstance(QObject):
    """Signals:
        activated(): another start asked this instance to show its window.

    Attributes:
        data_dir: the data directory this instance owns.
        port: the loopback port it listens on once ``acquire`` succeeded (None before,
            or when it could not listen).
    """

    activated = Signal()

    def __init__(self, data_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.data_dir = Path(data_dir)
        self.port: int | None = None
        self.lock = QLockFile(str(self.data_dir / LOCK_FILE))
        self.lock.setStaleLockTime(0)  # stale only when its process is gone
        self._token = secrets.token_hex(16)
        self._listener: socket.socket | None = None
        self._notifier: QSocketNotifier | None = None
        # one entry per connection being read: its socket, notifier and bytes so far
        self._readers: dict[int, tuple[socket.socket, QSocketNotifier, bytearray]] = {}
        self._spent: list[QSocketNotifier] = []

    @property
    def port_file(self) -> Path:
        return self.data_dir / PORT_FILE

    def acquire(self) -> bool:
        """Become the instance for this data directory; False when another one is."""
        if not self.lock.tryLock(200):
            return False
        try:
            listener = socket.create_server(("127.0.0.1", 0))
            listener.setblocking(False)
            self._write_port_file(listener.getsockname()[1])
        except OSError as exc:
            log.warning(
                "cannot listen on loopback (%s): a second start will not raise this window", exc
            )
            return True
        self._listener, self.port = listener, listener.getsockname()[1]
        self._notifier = QSocketNotifier(listener.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._accept)
        return True

    def _write_port_file(self, port: int) -> None:
        temporary = self.port_file.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w", encoding="utf-8") as file:
            json.dump({"port": port, "token": self._token, "pid": os.getpid()}, file)
        os.replace(temporary, self.port_file)

    def _accept(self, *_args: object) -> None:
        assert self._listener is not None
        while True:
            try:
                connection, _address = self._listener.accept()
            except OSError:  # BlockingIOError: none left
                return
            connection.setblocking(False)
            fd = connection.fileno()
            notifier = QSocketNotifier(fd, QSocketNotifier.Type.Read, self)
            self._readers[fd] = (connection, notifier, bytearray())
            notifier.activated.connect(lambda *_a, fd=fd: self._read(fd))

    def _read(self, fd: int) -> None:
        if fd not in self._readers:
            return
        connection, notifier, received = self._readers[fd]
        try:
            chunk = connection.recv(MAX_REQUEST)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        received += chunk
        if chunk and b"\n" not in received and len(received) < MAX_REQUEST:
            return  # more to come
        notifier.setEnabled(False)
        del self._readers[fd]
        connection.close()
        # The notifier is the sender of this very call and PySide6's wrapper believes
        # it owns it too: deleting it here crashes. It stays, disabled, a child of this
        # object until it goes; one tiny object per second start is nothing.
        self._spent.append(notifier)
        request = bytes(received).split(b"\n", 1)[0]
        if hmac.compare_digest(request, f"show {self._token}".encode()):
            self.activated.emit()
        else:
            log.warning("ignored a request on the window's port without the right token")

    def signal_running(self, timeout_ms: int = 3000) -> bool:
        """Ask the running instance to show its window (blocking; used before any loop)."""
        deadline = time.monotonic() + timeout_ms / 1000
        # The first instance may hold the lock but not listen yet: try for a while.
        while True:
            try:
                found = json.loads(self.port_file.read_text(encoding="utf-8"))
                with socket.create_connection(("127.0.0.1", int(found["port"])), timeout=1) as s:
                    s.sendall(f"show {found['token']}\n".encode())
                return True
            except (OSError, ValueError, KeyError, TypeError):
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.25)

    def release(self) -> None:
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier = None
        for connection, notifier, _received in self._readers.values():
            notifier.setEnabled(False)
            connection.close()
        self._readers.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            self.port_file.unlink(missing_ok=True)
        self.lock.unlock()
