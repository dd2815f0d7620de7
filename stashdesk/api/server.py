"""The engine API over HTTP: aiohttp's server, on the engine's own event loop.

Routes come from ``stashdesk.api.routes``; each calls the ``Operations`` method it
names. Every request needs the API key, except ``POST /api/v1/hello`` (the engine's
proof for a local CLI, which carries no secret). Answers are JSON; an error is
``{"error": "<one line>"}`` with its HTTP status, and nothing but a bug is logged
with a traceback. ``/api/v1/events`` is a WebSocket carrying the event stream:
arrays of numbered events, and ``hello``/``reset`` objects (see ``EventLog``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from stashdesk import __version__
from stashdesk.api.auth import (
    KEY_HEADER,
    KEY_QUERY,
    FailureThrottle,
    engine_proof,
    key_matches,
)
from stashdesk.api.event_log import EventLog
from stashdesk.api.openapi import openapi_document
from stashdesk.api.operations import Operations
from stashdesk.api.routes import API_PREFIX, ENDPOINTS, Endpoint, convert_query
from stashdesk.engine_client.errors import BadRequest, ClientError, NotFound, PayloadTooLarge

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # bytes: more is a 413
BODY_TIMEOUT = 15.0  # seconds to send a whole request body
IDLE_TIMEOUT = 20.0  # seconds a connection may sit without a request (slow or idle clients)
EVENT_BATCH = 2000  # events per WebSocket frame at most
HEARTBEAT = 15.0  # WebSocket ping interval: a dead peer is noticed within two

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class ApiServer:
    """Serves one engine's API on one address.

    Attributes:
        ops: the Operations every route calls.
        events: the EventLog behind ``/api/v1/events``.
        host, port: where it listens (port known once started).
        tls: the server's TLS context, or None for plain HTTP.
        cert_path: its certificate file (for the fingerprint), or None.
        subscribers: open event-stream connections.
    """

    def __init__(
        self,
        ops: Operations,
        events: EventLog,
        key: Callable[[], str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        cert_path: Path | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self.ops = ops
        self.events = events
        self._key = key
        self.host = host
        self.port = port
        self.tls = tls
        self.cert_path = cert_path
        self.idle_timeout = idle_timeout
        self.throttle = FailureThrottle()
        self.subscribers: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._guard])
        app.router.add_post(f"{API_PREFIX}/hello", self._hello)
        app.router.add_get(f"{API_PREFIX}/events", self._event_stream)
        app.router.add_get(f"{API_PREFIX}/openapi.json", self._openapi)
        for endpoint in ENDPOINTS:
            app.router.add_route(
                endpoint.method, API_PREFIX + endpoint.path, self._handler(endpoint)
            )
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(
            self.build_app(),
            access_log=None,
            keepalive_timeout=self.idle_timeout,
            handle_signals=False,
            shutdown_timeout=2.0,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.tls)
        await site.start()
        server = site._server  # the asyncio server: its socket tells the port chosen
        assert isinstance(server, asyncio.Server) and server.sockets  # the loop's create_server
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._stopping.set()
        for ws in list(self.subscribers):
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"engine stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- the guard: authentication and errors ----------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != f"{API_PREFIX}/hello":
            given = request.headers.get(KEY_HEADER)
            if given is None and request.path == f"{API_PREFIX}/events":
                given = request.query.get(KEY_QUERY)
            address = request.remote or "?"
            if not key_matches(given, self._key()):
                delay = self.throttle.delay(address)
                self.throttle.failed(address)
                if delay:
                    await asyncio.sleep(delay)
                return _error(401, "unauthorized")
            self.throttle.succeeded(address)
        try:
            return await handler(request)
        except ClientError as exc:
            return _error(exc.http_status, exc.message)
        except web.HTTPException as exc:
            if exc.status == 413:
                return _error(413, f"the request body is over {MAX_BODY:,} bytes")
            if exc.status in (404, 405):
                return _error(
                    exc.status,
                    f"no such endpoint: {request.method} {request.path} "
                    f"(see {API_PREFIX}/openapi.json)",
                )
            return _error(exc.status, exc.reason or "request refused")
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception as exc:  # a bug: the caller gets one line, the log the traceback
            log.exception("API %s %s failed", request.method, request.path)
            return _error(500, f"internal error ({type(exc).__name__}); see the engine's log")

    # --- routes -----------------------------------------------------------------------------

    def _handler(self, endpoint: Endpoint) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            kwargs = dict(endpoint.fixed)
            for name in endpoint.path_params:
                kind = endpoint.path_types.get(name, "str")
                kwargs[name] = self._convert(request.match_info[name], kind, name, NotFound)
            wire_names = {v: k for k, v in endpoint.aliases.items()}
            for wire, kind in endpoint.query.items():
                if wire in request.query:
                    kwargs[wire_names.get(wire, wire)] = self._convert(
                        request.query[wire], kind, wire, BadRequest
                    )
            if endpoint.body or endpoint.body_as:
                body = await self._json_body(request)
                if endpoint.body_as:
                    kwargs[endpoint.body_as] = body
                else:
                    unknown = set(body) - {endpoint.aliases.get(n, n) for n in endpoint.body}
                    if unknown:
                        raise BadRequest(
                            f"unknown field {sorted(unknown)[0]!r}; expected "
                            + ", ".join(endpoint.aliases.get(n, n) for n in endpoint.body)
                        )
                    for name in endpoint.body:
                        wire = endpoint.aliases.get(name, name)
                        if wire in body:
                            kwargs[name] = body[wire]
            result = await getattr(self.ops, endpoint.operation)(**kwargs)
            return web.json_response(result, dumps=_dumps)

        return handle

    @staticmethod
    def _convert(text: str, kind: str, name: str, error: type[ClientError]) -> Any:
        try:
            return convert_query(text, kind)
        except ValueError:
            raise error(
                f"{name} must be {'a whole number' if kind == 'int' else kind}, not {text!r}"
            ) from None

    @staticmethod
    async def _json_body(request: web.Request) -> dict[str, Any]:
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise PayloadTooLarge(f"the request body is over {MAX_BODY:,} bytes")
        try:
            async with asyncio.timeout(BODY_TIMEOUT):
                raw = await request.read()
        except TimeoutError:
            raise BadRequest(f"the request body did not arrive within {BODY_TIMEOUT:g} s") from None
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f"malformed JSON: {exc}") from None
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        return body

    async def _hello(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        nonce = body.get("nonce")
        if not isinstance(nonce, str) or not 16 <= len(nonce) <= 128:
            raise BadRequest("nonce must be text of 16 to 128 characters")
        return web.json_response(
            {
                "proof": engine_proof(self._key(), nonce, self.port),
                "instance": self.events.instance,
                "version": __version__,
            }
        )

    async def _openapi(self, _request: web.Request) -> web.Response:
        return web.json_response(openapi_document(), dumps=_dumps)

    # --- the event stream ---------------------------------------------------------------------

    async def _event_stream(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=64 * 1024)
        await ws.prepare(request)
        self.subscribers.add(ws)
        reader = asyncio.ensure_future(self._drain(ws))
        try:
            cursor = self._start_cursor(request)
            if cursor is None:
                cursor = self.events.last_seq
                await ws.send_json(
                    {"type": "reset", "instance": self.events.instance, "seq": cursor}
                )
            else:
                await ws.send_json(
                    {
                        "type": "hello",
                        "instance": self.events.instance,
                        "seq": self.events.last_seq,
                        "replay_from": cursor,
                    }
                )
            while not ws.closed and not reader.done() and not self._stopping.is_set():
                if not self.events.can_replay(cursor):  # fell behind the buffer
                    cursor = self.events.last_seq
                    await ws.send_json(
                        {"type": "reset", "instance": self.events.instance, "seq": cursor}
                    )
                    continue
                texts = self.events.read(cursor, EVENT_BATCH)
                if texts:
                    await ws.send_str("[" + ",".join(texts) + "]")
                    cursor += len(texts)
                else:
                    await self.events.wait(cursor, timeout=HEARTBEAT)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            reader.cancel()
            self.subscribers.discard(ws)
            with contextlib.suppress(Exception):
                await ws.close()
        return ws

    def _start_cursor(self, request: web.Request) -> int | None:
        """Where a (re)connecting client resumes; None: it must reload a snapshot."""
        since = request.query.get("since")
        if since is None:
            return self.events.last_seq  # a new client: from now on
        if request.query.get("instance") != self.events.instance:
            return None
        try:
            after = int(since)
        except ValueError:
            return None
        return after if self.events.can_replay(after) else None

    @staticmethod
    async def _drain(ws: web.WebSocketResponse) -> None:
        """Read (and ignore) what the client sends, so pings and the close are handled."""
        async for message in ws:
            if message.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
