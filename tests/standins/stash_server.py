"""A real HTTP GraphQL stand-in for a Stash server, for integration tests.

:class:`StashStandin` listens on ``127.0.0.1`` (port 0 = a free port) in a
background thread, so both sync and asyncio tests can talk to it. Clients POST
``{"query", "variables", "operationName"}`` to ``server.url + "/graphql"``.
Every document is validated with graphql-core against ``stash_schema.graphql``
(a hand-written subset of upstream Stash's schema) and executed against
in-memory data that tests seed and inspect directly.

Behaviour copied from real Stash (the things StashDesk's logic relies on):

* Timestamps (``created_at``/``updated_at``) are stored as RFC3339 text in the
  server's *local* zone, to the second (``2026-03-01T10:15:30+05:30``; ``Z`` only
  for a zero offset). Timestamp criteria compare the filter value with that text
  *as strings*; BETWEEN without ``value2`` uses "now + 1 day" as upper bound.
  The zone is configurable (``tz="+05:30"`` default, or ``"America/New_York"``)
  and the clock injectable (:meth:`freeze_time`, :meth:`advance`, ``clock``).
  Every mutation touching a scene bumps its ``updated_at``.
* Filters: the fields of one filter object are ANDed; at most one of AND / OR /
  NOT per level ("cannot have AND and OR in the same filter"); ``OR`` means
  ``own OR sub``, ``NOT`` means ``own AND NOT sub``; with no own criteria the
  sub-filter stands alone. String EQUALS is case-insensitive; INCLUDES matches
  when *any* whitespace-separated word occurs (a quoted value is one phrase);
  EXCLUDES when none does; missing values satisfy the negative modifiers.
  ``FindFilterType.q``: every word must occur (case-insensitive) in one of the
  searched columns; ``-word`` excludes, ``"a phrase"`` stays whole.
* Paging: ``page`` is 1-based, ``per_page`` defaults to 25, ``-1`` means all,
  ``0`` returns the count only; ties are always broken by id ascending, and
  ``count`` is the number of matches regardless of paging. Unknown sort keys
  are an error; ``random``/``random_<seed>`` sorts by id. A non-empty ``ids``
  argument bypasses filter, q, sort and paging (results in ``ids`` order) and
  an unknown id is an error ("scene with id 7 not found"), as in Stash;
  ``findScene(id)`` of an unknown id is ``null``.
* Jobs: metadataScan/metadataGenerate queue a READY job ("Scanning..." /
  "Generating...") and return its id. ``jobQueue`` lists READY/RUNNING/STOPPING
  jobs and is ``null`` (not ``[]``) when empty, like Stash. ``findJob`` sees the
  queue plus the last ``graveyard_size`` (10) finished jobs, else ``null``.
  ``stopJob`` always answers true; a READY job becomes CANCELLED at once (no
  endTime), a RUNNING one STOPPING, turned CANCELLED (with endTime) by the next
  observation (after ``stopping_observations`` further STOPPING answers).
  metadataIdentify / metadataAutoTag queue "Identifying..." / "Auto-tagging..." jobs;
  a finished scan adds scenes for the new videos it finds (``library_map``).
* Subscriptions: ``jobsSubscribe`` over a WebSocket on ``/graphql``
  (:mod:`tests.standins.stash_websocket`): ADD, UPDATE and REMOVE (final state) as
  Stash's job manager sends them. While someone subscribes, scripted jobs advance by
  themselves every ``job_step_seconds``. Faults: :meth:`refuse_websockets`,
  :meth:`drop_websockets`.
* Every answer carries a ``Date`` header from the stand-in's clock, as Go's server
  writes it from the clock that stamps ``updated_at``.
* Media: ``paths.screenshot`` is ``<url>/scene/<id>/screenshot?t=<updated_at epoch>``
  and a GET of it serves the scene's cover (``covers[id]``, else a small PNG of its
  own), behind the API key like everything else; 404 for an unknown scene.
* Configuration: ``configuration { ui }`` answers ``ui_config`` (e.g. ``vrTag``).
* Tags: ``tagCreate`` takes ``ignore_auto_tag`` and ``parent_ids`` (unknown parents
  are an error), kept on the tag (``parents``/``children`` resolve them).
* Errors: a bad API key gets HTTP 401 with ``WWW-Authenticate: FormBased`` and an
  empty body; an unparsable or invalid document gets HTTP 422 with
  ``{"errors": [...], "data": null}``; a resolver error gets HTTP 200 with
  ``errors`` and ``data`` nulled up to the nearest nullable field.

Test controls (all thread-safe): seeding (:meth:`add_scene`, :meth:`edit_scene`,
``stash_boxes``, ``identify_defaults``, ``library_map``, ...), job control
(:meth:`set_job`, :meth:`add_external_job`, ``job_script``),
faults (:meth:`fail_http`, :meth:`fail_graphql`, :meth:`malformed`,
:meth:`slow`, :meth:`dribble`, ``api_key``, :meth:`stop`/:meth:`start`), and the request log
(``requests``, :meth:`operations`, :meth:`requests_for`).
"""

from __future__ import annotations

import dataclasses
import email.utils
import functools
import hashlib
import itertools
import json
import re
import socket
import struct
import threading
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    execute_sync,
    parse,
    validate,
)

from tests.standins.dribble import dribble, http_answer_bytes
from tests.standins.stash_pages import PrebuiltScenePages
from tests.standins.stash_websocket import (
    JobEvents,
    WebSocketSession,
    accept_key,
    choose_subprotocol,
)

SCHEMA_PATH = Path(__file__).with_name("stash_schema.graphql")
ACTIVE_JOB_STATES = ("READY", "RUNNING", "STOPPING")
VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".m4v", ".mov", ".avi", ".wmv", ".webm", ".ts"})
FINISHED_JOB_STATES = ("FINISHED", "CANCELLED", "FAILED")
JOB_STATES = (*ACTIVE_JOB_STATES, *FINISHED_JOB_STATES)
# (HTTP status or None to drop the connection, body, content type, extra headers)
_Answer = tuple[Any, bytes, str, dict[str, str]]
_UNSET: Any = object()


class StashError(Exception):
    """An error a resolver reports to the client, as Stash would."""


def _real_clock() -> datetime:
    return datetime.now(UTC)


# ----------------------------------------------------------------------------- time


def parse_tz(spec: str | tzinfo) -> tzinfo:
    """``"+05:30"``, ``"-04:00"``, ``"Z"``/``"UTC"``, a zoneinfo name, or a tzinfo."""
    if isinstance(spec, tzinfo):
        return spec
    if spec in ("Z", "UTC"):
        return UTC
    match = re.fullmatch(r"([+-])(\d\d):?(\d\d)", spec)
    if match:
        sign = 1 if match[1] == "+" else -1
        return timezone(sign * timedelta(hours=int(match[2]), minutes=int(match[3])))
    return ZoneInfo(spec)


def rfc3339(dt: datetime, tz: tzinfo, *, fraction: bool = False) -> str:
    """Format like Go's RFC3339 (``fraction``: RFC3339Nano, trailing zeros trimmed)."""
    local = dt.astimezone(tz)
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction and local.microsecond:
        text += f".{local.microsecond:06d}".rstrip("0")
    offset = local.utcoffset() or timedelta(0)
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


# ----------------------------------------------------------------------------- records


@dataclass
class Entity:
    """A tag, performer or studio. ``alias_list`` is the performer spelling."""

    id: str
    name: str
    aliases: list[str]
    created_at: str
    updated_at: str
    description: str | None = None
    disambiguation: str | None = None
    details: str | None = None
    ignore_auto_tag: bool = False
    parent_ids: list[str] = field(default_factory=list)

    @property
    def alias_list(self) -> list[str]:
        return self.aliases


@dataclass
class VideoFile:
    id: str
    path: str
    size: int
    duration: float
    created_at: str
    updated_at: str
    width: int = 1920
    height: int = 1080
    format: str = "mp4"
    video_codec: str = "h264"
    audio_codec: str = "aac"
    frame_rate: float = 30.0
    bit_rate: int = 8_000_000

    @property
    def basename(self) -> str:
        return PurePosixPath(self.path).name

    @property
    def mod_time(self) -> str:
        return self.created_at

    @property
    def fingerprints(self) -> list[dict[str, str]]:
        oshash = hashlib.sha1(self.path.encode()).hexdigest()[:16]
        return [{"type": "oshash", "value": oshash}]


