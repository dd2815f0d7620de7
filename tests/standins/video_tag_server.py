"""A stand-in for the AI "video-tag server", for tests.

The real server is an AI service with a single endpoint::

    POST {url}/process_video/
    {"path": "/data/x.mp4", "frame_interval": 2, "threshold": 0.3,
     "return_confidence": true, "vr_video": false}

    200 {"result": {"video_tag_info": {
            "video_tags": {"<category>": ["<tag>", ...]},
            "tag_timespans": {"<category>": {"<tag>": [{"start": 0.0, "end": 4.0}]}}}}}

With ``return_confidence`` the entries of ``video_tags`` may instead be objects
``{"tag": "<tag>", "confidence": 0.87}``; the stand-in answers either shape,
chosen per path (``set_result(..., with_confidence=True)``).  Errors are HTTP
4xx/5xx with a JSON or a text body.

This module starts a real HTTP server on 127.0.0.1 in a background thread
(stdlib ``ThreadingHTTPServer``: one thread per connection, so slow or held
answers never block other requests) and gives tests a control API:

* ``set_result(path, video_tags=..., tag_timespans=..., with_confidence=False)``
  and ``set_raw_result(path, body, status=200)``;
* ``set_default(...)`` / ``set_default_error(...)`` / ``clear_default()`` for
  paths without a result (by default: 404 ``{"detail": "file not found"}``);
* ``fail(path_or_None, status=500, body=..., times=None)``;
* ``delay(seconds, path=None)``; ``dribble(interval, path=None)`` (the answer sent
  one byte every ``interval`` seconds, so only a total deadline ends the wait);
* ``hold(path=None)`` / ``release(path=None)`` with ``in_flight``, ``held``,
  ``wait_for_in_flight(n)`` / ``await wait_for_in_flight_async(n)``;
* ``requests`` (``RecordedRequest`` objects: JSON body + arrival time),
  ``max_in_flight``, ``wait_for_requests(n)`` / ``wait_for_requests_async(n)``;
* ``stop()`` / ``start()`` on the same port (unreachable mode), ``reset()``.

Model identity (off by default, so answers stay exactly what ``set_result`` built):
``set_model(models)`` (e.g. ``DEFAULT_MODELS``) adds to every 200 answer built by
``set_result``/``set_default`` the server's record ``json_result`` (its
``metadata.models`` name the models per category, with the request's frame
interval and threshold) and ``video_duration``, and makes ``GET
/v3/current_ai_models/`` list them (404 without a model, like an older server).
``set_realistic_default(duration=..., seed=...)`` answers every path without a
result of its own like the real server would (see ``video_tag_realistic``).
``set_mode("fail" | "slow" | "normal", ...)`` turns the whole server into a
failing one (every request 503) or a slow one (every answer delayed), or back.

The answer to a request (result, default, failure) is chosen when the request
*arrives*, in arrival order, so ``fail(times=1)`` hits the first request to
arrive; ``hold``/``delay`` only postpone sending it.  ``stop()`` aborts pending
(held or delayed) requests by closing their connection without an answer,
like a crashing server, and joins every thread it started.
"""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from tests.standins.dribble import dribble, http_answer_bytes
from tests.standins.video_tag_realistic import DEFAULT_MODELS, realistic_answer, server_record

__all__ = [
    "DEFAULT_MODELS",
    "ENDPOINT",
    "MODELS_ENDPOINT",
    "NOT_FOUND_BODY",
    "RecordedRequest",
    "VideoTagServer",
    "build_result",
]

ENDPOINT = "/process_video/"
MODELS_ENDPOINT = "/v3/current_ai_models/"
NOT_FOUND_BODY: dict[str, Any] = {"detail": "file not found"}
DEFAULT_ERROR_BODY: dict[str, Any] = {"detail": "internal server error"}
DEFAULT_CONFIDENCE = 0.9
_ALL = object()

TagSpec = str | tuple[str, float] | Mapping[str, Any]
SpanSpec = tuple[float, float] | Sequence[float] | Mapping[str, Any]
Body = Mapping[str, Any] | Sequence[Any] | str | bytes | None


