"""A small real HTTP server on 127.0.0.1 that receives webhook notifications.

Apprise's ``json://127.0.0.1:PORT/PATH`` targets POST
``{"version", "title", "message", "type", ...}`` to ``http://127.0.0.1:PORT/PATH``.
The receiver records every request and answers with the status set for its
path (200 by default), optionally after a delay, so tests can watch a target
fail and be retried.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    payload: dict[str, Any]
    at: float  # time.monotonic()
    status: int  # what the receiver answered

    @property
    def title(self) -> str:
        return str(self.payload.get("title", ""))

    @property
    def message(self) -> str:
        return str(self.payload.get("message", ""))


class WebhookReceiver:
    """Attributes:
    url: ``http://127.0.0.1:PORT``.
    port: the port it listens on.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._answers: dict[str, tuple[int, float]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    payload = json.loads(raw or b"{}")
                except ValueError:
                    payload = {"raw": raw.decode("utf-8", "replace")}
                path = self.path.split("?", 1)[0]
                status, delay = receiver.answer_for(path)
                if delay:
                    time.sleep(delay)
                receiver._record(Received(path, payload, time.monotonic(), status))
                body = b"{}"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up waiting (a timeout under test) is no error here

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webhook-receiver", daemon=True
        )

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def target_url(self, path: str) -> str:
        """The Apprise URL that posts JSON to ``path`` on this receiver."""
        return f"json://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def answer(self, path: str, status: int, delay: float = 0.0) -> None:
        """Answer requests to ``path`` with ``status``, after ``delay`` seconds."""
        with self._lock:
            self._answers["/" + path.lstrip("/")] = (status, delay)

    def answer_for(self, path: str) -> tuple[int, float]:
        with self._lock:
            return self._answers.get(path, (200, 0.0))

    def _record(self, received: Received) -> None:
        with self._lock:
            self._received.append(received)

    def received(self, path: str | None = None) -> list[Received]:
        """Requests so far (to ``path`` only, when given), oldest first."""
        with self._lock:
            items = list(self._received)
        if path is None:
            return items
        wanted = "/" + path.lstrip("/")
        return [r for r in items if r.path == wanted]