@dataclass
class Scene:
    id: str
    created_at: str
    updated_at: str
    title: str | None = None
    details: str | None = None
    date: str | None = None
    rating100: int | None = None
    organized: bool = False
    files: list[VideoFile] = field(default_factory=list)
    tag_ids: list[str] = field(default_factory=list)
    performer_ids: list[str] = field(default_factory=list)
    studio_id: str | None = None


@dataclass
class Marker:
    id: str
    scene_id: str
    title: str
    seconds: float
    primary_tag_id: str
    created_at: str
    updated_at: str
    end_seconds: float | None = None
    tag_ids: list[str] = field(default_factory=list)


@dataclass
class Job:
    """A Stash job. ``kind`` is scan/generate/external; ``input`` what the client sent."""

    id: str
    description: str
    add_time: str
    kind: str
    input: dict[str, Any] | None = None
    status: str = "READY"
    progress: float | None = None
    sub_tasks: list[str] | None = None
    start_time: str | None = None
    end_time: str | None = None
    error: str | None = None
    script: list[tuple[str, float | None]] = field(default_factory=list)
    cancel_pending: bool = False
    stopping_left: int = 0


@dataclass
class RecordedRequest:
    """One HTTP request as received (``status`` is what the stand-in answered)."""

    time: datetime
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: str | None = None
    variables: dict[str, Any] | None = None
    operation_name: str | None = None
    operation_type: str | None = None
    root_fields: list[str] = field(default_factory=list)
    status: int | None = None

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    def names(self) -> set[str]:
        return set(self.root_fields) | ({self.operation_name} if self.operation_name else set())


@dataclass
class Fault:
    """An injected failure. ``operation`` (root field or operation name) scopes it;
    ``times`` limits it (None = until cleared); ``hits`` counts uses."""

    kind: str  # http | graphql_error | not_json | no_data | truncated | slow | dribble
    operation: str | None = None
    times: int | None = None
    status: int = 500
    body: str = "Internal Server Error"
    message: str = "stand-in: injected error"
    delay: float = 0.0
    hits: int = 0

    def matches(self, request: RecordedRequest) -> bool:
        live = self.times is None or self.hits < self.times
        return live and (self.operation is None or self.operation in request.names())


# ----------------------------------------------------------------------------- filters


def _words(value: str) -> list[str]:
    """Stash's INCLUDES/EXCLUDES terms: the words, or one phrase when quoted."""
    stripped = value.strip()
    if len(stripped) > 1 and stripped.startswith('"') and stripped.endswith('"'):
        return [stripped.strip('"').casefold()]
    return stripped.casefold().split()


def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise StashError(f"error parsing regexp: {exc}") from None


def match_string(values: Iterable[str | None], crit: dict[str, Any]) -> bool:
    """StringCriterionInput over one or more column values (e.g. each file path)."""
    mod, wanted = crit["modifier"], crit["value"]
    present = [v for v in values if v]
    if mod == "IS_NULL":
        return not present
    if mod == "NOT_NULL":
        return bool(present)
    tests: dict[str, Callable[[str], bool]] = {
        "EQUALS": lambda v: v.casefold() == wanted.casefold(),
        "INCLUDES": lambda v: any(w in v.casefold() for w in _words(wanted)),
        "MATCHES_REGEX": lambda v: _regex(wanted).search(v) is not None,
    }
    negations = {
        "NOT_EQUALS": "EQUALS",
        "EXCLUDES": "INCLUDES",
        "NOT_MATCHES_REGEX": "MATCHES_REGEX",
    }
    if mod in tests:
        return any(tests[mod](v) for v in present)
    if mod in negations:
        return not any(tests[negations[mod]](v) for v in present)
    raise StashError(f"unsupported string modifier {mod}")


def _compare(value: Any, crit: dict[str, Any], upper_default: Any = None) -> bool:
    mod, low = crit["modifier"], crit["value"]
    if mod == "IS_NULL":
        return value in (None, "")
    if mod == "NOT_NULL":
        return value not in (None, "")
    if value is None:
        return False
    high = crit.get("value2")
    if high is None:
        high = upper_default
    inside = low <= value and (high is None or value <= high)
    results = {
        "EQUALS": lambda: value == low,
        "NOT_EQUALS": lambda: value != low,
        "GREATER_THAN": lambda: value > low,
        "LESS_THAN": lambda: value < low,
        "BETWEEN": lambda: inside,
        "NOT_BETWEEN": lambda: not inside,
    }
    if mod not in results:
        raise StashError(f"unsupported modifier {mod} for this criterion")
    return results[mod]()


def match_multi(have: Iterable[str], crit: dict[str, Any]) -> bool:
    """(Hierarchical)MultiCriterionInput; ``depth`` is ignored (no tag hierarchy)."""
    have, mod = set(have), crit["modifier"]
    value, excludes = set(crit.get("value") or ()), set(crit.get("excludes") or ())
    if mod == "IS_NULL":
        return not have
    if mod == "NOT_NULL":
        return bool(have)
    if have & excludes:
        return False
    if mod == "INCLUDES":
        return not value or bool(have & value)
    if mod == "INCLUDES_ALL":
        return value <= have
    if mod == "EXCLUDES":
        return not have & value
    if mod == "EQUALS":
        return have == value
    raise StashError(f"unsupported modifier {mod} for a multi criterion")


def match_search(q: str | None, columns: Iterable[str | None]) -> bool:
    """FindFilterType.q: every word in some column; ``-word`` must be in none."""
    if not q or not q.strip():
        return True
    texts = [c.casefold() for c in columns if c]
    terms = re.findall(r'-?"[^"]*"|\S+', q.casefold())
    for term in terms:
        negate = term.startswith("-") and len(term) > 1
        word = term[1:] if negate else term
        found = any(word.strip('"') in t for t in texts)
        if found == negate:
            return False
    return True


def check_filter_combination(filter_: dict[str, Any] | None) -> None:
    """Stash rejects more than one of AND / OR / NOT on the same level."""
    while filter_:
        used = [op for op in ("AND", "OR", "NOT") if filter_.get(op) is not None]
        if len(used) > 1:
            raise StashError(f"cannot have {used[0]} and {used[1]} in the same filter")
        filter_ = filter_.get(used[0]) if used else None


def match_filter(filter_: dict[str, Any] | None, obj: Any, criteria: dict[str, Callable]) -> bool:
    """Stash semantics: own fields ANDed, then combined with the AND/OR/NOT sub-filter."""
    if not filter_:
        return True
    own = [
        check(obj, filter_[key]) for key, check in criteria.items() if filter_.get(key) is not None
    ]
    op = next((op for op in ("AND", "OR", "NOT") if filter_.get(op) is not None), None)
    if op is None:
        return all(own)
    sub = match_filter(filter_[op], obj, criteria)
    if op == "AND":
        return all(own) and sub
    if op == "OR":
        return (all(own) or sub) if own else sub
    return (all(own) and not sub) if own else not sub


def _null_first(value: Any) -> tuple[bool, Any]:
    return (value is not None, value)


