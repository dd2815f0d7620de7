"""A small real HTTP server on 127.0.0.1 that answers Stash's ``version`` query.

Enough Stash for "Test connection": it checks the ``ApiKey`` header like Stash
does (HTTP 401 when a key is required and wrong) and answers the version query
with GraphQL JSON. The full Stash stand-in lives in tests/standins when merged.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "v0.27.2"


class StashVersionServer:
    def __init__(self, api_key: str = "") -> None:
        self.api_key = api_key
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(body)
                if server.api_key and self.headers.get("ApiKey") != server.api_key:
                    self._answer(401, b"Unauthorized", "text/plain")
                    return
                if self.path != "/graphql" or "version" not in body.get("query", ""):
                    self._answer(200, json.dumps({"errors": [{"message": "unknown query"}]})
                                 .encode(), "application/json")
                    return
                data = {"data": {"version": {"version": VERSION, "hash": "0a1b2c3",
                                             "build_time": "2024-05-01 10:00:00"}}}
                self._answer(200, json.dumps(data).encode(), "application/json")

            def _answer(self, status: int, payload: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> StashVersionServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


def closed_port_url() -> str:
    """An address on which nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
