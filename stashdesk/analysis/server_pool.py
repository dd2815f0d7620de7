"""The video-tag server pool: several servers, the work spread over those that are up.

``analysis.video_servers`` lists the servers ({"url", "concurrency", "path_map"});
left empty, the pool is the one server of ``analysis.video_server_url`` with
``analysis.concurrency`` and ``analysis.path_map`` (the simple case). The list is
read again at every request, so a changed setting takes effect at once. There is
one pool per engine: every ANALYSIS job shares its servers' slots.

A scene is sent to the up server with the most free room. When a request fails:

* the server cannot be reached (connection refused, reset, cut off): the server
  is set aside and the scene goes to another one. When no server of the pool can
  be reached the job fails, as it always did: proposing AI_Errored for every
  scene because the servers are down would be wrong.
* it answers 5xx, or no answer comes within ``analysis.server_timeout``: when
  another server is up, this one is set aside and the scene tries a server it has
  not failed on yet (waiting for one to come back when all are set aside). Once it
  has failed on every server - with one server: at once - it is that scene's
  failure (AI_Errored), as before.
* any other answer (4xx, not JSON) is the scene's failure; the server stays.

A server is set aside for ``analysis.server_retry_seconds``, doubled with each
failure in a row (at most 10 minutes); one answer that works clears it.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from stashdesk.clients.errors import VideoTagUnreachable
from stashdesk.clients.video_tags import VideoTagClient, models_key
from stashdesk.options import OptionError

if TYPE_CHECKING:
    from stashdesk.app import Services

MAX_SET_ASIDE_SECONDS = 600.0
_SERVER_SETTINGS = (
    "analysis.video_servers",
    "analysis.video_server_url",
    "analysis.concurrency",
    "analysis.path_map",
    "analysis.server_timeout",
)
POOL_SETTING = "analysis.video_servers"
SINGLE_SETTING = "analysis.video_server_url"


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """One configured server."""

    url: str
    concurrency: int
    path_map: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """``host:port``: short enough for a status line."""
        return urlparse(self.url).netloc or self.url


def check_server_entries(value: list[Any]) -> None:
    """The validator of ``analysis.video_servers``: raises OptionError naming the entry."""
    seen: set[str] = set()
    for number, entry in enumerate(value, 1):
        where = f"analysis.video_servers entry {number}"
        if not isinstance(entry, dict):
            raise OptionError(
                f'{where} must be an object such as {{"url": '
                f'"http://gpu1:8084", "concurrency": 2}}, not {entry!r}'
            )
        unknown = sorted(set(entry) - {"url", "concurrency", "path_map"})
        if unknown:
            raise OptionError(
                f"{where} has unknown key(s) {', '.join(unknown)}; use url, concurrency, path_map"
            )
        url = entry.get("url")
        parsed = urlparse(url) if isinstance(url, str) else None
        if (
            not isinstance(url, str)
            or parsed is None
            or parsed.scheme not in ("http", "https")
            or not parsed.netloc
        ):
            raise OptionError(f"{where} needs a url such as http://gpu1:8084, not {url!r}")
        if url.rstrip("/") in seen:
            raise OptionError(f"{where}: {url} is listed twice")
        seen.add(url.rstrip("/"))
        concurrency = entry.get("concurrency", 1)
        if (
            isinstance(concurrency, bool)
            or not isinstance(concurrency, int)
            or not 1 <= concurrency <= 16
        ):
            raise OptionError(
                f"{where}: concurrency must be a whole number from 1 to 16, not {concurrency!r}"
            )
        path_map = entry.get("path_map", [])
        if not isinstance(path_map, list) or not all(
            isinstance(p, str) and "=" in p and p.split("=", 1)[0] for p in path_map
        ):
            raise OptionError(
                f"{where}: path_map must be a list of FROM=TO pairs (e.g. "
                f'["/data=/mnt/media"]), not {path_map!r}'
            )


def server_specs(settings: Any) -> list[ServerSpec]:
    """The servers the settings name now (the pool's, else the single server)."""
    entries = settings.get(POOL_SETTING) or []
    if not entries:
        return [
            ServerSpec(
                str(settings.get(SINGLE_SETTING)).rstrip("/"),
                int(settings.get("analysis.concurrency")),
                tuple(settings.get("analysis.path_map")),
            )
        ]
    default = int(settings.get("analysis.concurrency"))
    return [
        ServerSpec(
            str(e["url"]).rstrip("/"),
            int(e.get("concurrency", default)),
            tuple(e.get("path_map") or ()),
        )
        for e in entries
    ]


class PoolUnreachable(VideoTagUnreachable):
    """No server of the pool can be reached; the message names each one's reason."""


@dataclass(eq=False)
class ServerState:
    """What the pool knows of one server right now."""

    spec: ServerSpec
    client: VideoTagClient
    in_use: int = 0
    failures: int = 0  # in a row
    set_aside_until: float = 0.0  # time.monotonic()
    unreachable: bool = False
    reason: str | None = None
    models: list[dict[str, Any]] | None = None
    analysed: int = 0

    def is_up(self, now: float) -> bool:
        return now >= self.set_aside_until

    def as_json(self, now: float) -> dict[str, Any]:
        aside = max(0.0, self.set_aside_until - now)
        return {
            "url": self.spec.url,
            "concurrency": self.spec.concurrency,
            "path_map": list(self.spec.path_map),
            "in_use": self.in_use,
            "state": "up" if not aside else "unreachable" if self.unreachable else "set aside",
            "set_aside_seconds": round(aside, 1),
            "failures": self.failures,
            "reason": self.reason,
            "models": self.models,
            "model_key": models_key(self.models),
            "analysed": self.analysed,
        }


@dataclass
class SceneAttempt:
    """Where one scene was tried: the servers it failed on, or could not reach."""

    failed_on: set[str] = field(default_factory=set)
    unreachable_on: set[str] = field(default_factory=set)
    last_error: str | None = None


class VideoServerPool:
    """The engine's video-tag servers and their slots (see the module docstring).

    Attributes:
        services: the engine's services (settings, clients).
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self._states: dict[str, ServerState] = {}
        self._servers: list[ServerState] = []
        self._servers_key: tuple[Any, ...] | None = None
        self._waiters: list[asyncio.Future[None]] = []

    # --- the servers -------------------------------------------------------------------------

    @property
    def is_pool(self) -> bool:
        return bool(self.services.settings.get(POOL_SETTING))

    def servers(self) -> list[ServerState]:
        """The configured servers, in the settings' order (state kept across changes)."""
        settings = self.services.settings
        # Asked for at every request (and by every waiting worker on every release):
        # rebuilt only when one of the settings it comes from changed.
        key = tuple(settings.get(k) for k in _SERVER_SETTINGS)
        if key == self._servers_key:
            return self._servers
        setting = POOL_SETTING if self.is_pool else SINGLE_SETTING
        current = []
        for spec in server_specs(settings):
            state = self._states.get(spec.url)
            client = self.services.video_tags(spec.url, setting)
            if state is None:
                state = self._states[spec.url] = ServerState(spec, client)
            state.spec, state.client = spec, client
            current.append(state)
        self._servers_key, self._servers = key, current
        return current

    @property
    def capacity(self) -> int:
        return sum(s.spec.concurrency for s in self.servers())

    def _retry_delay(self, failures: int) -> float:
        base = float(self.services.settings.get("analysis.server_retry_seconds"))
        doubling: int = 2 ** max(0, failures - 1)
        return min(MAX_SET_ASIDE_SECONDS, base * doubling)

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    async def _wait(self, timeout: float | None) -> None:
        future = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await asyncio.wait({future}, timeout=timeout)
        finally:
            if future in self._waiters:
                self._waiters.remove(future)

    # --- leasing a slot -------------------------------------------------------------------------

    async def acquire(self, attempt: SceneAttempt) -> ServerState | None:
        """A slot on the best server for this scene; None when it has failed on every
        server it could try. Raises PoolUnreachable when no server can be reached.
        Pair with :meth:`release`."""
        while True:
            servers = self.servers()
            now = time.monotonic()
            excluded = attempt.failed_on | attempt.unreachable_on
            candidates = [s for s in servers if s.spec.url not in excluded]
            if not candidates:
                if attempt.failed_on:
                    return None
                raise PoolUnreachable(self.unreachable_message(servers))
            up = [s for s in candidates if s.is_up(now)]
            # Every candidate set aside: one that could not be reached is tried again at
            # once (it may be back; if not, the job learns it now), others are waited for.
            pick_from = up or [s for s in candidates if s.unreachable]
            free = [s for s in pick_from if s.in_use < s.spec.concurrency]
            if free:
                best = min(
                    free,
                    key=lambda s: (
                        s.in_use / s.spec.concurrency,
                        s.set_aside_until,
                        -s.spec.concurrency,
                    ),
                )
                best.in_use += 1
                return best
            if pick_from:
                await self._wait(None)
            else:
                await self._wait(max(0.01, min(s.set_aside_until for s in candidates) - now))

    def release(self, server: ServerState) -> None:
        server.in_use = max(0, server.in_use - 1)
        self._notify()

    def succeeded(self, server: ServerState, models: list[dict[str, Any]] | None) -> bool:
        """The server answered; True when it reported a model identity new to the pool."""
        server.failures, server.set_aside_until = 0, 0.0
        server.unreachable, server.reason = False, None
        server.analysed += 1
        changed = bool(models) and models != server.models
        if models:
            server.models = models
        self._notify()
        return changed

    def failed(self, server: ServerState, error: Exception, attempt: SceneAttempt) -> None:
        """A 5xx or no answer in time: set the server aside when another one is up."""
        attempt.failed_on.add(server.spec.url)
        attempt.last_error = str(error)
        now = time.monotonic()
        if any(o is not server and o.is_up(now) for o in self.servers()):
            self._set_aside(server, str(error), unreachable=False)

    def unreachable(self, server: ServerState, error: Exception, attempt: SceneAttempt) -> None:
        attempt.unreachable_on.add(server.spec.url)
        self._set_aside(server, str(error), unreachable=True)

    def _set_aside(self, server: ServerState, reason: str, *, unreachable: bool) -> None:
        server.failures += 1
        server.set_aside_until = time.monotonic() + self._retry_delay(server.failures)
        server.unreachable, server.reason = unreachable, reason
        self._notify()

    def unreachable_message(self, servers: list[ServerState]) -> str:
        if len(servers) == 1 and servers[0].reason:
            return servers[0].reason
        reasons = "; ".join(f"{s.spec.url}: {s.reason or 'not reachable'}" for s in servers)
        return f"No video-tag server can be reached ({reasons}) - check {POOL_SETTING}"

    # --- the daemon's check, and what the status shows ------------------------------------------

    async def probe_models(self) -> dict[str, list[dict[str, Any]]]:
        """Ask every server which models it would use now: {url: identity} of those that
        say (a server that cannot be reached, or does not say, is left out)."""
        servers = self.servers()

        async def ask(server: ServerState) -> list[dict[str, Any]] | None:
            try:
                return await server.client.current_models()
            except VideoTagUnreachable:
                return None

        found = await asyncio.gather(*(ask(s) for s in servers))
        return {s.spec.url: models for s, models in zip(servers, found, strict=True) if models}

    async def check(self) -> list[ServerState]:
        """Reach every server; those that cannot be reached are set aside. Returns the
        reachable ones; raises when there are none."""
        servers = self.servers()

        async def reach(server: ServerState) -> bool:
            try:
                await server.client.ping()
            except VideoTagUnreachable as exc:
                self._set_aside(server, str(exc), unreachable=True)
                return False
            if server.unreachable:
                server.set_aside_until, server.unreachable, server.reason = 0.0, False, None
            return True

        reached = await asyncio.gather(*(reach(s) for s in servers))
        self._notify()
        ok = [s for s, up in zip(servers, reached, strict=True) if up]
        if not ok:
            raise PoolUnreachable(self.unreachable_message(servers))
        return ok

    def activity(self) -> str | None:
        """ "analysing 4 scenes on 2 servers (...)" while requests are out, else None."""
        servers = self.servers()
        busy = [s for s in servers if s.in_use]
        if not busy:
            return None
        scenes = sum(s.in_use for s in busy)
        text = (
            f"analysing {scenes} scene{'s' if scenes != 1 else ''} on {len(busy)} "
            f"server{'s' if len(busy) != 1 else ''}"
        )
        if len(servers) > 1:
            text += " (" + ", ".join(f"{s.spec.label}: {s.in_use}" for s in busy) + ")"
        now = time.monotonic()
        aside = [s.spec.label for s in servers if not s.is_up(now)]
        if aside:
            text += f"; set aside: {', '.join(aside)}"
        return text

    def status(self) -> dict[str, Any]:
        """JSON-able: every server with its slots in use, state and model identity."""
        now = time.monotonic()
        servers = self.servers()
        return {
            "pool": self.is_pool,
            "capacity": sum(s.spec.concurrency for s in servers),
            "in_use": sum(s.in_use for s in servers),
            "activity": self.activity(),
            "servers": [s.as_json(now) for s in servers],
        }


_pools: weakref.WeakKeyDictionary[Services, VideoServerPool] = weakref.WeakKeyDictionary()


def pool_for(services: Services) -> VideoServerPool:
    """The engine's one pool (created on first use)."""
    pool = _pools.get(services)
    if pool is None:
        pool = _pools[services] = VideoServerPool(services)
    return pool