# ----------------------------------------------------------------------------- server


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every handler thread
    standin: StashStandin

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.conn_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.conn_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # dropped connections are expected in fault tests; bugs land in internal_errors


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # headers and body are separate writes: without this, Nagle + delayed ACK add 40 ms
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        self.server.standin._serve(self)

    def do_GET(self) -> None:
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self.server.standin._serve_websocket(self)
        else:
            self.server.standin._serve(self)

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header from the stand-in's clock, as Go's server writes it from
        the same clock Stash stamps ``updated_at`` with."""
        when = (
            self.server.standin.clock()
            if timestamp is None
            else datetime.fromtimestamp(timestamp, UTC)
        )
        return email.utils.format_datetime(when.astimezone(UTC), usegmt=True)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class StashStandin:
    """In-memory Stash behind a real HTTP GraphQL endpoint. See the module docstring.

    Attributes:
        scenes, tags, performers, studios, markers, jobs: the data, keyed by id.
        requests: every request received, in order (:class:`RecordedRequest`).
        faults: active :class:`Fault` objects.
        api_key: when set, requests need header ``ApiKey: <key>``.
        clock: callable returning an aware datetime (see :meth:`freeze_time`).
        job_script: (status, progress) steps copied into each new scan/generate
            job; each ``findJob`` of that job applies the next step.
        stopping_observations: STOPPING answers before a stopped job is CANCELLED.
        graveyard_size: finished jobs ``findJob`` still knows (Stash keeps 10).
        version_info, system_status: what ``version`` / ``systemStatus`` return.
        internal_errors: stand-in bugs (not injected faults); should stay empty.
        prebuilt: pre-rendered ``findScenes`` answers served instead of executing
            the document (see tests/standins/stash_pages.py), for benchmarks.
    """

    def __init__(self, *, tz: str | tzinfo = "+05:30", host: str = "127.0.0.1", port: int = 0):
        self.tz = tz
        self.host, self.port = host, port
        self.clock: Callable[[], datetime] = _real_clock
        self._frozen = _real_clock()
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        kinds = ("scene", "tag", "performer", "studio", "marker", "file", "job")
        self._ids = {kind: itertools.count(1) for kind in kinds}  # per table, like SQLite
        self.scenes: dict[str, Scene] = {}
        self.tags: dict[str, Entity] = {}
        self.performers: dict[str, Entity] = {}
        self.studios: dict[str, Entity] = {}
        self.markers: dict[str, Marker] = {}
        self.jobs: dict[str, Job] = {}
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.internal_errors: list[BaseException] = []
        self.api_key: str | None = None
        self.prebuilt: PrebuiltScenePages | None = None
        self.ui_config: dict[str, Any] = {}
        self.covers: dict[str, bytes] = {}
        self.job_script: list[tuple[str, float | None]] | None = None
        self.stopping_observations = 0
        self.graveyard_size = 10
        self._graveyard: list[str] = []
        self.job_events = JobEvents()
        self.websockets: list[WebSocketSession] = []
        self.websocket_refusal: int | None = None
        self.keepalive_seconds = 10.0
        self.job_step_seconds = 0.05
        self._ticker: threading.Thread | None = None
        self.stash_boxes: list[dict[str, str]] = []
        self.library_map: dict[str, Path] = {}
        self.identify_defaults: dict[str, Any] | None = None
        self.version_info = {
            "version": "v0.28.1",
            "hash": "cf3489e",
            "build_time": "2026-01-11 00:00:00",
        }
        # What `configuration` answers besides the stash-boxes and identify defaults below
        # (only what StashDesk reads; set to change): the library folders, the UI settings.
        self.configuration: dict[str, Any] = {
            "general": {
                "stashes": [{"path": "/data", "excludeVideo": False, "excludeImage": False}]
            },
        }
        self.system_status = {
            "databaseSchema": 75,
            "databasePath": "/root/.stash/stash-go.sqlite",
            "configPath": "/root/.stash/config.yml",
            "appSchema": 75,
            "status": "OK",
            "os": "linux",
            "workingDir": "/root",
            "homeDir": "/root",
        }

    # ------------------------------------------------------------------ lifecycle

    @property
    def tz(self) -> tzinfo:
        return self._tz

    @tz.setter
    def tz(self, spec: str | tzinfo) -> None:
        self._tz = parse_tz(spec)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``; stays the same across stop()/start()."""
        if not self.port:
            raise RuntimeError("stand-in not started yet")
        return f"http://{self.host}:{self.port}"

    @property
    def graphql_url(self) -> str:
        return self.url + "/graphql"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def start(self) -> StashStandin:
        """Listen (again) on the same port; port 0 on the first start picks a free one."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HTTPServer((self.host, self.port), _Handler)
        httpd.standin = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"stash-standin-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._ticker = threading.Thread(
            target=self._tick_jobs, name=f"stash-jobs-{self.port}", daemon=True
        )
        self._ticker.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop open connections; the server becomes unreachable."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._stopping.set()  # wakes handlers sleeping in a `slow` fault (and the ticker)
        self.drop_websockets()
        httpd.shutdown()
        with httpd.conn_lock:
            connections = list(httpd.connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        httpd.server_close()  # joins handler threads
        thread.join()
        if self._ticker is not None:
            self._ticker.join()
        self._httpd = self._thread = self._ticker = None

    def __enter__(self) -> StashStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ clock

    def now(self) -> datetime:
        return self.clock().astimezone(self.tz)

    def stamp(self, when: datetime | None = None) -> str:
        """What Stash would store for ``when`` (default now): RFC3339, local zone, seconds."""
        return rfc3339(when or self.clock(), self.tz)

    def freeze_time(self, when: datetime | str | None = None) -> datetime:
        """Freeze the clock at ``when`` (naive = server-local; default: now)."""
        if isinstance(when, str):
            when = datetime.fromisoformat(when)
        when = when or self.clock()
        self._frozen = when if when.tzinfo else when.replace(tzinfo=self.tz)
        self.clock = self._frozen_clock
        return self._frozen

    def advance(self, seconds: float = 1.0) -> datetime:
        """Move the clock forward (freezing it first if it is not frozen)."""
        if self.clock != self._frozen_clock:
            self.freeze_time()
        # In UTC: aware arithmetic in a DST zone is wall-clock arithmetic, which would
        # step over (or never reach) the hour a DST change skips or repeats.
        self._frozen = self._frozen.astimezone(UTC) + timedelta(seconds=seconds)
        return self._frozen

    def unfreeze(self) -> None:
        self.clock = _real_clock

    def _frozen_clock(self) -> datetime:
        return self._frozen

    # ------------------------------------------------------------------ seeding

    def _next(self, kind: str) -> str:
        return str(next(self._ids[kind]))

    def _stored(self, value: datetime | str | None) -> str:
        """Explicit timestamps: a datetime is formatted, a string stored verbatim."""
        if value is None:
            return self.stamp()
        return value if isinstance(value, str) else self.stamp(value)

    def _by_name(self, table: dict[str, Entity], name: str) -> Entity | None:
        folded = name.casefold()
        return next((e for e in table.values() if e.name.casefold() == folded), None)

    def _add_entity(
        self, table: dict[str, Entity], kind: str, name: str, aliases: Iterable[str], **extra: Any
    ) -> str:
        """Create a tag/performer/studio; names are unique (case-insensitive) as in Stash."""
        with self._lock:
            folded = name.casefold()
            for other in table.values():
                if kind == "performer" and other.disambiguation != extra.get("disambiguation"):
                    continue
                if other.name.casefold() == folded:
                    raise StashError(f"{kind} with name '{name}' already exists")
                if kind == "tag" and folded in (a.casefold() for a in other.aliases):
                    raise StashError(f"name '{name}' is used as alias for '{other.name}'")
            now = self.stamp()
            entity = Entity(self._next(kind), name, list(aliases), now, now, **extra)
            table[entity.id] = entity
            return entity.id

    def add_tag(
        self, name: str, aliases: Iterable[str] = (), description: str | None = None
    ) -> str:
        return self._add_entity(self.tags, "tag", name, aliases, description=description)

    def add_performer(
        self, name: str, aliases: Iterable[str] = (), disambiguation: str | None = None
    ) -> str:
        return self._add_entity(
            self.performers, "performer", name, aliases, disambiguation=disambiguation
        )

    def add_studio(self, name: str, aliases: Iterable[str] = (), details: str | None = None) -> str:
        return self._add_entity(self.studios, "studio", name, aliases, details=details)

    def _ensure(self, table: dict[str, Entity], kind: str, name: str) -> str:
        found = self._by_name(table, name)
        return found.id if found else self._add_entity(table, kind, name, ())

    def tag_id(self, name: str) -> str | None:
        found = self._by_name(self.tags, name)
        return found.id if found else None

    def add_scene(
        self,
        title: str | None = None,
        path: str | Sequence[str] | None = None,
        *,
        size: int = 1_000_000_000,
        duration: float = 1800.0,
        width: int = 1920,
        height: int = 1080,
        details: str | None = None,
        date: str | None = None,
        rating100: int | None = None,
        organized: bool = False,
        tags: Iterable[str] = (),
        performers: Iterable[str] = (),
        studio: str | None = None,
        markers: Iterable[dict[str, Any] | tuple] = (),
        created_at: datetime | str | None = None,
        updated_at: datetime | str | None = None,
    ) -> str:
        """Create a scene; tags/performers/studio are names, created when missing.

        ``path`` may be a list for a multi-file scene (first = primary); default
        ``/data/videos/scene-<id>.mp4``. ``markers``: dicts (title, seconds,
        primary_tag, end_seconds, tags) or (title, seconds, primary_tag) tuples.
        """
        with self._lock:
            scene_id = self._next("scene")
            created = self._stored(created_at)
            default_path = f"/data/videos/scene-{scene_id}.mp4"
            paths = [path] if isinstance(path, str) else list(path or [default_path])
            files = [
                VideoFile(self._next("file"), p, size, duration, created, created, width, height)
                for p in paths
            ]
            scene = Scene(
                scene_id,
                created,
                self._stored(updated_at or created),
                title,
                details,
                date,
                rating100,
                organized,
                files,
                [self._ensure(self.tags, "tag", n) for n in tags],
                [self._ensure(self.performers, "performer", n) for n in performers],
                self._ensure(self.studios, "studio", studio) if studio else None,
            )
            self.scenes[scene_id] = scene
            for spec in markers:
                if isinstance(spec, tuple):
                    spec = dict(zip(("title", "seconds", "primary_tag"), spec, strict=False))
                self.add_marker(scene_id, touch=False, **spec)
            return scene_id

    def add_marker(
        self,
        scene_id: str,
        title: str,
        seconds: float,
        primary_tag: str,
        *,
        end_seconds: float | None = None,
        tags: Iterable[str] = (),
        touch: bool = True,
    ) -> str:
        """Add a marker (tags by name); ``touch`` bumps the scene's updated_at."""
        with self._lock:
            scene = self.scenes[scene_id]
            now = self.stamp()
            marker = Marker(
                self._next("marker"),
                scene_id,
                title,
                seconds,
                self._ensure(self.tags, "tag", primary_tag),
                now,
                now,
                end_seconds,
                [self._ensure(self.tags, "tag", n) for n in tags],
            )
            self.markers[marker.id] = marker
            if touch:
                scene.updated_at = now
            return marker.id

    def edit_scene(self, scene_id: str, **changes: Any) -> Scene:
        """Edit as a Stash user would; bumps updated_at unless ``updated_at=`` is given.

        Accepts title, details, date, rating100, organized, tags/performers (names,
        replacing), studio (name or None), path (primary file), updated_at.
        """
        with self._lock:
            scene = self.scenes[scene_id]
            for key, value in changes.items():
                if key in ("title", "details", "date", "rating100", "organized"):
                    setattr(scene, key, value)
                elif key == "tags":
                    scene.tag_ids = [self._ensure(self.tags, "tag", n) for n in value]
                elif key == "performers":
                    scene.performer_ids = [
                        self._ensure(self.performers, "performer", n) for n in value
                    ]
                elif key == "studio":
                    scene.studio_id = self._ensure(self.studios, "studio", value) if value else None
                elif key == "path":
                    scene.files[0].path = value
                elif key != "updated_at":
                    raise TypeError(f"edit_scene() got an unexpected field {key!r}")
            scene.updated_at = self._stored(changes.get("updated_at"))
            return scene

    def delete_scene(self, scene_id: str) -> None:
        with self._lock:
            del self.scenes[scene_id]
            for marker_id in [m.id for m in self.markers.values() if m.scene_id == scene_id]:
                del self.markers[marker_id]

    def scene_markers(self, scene_id: str) -> list[Marker]:
        """A scene's markers in Stash's order (by seconds)."""
        markers = [m for m in self.markers.values() if m.scene_id == scene_id]
        return sorted(markers, key=lambda m: (m.seconds, int(m.id)))

    # ------------------------------------------------------------------ jobs

    def _create_job(self, description: str, kind: str, input: dict[str, Any] | None) -> Job:
        added = rfc3339(self.clock(), self.tz, fraction=True)  # Go's time.Now(): nanoseconds
        job = Job(self._next("job"), description, added, kind, input)
        self.jobs[job.id] = job
        self._publish_job(job, "ADD")
        return job

    def _publish_job(self, job: Job, kind: str | None = None) -> None:
        """Tell the subscriptions (``jobsSubscribe``), as Stash's job manager does: UPDATE
        while the job is queued or runs, REMOVE (with its final state, sub-tasks cleared)
        once it left the queue. A copy: later changes must not alter what was sent."""
        if kind is None:
            kind = "REMOVE" if job.status in FINISHED_JOB_STATES else "UPDATE"
        self.job_events.publish({"type": kind, "job": dataclasses.replace(job)})

    def _tick_jobs(self) -> None:
        """Real Stash runs its jobs by itself: while someone subscribes, each scripted job
        takes its next step every ``job_step_seconds`` (as a ``findJob`` would)."""
        while not self._stopping.wait(self.job_step_seconds):
            if not self.job_events.count:
                continue
            with self._lock:
                for job in list(self.jobs.values()):
                    if job.script and job.status not in FINISHED_JOB_STATES:
                        self._observe(job, poll=True)

    def _apply_status(self, job: Job, status: str) -> None:
        if status not in JOB_STATES:
            raise ValueError(f"unknown job status {status!r}; use one of {JOB_STATES}")
        now = rfc3339(self.clock(), self.tz, fraction=True)
        if status in ("RUNNING", "STOPPING") and job.start_time is None:
            job.start_time = now
        if status in FINISHED_JOB_STATES and job.status not in FINISHED_JOB_STATES:
            job.end_time = job.end_time or now
            job.sub_tasks = None
            self._graveyard = [*self._graveyard, job.id][-self.graveyard_size :]
            if status == "FINISHED" and job.kind == "scan":
                self._scan_into_scenes((job.input or {}).get("paths"))
        job.status = status

    def set_job(
        self,
        job_id: str,
        *,
        status: str | None = None,
        progress: float | None = _UNSET,
        description: str | None = None,
        error: str | None = _UNSET,
        sub_tasks: list[str] | None = _UNSET,
    ) -> Job:
        """Move a job as Stash would (RUNNING sets startTime, FINISHED/FAILED/CANCELLED endTime)."""
        with self._lock:
            job = self.jobs[job_id]
            if progress is not _UNSET:
                job.progress = progress
            if error is not _UNSET:
                job.error = error
            if sub_tasks is not _UNSET:
                job.sub_tasks = sub_tasks
            if description is not None:
                job.description = description
            was = job.status
            if status is not None:
                self._apply_status(job, status)
            if was not in FINISHED_JOB_STATES:
                self._publish_job(job)
            return job

    def _scan_into_scenes(self, paths: list[str] | None) -> None:
        """A finished scan adds a scene for each new video file under the scanned paths,
        as Stash sees them: ``library_map`` maps a Stash path to the folder on this disk."""
        known = {f.path for scene in self.scenes.values() for f in scene.files}
        for prefix, folder in self.library_map.items():
            for scanned in paths or [prefix]:
                if scanned != prefix and not scanned.startswith(prefix.rstrip("/") + "/"):
                    continue
                local = Path(folder) / scanned[len(prefix) :].lstrip("/")
                found = sorted(local.rglob("*")) if local.is_dir() else [local]
                for path in found:
                    if not path.is_file() or path.suffix.lower() not in VIDEO_SUFFIXES:
                        continue
                    relative = path.relative_to(folder).as_posix()
                    stash_path = prefix.rstrip("/") + "/" + relative
                    if stash_path not in known:
                        known.add(stash_path)
                        self.add_scene(path=stash_path, size=path.stat().st_size)

    def script_job(self, job_id: str, steps: Iterable[tuple[str, float | None]]) -> None:
        """Each following ``findJob`` of this job applies the next (status, progress) step."""
        with self._lock:
            self.jobs[job_id].script = list(steps)

    def add_external_job(
        self,
        description: str,
        status: str = "RUNNING",
        progress: float | None = None,
        sub_tasks: list[str] | None = None,
        kind: str = "external",
    ) -> str:
        """A job someone started in Stash's own UI (e.g. a library scan)."""
        with self._lock:
            job = self._create_job(description, kind, None)
            self.set_job(job.id, status=status, progress=progress, sub_tasks=sub_tasks)
            return job.id

    def _observe(self, job: Job, *, poll: bool) -> None:
        if job.cancel_pending and job.status == "STOPPING":
            if job.stopping_left > 0:
                job.stopping_left -= 1
            else:
                self._apply_status(job, "CANCELLED")
                self._publish_job(job)
        elif poll and job.script and job.status not in FINISHED_JOB_STATES:
            status, progress = job.script.pop(0)
            job.progress = progress
            self._apply_status(job, status)
            self._publish_job(job)

    def _stop_job(self, job: Job) -> None:
        if job.status == "READY":
            job.status = "CANCELLED"  # never started: no endTime, as in Stash
            self._graveyard = [*self._graveyard, job.id][-self.graveyard_size :]
            self._publish_job(job)
        elif job.status == "RUNNING":
            job.cancel_pending, job.stopping_left = True, self.stopping_observations
            self._apply_status(job, "STOPPING")
            self._publish_job(job)

    # ------------------------------------------------------------------ faults & log

    def _add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def fail_http(
        self,
        status: int = 500,
        *,
        times: int | None = None,
        operation: str | None = None,
        body: str = "Internal Server Error",
    ) -> Fault:
        """Answer HTTP ``status`` with a plain-text body."""
        return self._add_fault(Fault("http", operation, times, status=status, body=body))

    def fail_graphql(
        self,
        message: str = "stand-in: injected error",
        *,
        times: int | None = None,
        operation: str | None = None,
    ) -> Fault:
        """Answer HTTP 200 ``{"errors": [{"message": ...}], "data": null}``."""
        return self._add_fault(Fault("graphql_error", operation, times, message=message))

    def malformed(
        self, mode: str = "not_json", *, times: int | None = None, operation: str | None = None
    ) -> Fault:
        """HTTP 200 with a broken body: ``not_json`` (an HTML page), ``truncated`` JSON,
        or ``no_data`` (valid JSON with neither data nor errors)."""
        if mode not in ("not_json", "truncated", "no_data"):
            raise ValueError(mode)
        return self._add_fault(Fault(mode, operation, times))

    def slow(
        self, delay: float, *, times: int | None = None, operation: str | None = None
    ) -> Fault:
        """Wait ``delay`` seconds before answering (normally, or with another fault)."""
        return self._add_fault(Fault("slow", operation, times, delay=delay))

    def dribble(
        self, interval: float, *, times: int | None = None, operation: str | None = None
    ) -> Fault:
        """Send the answer (status line, headers and body) one byte every ``interval``
        seconds: each read gets a byte in time, only a total deadline ends the wait."""
        return self._add_fault(Fault("dribble", operation, times, delay=interval))

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def _delay_for(self, request: RecordedRequest) -> float:
        """Total delay of the matching ``slow`` faults (each one used up)."""
        with self._lock:
            matching = [f for f in self.faults if f.kind == "slow" and f.matches(request)]
            for fault in matching:
                fault.hits += 1
            return sum(f.delay for f in matching)

    def _dribble_for(self, request: RecordedRequest) -> float | None:
        """The byte interval of the oldest matching ``dribble`` fault (used up), or None."""
        with self._lock:
            fault = next(
                (f for f in self.faults if f.kind == "dribble" and f.matches(request)), None
            )
            if fault is None:
                return None
            fault.hits += 1
            return fault.delay

    def _failure_for(self, request: RecordedRequest) -> Fault | None:
        """The oldest matching fault that changes the answer, used up by this request."""
        with self._lock:
            fault = next(
                (
                    f
                    for f in self.faults
                    if f.kind not in ("slow", "dribble") and f.matches(request)
                ),
                None,
            )
            if fault is not None:
                fault.hits += 1
            return fault

    def operations(self) -> list[str]:
        """Root fields of every request in order (operation name when none parsed)."""
        with self._lock:
            names: list[str] = []
            for request in self.requests:
                fallback = [request.operation_name] if request.operation_name else []
                names.extend(request.root_fields or fallback)
            return names

    def requests_for(self, name: str) -> list[RecordedRequest]:
        """Requests whose root fields or operation name include ``name``."""
        with self._lock:
            return [r for r in self.requests if name in r.names()]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    # ------------------------------------------------------------------ WebSocket

    @property
    def subscribers(self) -> int:
        """Live ``jobsSubscribe`` subscriptions."""
        return self.job_events.count

    def refuse_websockets(self, status: int = 400) -> None:
        """Answer upgrade requests with HTTP ``status`` (as a proxy that does not pass
        WebSockets on would); ``allow_websockets()`` undoes it."""
        self.websocket_refusal = status

    def allow_websockets(self) -> None:
        self.websocket_refusal = None

    def drop_websockets(self) -> int:
        """Cut every open WebSocket (no close frame, as a network failure); how many."""
        with self._lock:
            sessions, self.websockets = list(self.websockets), []
        for session in sessions:
            session.drop()
        return len(sessions)

    def _serve_websocket(self, handler: _Handler) -> None:
        request = RecordedRequest(
            self.now(),
            "GET",
            handler.path,
            dict(handler.headers.items()),
            b"",
            operation_name="websocket",
        )
        with self._lock:
            self.requests.append(request)
        handler.close_connection = True
        supplied = request.header("ApiKey") or _query_param(request.path, "apikey")
        if request.path.split("?")[0] != "/graphql":
            request.status = 404
            _send(handler, 404, b"404 page not found\n", "text/plain")
            return
        if self.api_key is not None and supplied != self.api_key:
            request.status = 401
            _send(handler, 401, b"", "text/plain", {"WWW-Authenticate": "FormBased"})
            return
        if self.websocket_refusal is not None:
            request.status = self.websocket_refusal
            _send(handler, self.websocket_refusal, b"unable to upgrade\n", "text/plain")
            return
        subprotocol = choose_subprotocol(request.header("Sec-WebSocket-Protocol"))
        request.status = 101
        handler.send_response(101, "Switching Protocols")
        handler.send_header("Upgrade", "websocket")
        handler.send_header("Connection", "Upgrade")
        handler.send_header(
            "Sec-WebSocket-Accept", accept_key(request.header("Sec-WebSocket-Key") or "")
        )
        if subprotocol:
            handler.send_header("Sec-WebSocket-Protocol", subprotocol)
        handler.end_headers()
        handler.wfile.flush()
        session = WebSocketSession(
            self, handler.connection, handler.rfile, subprotocol or "graphql-ws"
        )
        with self._lock:
            self.websockets.append(session)
        try:
            session.run()
        finally:
            with self._lock:
                if session in self.websockets:
                    self.websockets.remove(session)

    # ------------------------------------------------------------------ HTTP

    def _serve(self, handler: _Handler) -> None:
        try:
            self._serve_request(handler)
        except (ConnectionError, TimeoutError):
            handler.close_connection = True
        except Exception as exc:  # a stand-in bug: record it and answer 500
            self.internal_errors.append(exc)
            handler.close_connection = True
            try:
                _send(handler, 500, f"stand-in internal error: {exc!r}".encode(), "text/plain")
            except OSError:
                pass

    def _serve_request(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        request = RecordedRequest(
            self.now(), handler.command, handler.path, dict(handler.headers.items()), body
        )
        with self._lock:
            self.requests.append(request)
        status, payload, content_type, headers = self._answer(request)
        if status is None:  # stopped while a `slow` fault was waiting: drop the connection
            handler.close_connection = True
            return
        request.status = status
        interval = self._dribble_for(request)
        if interval is not None:
            handler.close_connection = True
            dribble(
                handler.wfile,
                http_answer_bytes(status, payload, content_type, headers),
                interval,
                self._stopping.wait,
            )
            return
        _send(handler, status, payload, content_type, headers)

    def _answer(self, request: RecordedRequest) -> _Answer:
        """Order: routing, decoding, ``slow`` delay, API key, other faults, execution."""
        route = request.path.split("?")[0]
        cover = _COVER_ROUTE.fullmatch(route)
        if cover is not None and request.method == "GET":
            return self._cover_answer(request, cover[1])
        if route != "/graphql":
            return 404, b"404 page not found\n", "text/plain", {}
        if request.method != "POST":
            return 405, b"", "text/plain", {}
        document, parse_error = self._decode(request)
        delay = self._delay_for(request)
        if delay and self._stopping.wait(delay):
            return None, b"", "", {}
        supplied = request.header("ApiKey") or _query_param(request.path, "apikey")
        if self.api_key is not None and supplied != self.api_key:
            return 401, b"", "text/plain", {"WWW-Authenticate": "FormBased"}
        fault = self._failure_for(request)
        if fault is not None:
            return self._fault_answer(fault, request)
        if parse_error is not None:
            return parse_error
        if self.prebuilt is not None:
            with self._lock:
                body = self.prebuilt.answer(
                    request.operation_name, request.query, request.variables
                )
            if body is not None:
                return 200, body, "application/json", {}
        status, result = self.execute(document, request.variables, request.operation_name)
        return status, json.dumps(result).encode(), "application/json", {}

    def _cover_answer(self, request: RecordedRequest, scene_id: str) -> _Answer:
        supplied = request.header("ApiKey") or _query_param(request.path, "apikey")
        if self.api_key is not None and supplied != self.api_key:
            return 401, b"", "text/plain", {"WWW-Authenticate": "FormBased"}
        fault = self._failure_for(request)
        if fault is not None and fault.kind == "http":
            return self._fault_answer(fault, request)
        with self._lock:
            if scene_id not in self.scenes:
                return 404, b"404 page not found\n", "text/plain", {}
            image = self.covers.get(scene_id) or default_cover(scene_id)
        return 200, image, "image/png", {}

    def screenshot_url(self, scene: Scene) -> str:
        try:
            stamp = int(datetime.fromisoformat(scene.updated_at).timestamp())
        except ValueError:
            stamp = 0
        return f"{self.url}/scene/{scene.id}/screenshot?t={stamp}"

    def _decode(self, request: RecordedRequest) -> tuple[DocumentNode | None, _Answer | None]:
        """Parse the JSON body and the document (gqlgen's status codes on failure)."""
        content_type = (request.header("Content-Type") or "").split(";")[0].strip()
        if content_type != "application/json":
            return None, _json_answer(400, [{"message": "transport not supported"}])
        try:
            data = json.loads(request.body)
            if not isinstance(data, dict) or not isinstance(data.get("variables") or {}, dict):
                raise ValueError("expected an object with object variables")
        except ValueError as exc:
            message = f"json request body could not be decoded: {exc}"
            return None, _json_answer(400, [{"message": message}])
        request.query, request.variables = data.get("query"), data.get("variables")
        request.operation_name = data.get("operationName") or None
        if not request.query:
            error = _coded({"message": "no operation provided"}, "GRAPHQL_VALIDATION_FAILED")
            return None, _json_answer(422, [error])
        try:
            document = _parse(request.query)
        except GraphQLError as exc:
            return None, _json_answer(422, [_coded(exc.formatted, "GRAPHQL_PARSE_FAILED")])
        wanted = request.operation_name
        op = next(
            (
                d
                for d in document.definitions
                if isinstance(d, OperationDefinitionNode)
                and (wanted is None or (d.name is not None and d.name.value == wanted))
            ),
            None,
        )
        if op is not None:
            request.operation_type = op.operation.value
            request.operation_name = wanted or (op.name.value if op.name else None)
            request.root_fields = [
                sel.name.value for sel in op.selection_set.selections if isinstance(sel, FieldNode)
            ]
        return document, None

    def _fault_answer(self, fault: Fault, request: RecordedRequest) -> _Answer:
        if fault.kind == "http":
            return fault.status, fault.body.encode(), "text/plain", {}
        if fault.kind == "graphql_error":
            error = {"message": fault.message, "path": request.root_fields[:1]}
            body = json.dumps({"errors": [error], "data": None}).encode()
            return 200, body, "application/json", {}
        bodies = {
            "not_json": b"<html><body>502 Bad Gateway</body></html>",
            "truncated": b'{"data": {"' + (request.root_fields or ["x"])[0].encode() + b'": {',
            "no_data": b'{"result": "ok"}',
        }
        return 200, bodies[fault.kind], "application/json", {}

    # ------------------------------------------------------------------ GraphQL

    def execute(
        self,
        document: DocumentNode | str,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Validate and run a document in-process; returns (HTTP status, JSON body)."""
        if isinstance(document, str):
            document = parse(document)
        schema = stash_schema()
        errors = validate(schema, document)
        if errors:
            return 422, _validation_failure(errors)
        with self._lock:
            result = execute_sync(
                schema,
                document,
                context_value=self,
                variable_values=variables,
                operation_name=operation_name,
            )
        for error in result.errors or ():
            original = error.original_error
            if original is not None and not isinstance(original, (StashError, GraphQLError)):
                self.internal_errors.append(original)
        if result.data is None and result.errors and all(e.path is None for e in result.errors):
            return 422, _validation_failure(result.errors)  # bad variables, unknown operation
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        return 200, body

    # ------------------------------------------------------------------ queries

    def _scene_criteria(self) -> dict[str, Callable[[Scene, Any], bool]]:
        now_plus_day = self.stamp(self.clock() + timedelta(days=1))
        return {
            "id": lambda s, c: _compare(int(s.id), c),
            "title": lambda s, c: match_string([s.title], c),
            "details": lambda s, c: match_string([s.details], c),
            "path": lambda s, c: match_string([f.path for f in s.files], c),
            "rating100": lambda s, c: _compare(s.rating100, c),
            "organized": lambda s, c: s.organized == c,
            "has_markers": lambda s, c: bool(self.scene_markers(s.id)) == (c == "true"),
            "studios": lambda s, c: match_multi([s.studio_id] if s.studio_id else [], c),
            "tags": lambda s, c: match_multi(s.tag_ids, c),
            "performers": lambda s, c: match_multi(s.performer_ids, c),
            "created_at": lambda s, c: _compare(s.created_at, c, now_plus_day),
            "updated_at": lambda s, c: _compare(s.updated_at, c, now_plus_day),
        }

    def _entity_criteria(self) -> dict[str, Callable[[Entity, Any], bool]]:
        now_plus_day = self.stamp(self.clock() + timedelta(days=1))
        return {
            "name": lambda e, c: match_string([e.name], c),
            "aliases": lambda e, c: match_string(e.aliases, c),
            "disambiguation": lambda e, c: match_string([e.disambiguation], c),
            "created_at": lambda e, c: _compare(e.created_at, c, now_plus_day),
            "updated_at": lambda e, c: _compare(e.updated_at, c, now_plus_day),
        }

    def _marker_criteria(self) -> dict[str, Callable[[Marker, Any], bool]]:
        now_plus_day = self.stamp(self.clock() + timedelta(days=1))
        return {
            "tags": lambda m, c: match_multi([m.primary_tag_id, *m.tag_ids], c),
            "scenes": lambda m, c: match_multi([m.scene_id], c),
            "created_at": lambda m, c: _compare(m.created_at, c, now_plus_day),
            "updated_at": lambda m, c: _compare(m.updated_at, c, now_plus_day),
            "scene_updated_at": lambda m, c: _compare(
                self.scenes[m.scene_id].updated_at, c, now_plus_day
            ),
        }

    def _find(
        self,
        table: dict[str, Any],
        kind: str,
        *,
        ids: list[str] | None,
        filter_: dict[str, Any] | None,
        find_filter: dict[str, Any] | None,
        criteria: dict[str, Callable],
        search: Callable[[Any], list],
        sorts: dict[str, Callable[[Any], Any]],
        default_sort: str,
    ) -> tuple[int, list[Any], list[Any]]:
        """Filter, sort and page; returns (count, all matches, the requested page).

        As in Stash, a non-empty ``ids`` bypasses filter, search, sort and paging:
        the objects come back in ``ids`` order, and a missing id is an error.
        """
        if ids:
            found = [table.get(str(_int_id(i))) for i in ids]
            for ident, item in zip(ids, found, strict=True):
                if item is None:
                    raise StashError(f"{kind} with id {ident} not found")
            return len(found), found, found
        check_filter_combination(filter_)
        ff = find_filter or {}
        matches = [
            item
            for item in table.values()
            if match_search(ff.get("q"), search(item)) and match_filter(filter_, item, criteria)
        ]
        sort = ff.get("sort") or default_sort
        key = sorts.get("id" if sort.startswith("random") else sort)
        if key is None:
            raise StashError(f"invalid sort: {sort}")
        ordered = sorted(matches, key=lambda item: int(item.id))
        ordered.sort(key=key, reverse=ff.get("direction") == "DESC")  # stable: ties stay id ASC
        per_page, page = ff.get("per_page"), max(ff.get("page") or 1, 1)
        per_page = 25 if per_page is None else per_page
        if per_page < 0:
            return len(ordered), ordered, ordered
        return len(ordered), ordered, ordered[(page - 1) * per_page : page * per_page]

    def _scene_sorts(self) -> dict[str, Callable[[Scene], Any]]:
        first = lambda s: s.files[0] if s.files else None  # noqa: E731
        return {
            "id": lambda s: int(s.id),
            "title": lambda s: (s.title or (first(s).basename if first(s) else "")).casefold(),
            "path": lambda s: first(s).path if first(s) else "",
            "date": lambda s: _null_first(s.date),
            "rating": lambda s: _null_first(s.rating100),
            "created_at": lambda s: s.created_at,
            "updated_at": lambda s: s.updated_at,
            "duration": lambda s: first(s).duration if first(s) else 0,
            "filesize": lambda s: first(s).size if first(s) else 0,
        }

    def _find_entities(
        self, table: dict[str, Entity], args: dict[str, Any], filter_key: str, key: str
    ) -> dict[str, Any]:
        count, _, page = self._find(
            table,
            key[:-1],
            ids=args.get("ids"),
            filter_=args.get(filter_key),
            find_filter=args.get("filter"),
            criteria=self._entity_criteria(),
            search=lambda e: [e.name, e.disambiguation, *e.aliases],
            sorts={
                "id": lambda e: int(e.id),
                "name": lambda e: e.name.casefold(),
                "created_at": lambda e: e.created_at,
                "updated_at": lambda e: e.updated_at,
            },
            default_sort="name",
        )
        return {"count": count, key: page}

    # ------------------------------------------------------------------ mutations

    def _existing(self, table: dict[str, Any], kind: str, ids: Iterable[str]) -> list[str]:
        result = []
        for raw in ids:
            ident = str(_int_id(raw))
            if ident not in table:
                raise StashError(f"{kind} with id {ident} not found")
            if ident not in result:
                result.append(ident)
        return result

    def _update_scene_fields(self, scene: Scene, values: dict[str, Any]) -> None:
        for key in ("title", "details", "date", "rating100"):
            if key in values:
                setattr(scene, key, values[key])
        if values.get("organized") is not None:
            scene.organized = values["organized"]
        if "studio_id" in values:
            studio = values["studio_id"]
            scene.studio_id = (
                self._existing(self.studios, "studio", [studio])[0] if studio else None
            )

    def _update_scene(self, values: dict[str, Any]) -> Scene:
        scene = self.scenes.get(str(_int_id(values["id"])))
        if scene is None:
            raise StashError(f"scene with id {values['id']} not found")
        self._update_scene_fields(scene, values)
        if values.get("tag_ids") is not None:
            scene.tag_ids = self._existing(self.tags, "tag", values["tag_ids"])
        if values.get("performer_ids") is not None:
            scene.performer_ids = self._existing(
                self.performers, "performer", values["performer_ids"]
            )
        scene.updated_at = self.stamp()
        return scene

    def _bulk_update_scenes(self, values: dict[str, Any]) -> list[Scene]:
        scene_ids = self._existing(self.scenes, "scene", values.get("ids") or [])
        changes = {}
        lists = (("tag_ids", self.tags, "tag"), ("performer_ids", self.performers, "performer"))
        for key, table, kind in lists:
            if values.get(key) is not None:
                ids = self._existing(table, kind, values[key].get("ids") or [])
                changes[key] = (values[key]["mode"], ids)
        scenes = [self.scenes[i] for i in scene_ids]
        for scene in scenes:
            self._update_scene_fields(scene, values)
            for key, (mode, ids) in changes.items():
                current = getattr(scene, key)
                if mode == "SET":
                    current = list(ids)
                elif mode == "ADD":
                    current = current + [i for i in ids if i not in current]
                else:
                    current = [i for i in current if i not in ids]
                setattr(scene, key, current)
            scene.updated_at = self.stamp()
        return scenes

    def _create_marker(self, values: dict[str, Any]) -> Marker:
        scene_id = self._existing(self.scenes, "scene", [values["scene_id"]])[0]
        primary = self._existing(self.tags, "tag", [values["primary_tag_id"]])[0]
        now = self.stamp()
        tag_ids = self._existing(self.tags, "tag", values.get("tag_ids") or [])
        marker = Marker(
            self._next("marker"),
            scene_id,
            values["title"],
            values["seconds"],
            primary,
            now,
            now,
            values.get("end_seconds"),
            tag_ids,
        )
        self.markers[marker.id] = marker
        self.scenes[scene_id].updated_at = now
        return marker


# ----------------------------------------------------------------------------- helpers


@functools.lru_cache(maxsize=128)
def _parse(query: str) -> DocumentNode:
    """Clients send the same few documents again and again: parse each once."""
    return parse(query)


_COVER_ROUTE = re.compile(r"/scene/(\d+)/screenshot")


def default_cover(scene_id: str, size: int = 8) -> bytes:
    """A tiny PNG whose colour depends on the scene id: every scene's cover differs."""
    digest = hashlib.sha1(scene_id.encode()).digest()
    row = b"\x00" + digest[:3] * size
    raw = zlib.compress(row * size)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _int_id(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise StashError(f'strconv.Atoi: parsing "{value}": invalid syntax') from None


def _query_param(path: str, name: str) -> str | None:
    return (parse_qs(urlsplit(path).query).get(name) or [None])[0]


def _coded(error: dict[str, Any], code: str) -> dict[str, Any]:
    return {**error, "extensions": {"code": code}}


def _validation_failure(errors: Iterable[GraphQLError]) -> dict[str, Any]:
    coded = [_coded(e.formatted, "GRAPHQL_VALIDATION_FAILED") for e in errors]
    return {"errors": coded, "data": None}


def _json_answer(status: int, errors: list[dict[str, Any]]) -> _Answer:
    return status, json.dumps({"errors": errors, "data": None}).encode(), "application/json", {}


def _send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    content_type: str,
    headers: dict[str, str] | None = None,
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


# ----------------------------------------------------------------------------- resolvers


def _ctx(info: Any) -> StashStandin:
    return info.context


def _query_resolvers() -> dict[str, Callable]:
    def find_scenes(_: Any, info: Any, **args: Any) -> dict[str, Any]:
        server = _ctx(info)
        count, matches, page = server._find(
            server.scenes,
            "scene",
            ids=args.get("ids"),
            filter_=args.get("scene_filter"),
            find_filter=args.get("filter"),
            criteria=server._scene_criteria(),
            search=lambda s: [s.title, s.details, *(f.path for f in s.files)],
            sorts=server._scene_sorts(),
            default_sort="title",
        )
        primary = [s.files[0] for s in matches if s.files]
        return {
            "count": count,
            "scenes": page,
            "duration": float(sum(f.duration for f in primary)),
            "filesize": float(sum(f.size for f in primary)),
        }

    def find_markers(_: Any, info: Any, **args: Any) -> dict[str, Any]:
        server = _ctx(info)
        count, _, page = server._find(
            server.markers,
            "scene marker",
            ids=args.get("ids"),
            filter_=args.get("scene_marker_filter"),
            find_filter=args.get("filter"),
            criteria=server._marker_criteria(),
            search=lambda m: [m.title, server.scenes[m.scene_id].title],
            sorts={
                "id": lambda m: int(m.id),
                "title": lambda m: m.title.casefold(),
                "seconds": lambda m: m.seconds,
                "created_at": lambda m: m.created_at,
                "updated_at": lambda m: m.updated_at,
            },
            default_sort="title",
        )
        return {"count": count, "scene_markers": page}

    def find_job(_: Any, info: Any, input: dict[str, Any]) -> Job | None:
        server, job_id = _ctx(info), str(_int_id(input["id"]))
        job = server.jobs.get(job_id)
        if job is None or (job.status in FINISHED_JOB_STATES and job_id not in server._graveyard):
            return None
        server._observe(job, poll=True)
        return job

    def job_queue(_: Any, info: Any) -> list[Job] | None:
        server = _ctx(info)
        for job in server.jobs.values():
            server._observe(job, poll=False)
        return [j for j in server.jobs.values() if j.status in ACTIVE_JOB_STATES] or None

    def by_id(table: str) -> Callable:
        def resolve(_: Any, info: Any, id: str | None = None) -> Any:
            return None if id is None else getattr(_ctx(info), table).get(str(_int_id(id)))

        return resolve

    def entities(table: str, filter_key: str, key: str) -> Callable:
        def resolve(_: Any, info: Any, **args: Any) -> dict[str, Any]:
            server = _ctx(info)
            return server._find_entities(getattr(server, table), args, filter_key, key)

        return resolve

    return {
        "findScene": by_id("scenes"),
        "findScenes": find_scenes,
        "findSceneMarkers": find_markers,
        "findTag": by_id("tags"),
        "findTags": entities("tags", "tag_filter", "tags"),
        "findPerformer": by_id("performers"),
        "findPerformers": entities("performers", "performer_filter", "performers"),
        "findStudio": by_id("studios"),
        "findStudios": entities("studios", "studio_filter", "studios"),
        "systemStatus": lambda _, info: _ctx(info).system_status,
        "version": lambda _, info: _ctx(info).version_info,
        "jobQueue": job_queue,
        "findJob": find_job,
        "configuration": lambda _, info: {
            **_ctx(info).configuration,
            "general": {
                **_ctx(info).configuration["general"],
                "stashBoxes": _ctx(info).stash_boxes,
            },
            "ui": dict(_ctx(info).ui_config),
            "defaults": {"identify": _ctx(info).identify_defaults},
        },
    }


def _mutation_resolvers() -> dict[str, Callable]:
    def job_starter(kind: str, description: str) -> Callable:
        def start(_: Any, info: Any, input: dict[str, Any]) -> str:
            server = _ctx(info)
            job = server._create_job(description, kind, dict(input))
            job.script = list(server.job_script or [])
            return job.id

        return start

    def create(table: str, kind: str, alias_key: str, extra: str) -> Callable:
        def resolve(_: Any, info: Any, input: dict[str, Any]) -> Entity:
            server = _ctx(info)
            entities = getattr(server, table)
            entity_id = server._add_entity(
                entities,
                kind,
                input["name"],
                input.get(alias_key) or (),
                **{extra: input.get(extra)},
            )
            return entities[entity_id]

        return resolve

    def create_tag(_: Any, info: Any, input: dict[str, Any]) -> Entity:
        server = _ctx(info)
        parents = [str(_int_id(p)) for p in input.get("parent_ids") or []]
        server._existing(server.tags, "tag", parents)
        tag_id = server._add_entity(
            server.tags,
            "tag",
            input["name"],
            input.get("aliases") or (),
            description=input.get("description"),
            ignore_auto_tag=bool(input.get("ignore_auto_tag")),
            parent_ids=parents,
        )
        return server.tags[tag_id]

    def stop_job(_: Any, info: Any, job_id: str) -> bool:
        server = _ctx(info)
        job = server.jobs.get(str(_int_id(job_id)))
        if job is not None:
            server._stop_job(job)
        return True

    return {
        "sceneUpdate": lambda _, info, input: _ctx(info)._update_scene(input),
        "bulkSceneUpdate": lambda _, info, input: _ctx(info)._bulk_update_scenes(input),
        "sceneMarkerCreate": lambda _, info, input: _ctx(info)._create_marker(input),
        "tagCreate": create_tag,
        "performerCreate": create("performers", "performer", "alias_list", "disambiguation"),
        "studioCreate": create("studios", "studio", "aliases", "details"),
        "metadataScan": job_starter("scan", "Scanning..."),
        "metadataGenerate": job_starter("generate", "Generating..."),
        "metadataIdentify": job_starter("identify", "Identifying..."),
        "metadataAutoTag": job_starter("autotag", "Auto-tagging..."),
        "stopJob": stop_job,
    }


def _attribute_resolver(attr: str) -> Callable:
    return lambda obj, info: getattr(obj, attr)


def _object_resolvers() -> dict[str, dict[str, Callable]]:
    def scene_count(ids_of: Callable[[Scene], list[str | None]]) -> Callable:
        def count(entity: Entity, info: Any, depth: int | None = None) -> int:
            return sum(entity.id in ids_of(scene) for scene in _ctx(info).scenes.values())

        return count

    return {
        "Scene": {
            "tags": lambda s, info: [_ctx(info).tags[i] for i in s.tag_ids],
            "performers": lambda s, info: [_ctx(info).performers[i] for i in s.performer_ids],
            "studio": lambda s, info: _ctx(info).studios.get(s.studio_id) if s.studio_id else None,
            "scene_markers": lambda s, info: _ctx(info).scene_markers(s.id),
            "paths": lambda s, info: {
                "screenshot": _ctx(info).screenshot_url(s),
                "preview": f"{_ctx(info).url}/scene/{s.id}/preview",
                "stream": f"{_ctx(info).url}/scene/{s.id}/stream",
            },
        },
        "SceneMarker": {
            "scene": lambda m, info: _ctx(info).scenes[m.scene_id],
            "primary_tag": lambda m, info: _ctx(info).tags[m.primary_tag_id],
            "tags": lambda m, info: [_ctx(info).tags[i] for i in m.tag_ids],
        },
        "VideoFile": {
            "fingerprint": lambda f, info, type: next(
                (p["value"] for p in f.fingerprints if p["type"] == type), None
            ),
        },
        "Tag": {
            "scene_count": scene_count(lambda s: s.tag_ids),
            "parents": lambda t, info: [_ctx(info).tags[i] for i in t.parent_ids],
            "children": lambda t, info: [
                c for c in _ctx(info).tags.values() if t.id in c.parent_ids
            ],
        },
        "Performer": {"scene_count": scene_count(lambda s: s.performer_ids)},
        "Studio": {"scene_count": scene_count(lambda s: [s.studio_id])},
        "Job": {
            name: _attribute_resolver(attr)
            for name, attr in (
                ("subTasks", "sub_tasks"),
                ("startTime", "start_time"),
                ("endTime", "end_time"),
                ("addTime", "add_time"),
            )
        },
    }


@functools.lru_cache(maxsize=1)
def stash_schema() -> GraphQLSchema:
    """The stand-in schema (``stash_schema.graphql``) with resolvers attached."""
    schema = build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))
    resolvers = {
        "Query": _query_resolvers(),
        "Mutation": _mutation_resolvers(),
        **_object_resolvers(),
    }
    for type_name, fields in resolvers.items():
        graphql_type = schema.get_type(type_name)
        for field_name, resolve in fields.items():
            graphql_type.fields[field_name].resolve = resolve  # type: ignore[union-attr]
    jobs_subscribe = schema.subscription_type.fields["jobsSubscribe"]  # type: ignore[union-attr]
    jobs_subscribe.subscribe = lambda _, info: _ctx(info).job_events.stream()
    jobs_subscribe.resolve = lambda event, info: event
    return schema
