"""Sending an HTTP answer one byte at a time: the "dribbling server" both stand-ins play.

Such a server never lets a per-read timeout expire (a byte comes every few
seconds), so only a total deadline on the whole request ends the wait.
"""

from __future__ import annotations

from collections.abc import Callable
from http.client import responses
from typing import BinaryIO


def http_answer_bytes(
    status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
) -> bytes:
    """The whole answer (status line, headers, body) as it goes on the wire."""
    lines = [
        f"HTTP/1.1 {status} {responses.get(status, 'Unknown')}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def dribble(out: BinaryIO, data: bytes, interval: float, stopped: Callable[[float], bool]) -> bool:
    """Write ``data`` one byte every ``interval`` seconds; False when ``stopped(timeout)``
    (an Event's ``wait``) turned true first or the client went away, True when sent."""
    for index in range(len(data)):
        if index and stopped(interval):
            return False
        try:
            out.write(data[index : index + 1])
            out.flush()
        except OSError:
            return False
    return True


class DribblingHTTPServer:
    """A minimal HTTP server on 127.0.0.1 answering fixed routes, normally or dribbled.

    ``routes`` maps a path to (status, body, content type, headers); others get 404.
    While ``interval`` is set, every answer is dribbled at that many seconds per byte.
    Stands in for services without a stand-in of their own (qBittorrent's Web UI).

    Attributes:
        url: ``http://127.0.0.1:PORT``.
        interval: seconds per byte, or None to answer at once.
        requests: the paths asked for, in order.
    """

    def __init__(self, routes: dict[str, tuple[int, bytes, str, dict[str, str]]]) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        owner = self
        self.routes = routes
        self.interval: float | None = None
        self.requests: list[str] = []
        self._stopping = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                path = self.path.split("?", 1)[0]
                owner.requests.append(path)
                status, body, kind, headers = owner.routes.get(
                    path, (404, b"Not Found", "text/plain", {})
                )
                self.close_connection = True
                data = http_answer_bytes(status, body, kind, headers)
                interval = owner.interval
                if interval:
                    dribble(self.wfile, data, interval, owner._stopping.wait)
                else:
                    self.wfile.write(data)

            do_POST = do_GET

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # clients hanging up on a dribble are the point

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