# ---------------------------------------------------------------------------
# Result building
# ---------------------------------------------------------------------------


def _tag_name_conf(spec: TagSpec) -> tuple[str, float]:
    if isinstance(spec, str):
        return spec, DEFAULT_CONFIDENCE
    if isinstance(spec, Mapping):
        return str(spec["tag"]), float(spec.get("confidence", DEFAULT_CONFIDENCE))
    name, conf = spec  # type: ignore[misc]
    return str(name), float(conf)


def _span(spec: SpanSpec) -> dict[str, float]:
    if isinstance(spec, Mapping):
        extra = {
            k: float(v)
            for k, v in spec.items()
            if k in ("confidence", "totalConfidence") and v is not None
        }
        return {"start": float(spec["start"]), "end": float(spec["end"]), **extra}
    start, end = spec  # type: ignore[misc]
    return {"start": float(start), "end": float(end)}


def build_result(
    video_tags: Mapping[str, Iterable[TagSpec]] | None = None,
    tag_timespans: Mapping[str, Mapping[str, Iterable[SpanSpec]]] | None = None,
    *,
    with_confidence: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build a 200 answer body in the real server's shape.

    ``video_tags`` maps a category to tags; a tag is a name, a ``(name,
    confidence)`` pair or a ``{"tag": name, "confidence": c}`` mapping.
    Without ``with_confidence`` the answer lists bare names; with it, objects
    ``{"tag": name, "confidence": c}`` (confidence 0.9 when not given).
    ``tag_timespans`` maps category -> tag -> spans; a span is ``(start, end)``
    or ``{"start": s, "end": e}``.  ``extra`` keys are merged into
    ``video_tag_info`` (e.g. ``video_metadata``).
    """
    tags_out: dict[str, list[Any]] = {}
    for category, tags in (video_tags or {}).items():
        entries = []
        for spec in tags:
            name, conf = _tag_name_conf(spec)
            entries.append({"tag": name, "confidence": conf} if with_confidence else name)
        tags_out[str(category)] = entries
    spans_out: dict[str, dict[str, list[dict[str, float]]]] = {}
    for category, per_tag in (tag_timespans or {}).items():
        spans_out[str(category)] = {
            str(tag): [_span(s) for s in spans] for tag, spans in per_tag.items()
        }
    info: dict[str, Any] = {"video_tags": tags_out, "tag_timespans": spans_out}
    if extra:
        info.update(extra)
    return {"result": {"video_tag_info": info}}


# ---------------------------------------------------------------------------
# Records and rules
# ---------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request received by the stand-in (any method, any URL path)."""

    method: str
    http_path: str
    headers: dict[str, str]  # header names lower-cased
    raw: bytes
    body: Any  # the decoded JSON body, None when it was not valid JSON
    received_at: float  # time.monotonic() on arrival
    received_wall: float  # time.time() on arrival
    status: int | None = None  # status of the answer chosen on arrival
    answered_at: float | None = None  # time.monotonic() when the answer was sent
    aborted: bool = False  # the connection was closed without an answer

    @property
    def path(self) -> str | None:
        """The ``path`` field of the JSON body (the file as the AI server sees it)."""
        if isinstance(self.body, Mapping):
            value = self.body.get("path")
            return value if isinstance(value, str) else None
        return None


@dataclass(frozen=True)
class _Answer:
    status: int
    content_type: str
    payload: bytes


@dataclass
class _FailRule:
    path: str | None
    status: int
    body: Body
    remaining: int | None  # None = forever


def _encode(status: int, body: Body) -> _Answer:
    if body is None:
        return _Answer(status, "text/plain; charset=utf-8", b"")
    if isinstance(body, bytes):
        return _Answer(status, "application/octet-stream", body)
    if isinstance(body, str):
        return _Answer(status, "text/plain; charset=utf-8", body.encode("utf-8"))
    return _Answer(status, "application/json", json.dumps(body).encode("utf-8"))


@dataclass(frozen=True)
class _Structured:
    """A 200 answer built from tags and spans: the model identity is added on sending."""

    body: dict[str, Any]


@dataclass(frozen=True)
class _Realistic:
    """Answer each path as the real server would (``video_tag_realistic``)."""

    duration: float
    seed: int
    vocabulary: Mapping[str, Sequence[str]] | None


_Result = _Answer | _Structured | _Realistic


@dataclass
class _State:
    """Configuration that survives stop()/start(), cleared by reset()."""

    results: dict[str, _Result] = field(default_factory=dict)
    default: _Result = field(default_factory=lambda: _encode(404, NOT_FOUND_BODY))
    models: list[dict[str, Any]] | None = None
    fail_rules: list[_FailRule] = field(default_factory=list)
    delays: dict[str | None, float] = field(default_factory=dict)
    dribbles: dict[str | None, float] = field(default_factory=dict)
    hold_all: bool = False
    held_paths: set[str] = field(default_factory=set)


# ---------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    # One daemon thread per connection (so a forgotten stand-in never blocks
    # interpreter exit), tracked here and joined by stop().
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], owner: VideoTagServer) -> None:
        self.owner = owner
        self._conn_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):  # type: ignore[override]
        thread = threading.Thread(
            target=self._run_handler,
            args=(request, client_address),
            name=f"video-tag-standin-conn:{client_address[1]}",
            daemon=True,
        )
        with self._conn_lock:
            self._connections.add(request)
            self._handler_threads.add(thread)
        thread.start()

    def _run_handler(self, request, client_address) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._conn_lock:
                self._handler_threads.discard(threading.current_thread())

    def join_handlers(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self._conn_lock:
                threads = list(self._handler_threads)
            if not threads:
                return
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                return

    def shutdown_request(self, request):  # type: ignore[override]
        with self._conn_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Unblock handler threads waiting on idle keep-alive connections."""
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):  # type: ignore[override]
        # Clients going away (timeouts, cancelled requests, stop()) are normal here.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "VideoTagStandIn/1.0"
    timeout = 120  # safety net for idle connections; stop() does not rely on it
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body are separate writes: without this, Nagle + delayed ACK hold
        # every answer back 40 ms (real servers, uvicorn included, set it too).
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.server.owner._handle(self)

    def do_GET(self) -> None:
        self.server.owner._handle(self)

    def do_PUT(self) -> None:
        self.server.owner._handle(self)

    def do_DELETE(self) -> None:
        self.server.owner._handle(self)

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_answer(self, answer: _Answer) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.payload)))
        self.end_headers()
        self.wfile.write(answer.payload)
        self.wfile.flush()


# ---------------------------------------------------------------------------
# The stand-in
# ---------------------------------------------------------------------------


class VideoTagServer:
    """Video-tag server stand-in: a real HTTP server on 127.0.0.1.

    Use as ``server = VideoTagServer().start()`` ... ``server.stop()``, or as a
    context manager, or through the ``video_tag_server`` pytest fixture.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._port = port
        self._cond = threading.Condition()
        self._state = _State()
        self._requests: list[RecordedRequest] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._held = 0
        self._stopping = False
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lifecycle = threading.Lock()

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> Self:
        """Start serving (again); after a stop() the same port is reused."""
        with self._lifecycle:
            if self._httpd is not None:
                return self
            with self._cond:
                self._stopping = False
            httpd = _HTTPServer((self.host, self._port), self)
            self._port = httpd.server_address[1]
            thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"video-tag-standin:{self._port}",
                daemon=True,
            )
            self._httpd, self._thread = httpd, thread
            thread.start()
            return self

    def stop(self) -> None:
        """Stop serving: the URL refuses connections until start().

        Pending (held or delayed) requests are aborted: their connection is
        closed without an answer.  Returns once every server thread has ended.
        """
        with self._lifecycle:
            httpd, thread = self._httpd, self._thread
            if httpd is None:
                return
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
            httpd.shutdown()  # stop accepting; returns once serve_forever ended
            if thread is not None:
                thread.join()
            httpd.close_connections()
            httpd.server_close()
            httpd.join_handlers()
            self._httpd = self._thread = None

    close = stop

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the video-tag stand-in has never been started")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (without a trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def endpoint(self) -> str:
        return self.url + ENDPOINT

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._port else "not started"
        return f"<VideoTagServer {where} running={self.running}>"

    # -- results ------------------------------------------------------------

    def set_result(
        self,
        path: str,
        video_tags: Mapping[str, Iterable[TagSpec]] | None = None,
        tag_timespans: Mapping[str, Mapping[str, Iterable[SpanSpec]]] | None = None,
        with_confidence: bool = False,
        *,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Answer 200 with these tags for ``path``; returns the body it will send."""
        body = build_result(video_tags, tag_timespans, with_confidence=with_confidence, extra=extra)
        with self._cond:
            self._state.results[path] = _Structured(body)
        return body

    def set_raw_result(self, path: str, body: Body, status: int = 200) -> None:
        """Answer ``body`` (JSON for mappings/lists, text for str) for ``path``."""
        with self._cond:
            self._state.results[path] = _encode(status, body)

    def remove_result(self, path: str) -> None:
        with self._cond:
            self._state.results.pop(path, None)

    def set_default(
        self,
        video_tags: Mapping[str, Iterable[TagSpec]] | None = None,
        tag_timespans: Mapping[str, Mapping[str, Iterable[SpanSpec]]] | None = None,
        with_confidence: bool = False,
        *,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Answer 200 with these tags for every path without its own result."""
        body = build_result(video_tags, tag_timespans, with_confidence=with_confidence, extra=extra)
        with self._cond:
            self._state.default = _Structured(body)
        return body

    def set_realistic_default(
        self,
        duration: float = 600.0,
        seed: int = 0,
        vocabulary: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Answer every path without its own result like the real server: tags, spans
        and totals drawn per path (the same path, settings and seed: the same answer)."""
        with self._cond:
            self._state.default = _Realistic(float(duration), int(seed), vocabulary)

    def set_model(self, models: Sequence[Mapping[str, Any]] | None) -> None:
        """Report this model identity (``[{"name", "identifier", "version",
        "categories"}]``) in answers and at ``/v3/current_ai_models/``; None: none."""
        with self._cond:
            self._state.models = [dict(m) for m in models] if models else None

    def set_mode(self, mode: str, *, seconds: float = 1.0, status: int = 503) -> None:
        """The whole server: "fail" (every request ``status``), "slow" (every answer
        ``seconds`` late) or "normal" (no failure rules, no delays)."""
        if mode not in ("fail", "slow", "normal"):
            raise ValueError(f"unknown mode {mode!r}; use fail, slow or normal")
        with self._cond:
            self._state.fail_rules.clear()
            self._state.delays.clear()
        if mode == "fail":
            self.fail(None, status=status, body={"detail": "model server failing"})
        elif mode == "slow":
            self.delay(seconds)

    def set_default_error(self, status: int = 404, body: Body = None) -> None:
        """Answer an error for every path without its own result."""
        with self._cond:
            self._state.default = _encode(status, NOT_FOUND_BODY if body is None else body)

    def clear_default(self) -> None:
        """Back to the initial default: 404 ``{"detail": "file not found"}``."""
        self.set_default_error(404, NOT_FOUND_BODY)

    # -- failures, delays, holds --------------------------------------------

    def fail(
        self,
        path: str | None = None,
        status: int = 500,
        body: Body = None,
        times: int | None = None,
    ) -> None:
        """Answer an error to requests for ``path`` (None: any path).

        ``times`` limits it to the next N matching requests (None: until
        ``clear_failures()``).  ``body``: a mapping/list (JSON) or str (text);
        by default ``{"detail": "internal server error"}``.  Rules are tried in
        the order they were added.
        """
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        rule = _FailRule(path, status, DEFAULT_ERROR_BODY if body is None else body, times)
        with self._cond:
            self._state.fail_rules.append(rule)

    def clear_failures(self, path: str | None | object = _ALL) -> None:
        """Remove failure rules: all of them (no argument), those for ``path``,
        or (``None``) those that hit any path."""
        with self._cond:
            if path is _ALL:
                self._state.fail_rules.clear()
            else:
                self._state.fail_rules = [r for r in self._state.fail_rules if r.path != path]

    def delay(self, seconds: float | None, path: str | None = None) -> None:
        """Wait ``seconds`` before answering (``path`` None: every request).

        A per-path delay overrides the global one; 0/None removes the delay.
        Delays run in the request's own thread and never block other requests.
        """
        with self._cond:
            if not seconds or seconds <= 0:
                self._state.delays.pop(path, None)
            else:
                self._state.delays[path] = float(seconds)

    def dribble(self, interval: float | None, path: str | None = None) -> None:
        """Send answers (for ``path``, or all: None) one byte every ``interval`` seconds,
        status line and headers included; 0/None stops it."""
        with self._cond:
            if not interval or interval <= 0:
                self._state.dribbles.pop(path, None)
            else:
                self._state.dribbles[path] = float(interval)

    def hold(self, path: str | None = None) -> None:
        """Keep requests (for ``path``, or all of them) waiting until release()."""
        with self._cond:
            if path is None:
                self._state.hold_all = True
            else:
                self._state.held_paths.add(path)

    def release(self, path: str | None = None) -> None:
        """Let held requests go on: all of them (path None) or those for ``path``.

        ``release(path)`` does not lift a ``hold()`` of every path.
        """
        with self._cond:
            if path is None:
                self._state.hold_all = False
                self._state.held_paths.clear()
            else:
                self._state.held_paths.discard(path)
            self._cond.notify_all()

    def reset(self) -> None:
        """Forget results, default, failures, delays, holds and recorded requests."""
        with self._cond:
            self._state = _State()
            self._requests.clear()
            self._max_in_flight = self._in_flight
            self._cond.notify_all()

    # -- observation ----------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in arrival order (a copy)."""
        with self._cond:
            return list(self._requests)

    @property
    def request_paths(self) -> list[str | None]:
        """The JSON ``path`` of every request received, in arrival order."""
        return [r.path for r in self.requests]

    @property
    def in_flight(self) -> int:
        """Requests received and not answered yet."""
        with self._cond:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """Highest number of requests in flight at once seen so far."""
        with self._cond:
            return self._max_in_flight

    @property
    def held(self) -> int:
        """Requests waiting on a hold right now."""
        with self._cond:
            return self._held

    def _wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise TimeoutError(
                    f"video-tag stand-in: {what} within {timeout}s "
                    f"(in flight {self._in_flight}, received {len(self._requests)})"
                )

    async def _wait_async(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                if predicate():
                    return
            if time.monotonic() >= deadline:
                with self._cond:
                    raise TimeoutError(
                        f"video-tag stand-in: {what} within {timeout}s "
                        f"(in flight {self._in_flight}, received {len(self._requests)})"
                    )
            await asyncio.sleep(0.005)

    def wait_for_in_flight(self, n: int, timeout: float = 5.0) -> None:
        """Block until at least ``n`` requests are in flight (TimeoutError if not).

        Blocks the calling thread: from asyncio code use the async variant.
        """
        self._wait(lambda: self._in_flight >= n, timeout, f"no {n} requests in flight")

    async def wait_for_in_flight_async(self, n: int, timeout: float = 5.0) -> None:
        """Like wait_for_in_flight, but lets the event loop run meanwhile."""
        await self._wait_async(lambda: self._in_flight >= n, timeout, f"no {n} requests in flight")

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> None:
        """Block until at least ``n`` requests were received in total."""
        self._wait(lambda: len(self._requests) >= n, timeout, f"no {n} requests received")

    async def wait_for_requests_async(self, n: int, timeout: float = 5.0) -> None:
        await self._wait_async(
            lambda: len(self._requests) >= n, timeout, f"no {n} requests received"
        )

    # -- request handling (runs in handler threads) ----------------------------

    def _choose(self, rec: RecordedRequest, method: str) -> _Answer:
        """Pick the answer on arrival; caller holds self._cond."""
        url_path = rec.http_path.split("?", 1)[0]
        if url_path.rstrip("/") == MODELS_ENDPOINT.rstrip("/") and method == "GET":
            models = self._state.models
            return _encode(200, models) if models else _encode(404, {"detail": "Not Found"})
        if url_path.rstrip("/") != ENDPOINT.rstrip("/"):
            return _encode(404, {"detail": "Not Found"})
        if method != "POST":
            return _encode(405, {"detail": "Method Not Allowed"})
        if not isinstance(rec.body, Mapping):
            return _encode(422, {"detail": "request body must be a JSON object"})
        path = rec.path
        if path is None:
            return _encode(422, {"detail": "field 'path' is required and must be a string"})
        state = self._state
        for rule in state.fail_rules:
            if rule.path is None or rule.path == path:
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        state.fail_rules.remove(rule)
                return _encode(rule.status, rule.body)
        return self._render(state.results.get(path, state.default), rec.body)

    def _render(self, result: _Result, request: Mapping[str, Any]) -> _Answer:
        """The bytes of a result for this request; caller holds self._cond."""
        frame_interval = float(request.get("frame_interval") or 2.0)
        threshold = float(request.get("threshold") or 0.3)
        models = self._state.models
        if isinstance(result, _Realistic):
            return _encode(
                200,
                realistic_answer(
                    str(request.get("path")),
                    frame_interval=frame_interval,
                    threshold=threshold,
                    duration=result.duration,
                    seed=result.seed,
                    models=models,
                    vocabulary=result.vocabulary,
                ),
            )
        if isinstance(result, _Structured):
            if not models:
                return _encode(200, result.body)
            body = copy.deepcopy(result.body)
            info = body["result"]["video_tag_info"]
            ends = [
                span["end"]
                for per_tag in info.get("tag_timespans", {}).values()
                for spans in per_tag.values()
                for span in spans
            ]
            duration = float(info.setdefault("video_duration", max(ends, default=0.0)))
            body["result"]["json_result"] = server_record(
                models, duration=duration, frame_interval=frame_interval, threshold=threshold
            )
            return _encode(200, body)
        return result

    def _wait_for_stop(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._stopping, timeout=timeout)

    def _is_held(self, path: str | None) -> bool:
        return self._state.hold_all or (path is not None and path in self._state.held_paths)

    def _handle(self, handler: _Handler) -> None:
        try:
            raw = handler.read_body()
        except OSError:
            handler.close_connection = True
            return
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        rec = RecordedRequest(
            method=handler.command,
            http_path=handler.path,
            headers={k.lower(): v for k, v in handler.headers.items()},
            raw=raw,
            body=body,
            received_at=time.monotonic(),
            received_wall=time.time(),
        )
        path = rec.path
        with self._cond:
            self._requests.append(rec)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            answer = self._choose(rec, handler.command)
            rec.status = answer.status
            # Counted as held together with in flight, so a waiter sees both at once.
            held = self._is_held(path) and not self._stopping
            if held:
                self._held += 1
            self._cond.notify_all()
        counted_down = False
        try:
            with self._cond:
                if held:
                    try:
                        self._cond.wait_for(lambda: self._stopping or not self._is_held(path))
                    finally:
                        self._held -= 1
                seconds = self._state.delays.get(path, self._state.delays.get(None, 0.0))
                if seconds > 0 and not self._stopping:
                    self._cond.wait_for(lambda: self._stopping, timeout=seconds)
                aborted = self._stopping
                interval = self._state.dribbles.get(path, self._state.dribbles.get(None))
                # No longer in flight once answered: counted down before sending, so a
                # client holding the answer never still sees its request in flight.
                self._in_flight -= 1
                counted_down = True
                self._cond.notify_all()
            if aborted:
                rec.aborted = True
                handler.close_connection = True
                return
            # Stamped before sending, so it is set once the client has the answer.
            rec.answered_at = time.monotonic()
            if interval:
                handler.close_connection = True
                if not dribble(
                    handler.wfile,
                    http_answer_bytes(answer.status, answer.payload, answer.content_type),
                    interval,
                    self._wait_for_stop,
                ):
                    rec.aborted = True
                return
            try:
                handler.send_answer(answer)
            except OSError:
                rec.aborted = True
                handler.close_connection = True
        finally:
            if not counted_down:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()
