"""Stash's job updates, live: one ``jobsSubscribe`` subscription shared by every follower.

How Stash serves it (``internal/api/server.go``, gqlgen's ``transport.Websocket``):
the GraphQL endpoint ``/graphql`` upgrades to a WebSocket and speaks both
``graphql-transport-ws`` (the graphql-ws library, which Stash's own UI uses) and the
older ``graphql-ws`` (subscriptions-transport-ws). The API key is checked by Stash's
HTTP middleware on the upgrade request itself (``ApiKey`` header, or ``?apikey=``);
there is no ``InitFunc``, so the ``connection_init`` payload is ignored. Stash sends
a keep-alive (``ka``) every 10 s only on the older protocol; on
``graphql-transport-ws`` it answers our pings.

``jobsSubscribe`` yields ``JobStatusUpdate {type, job}``: ADD when a job is queued,
UPDATE on progress and status changes (throttled by Stash), REMOVE when it leaves the
queue, carrying its final status (FINISHED, FAILED with ``error``, CANCELLED).

The protocol is gql's (``AIOHTTPWebsocketsTransport``), not ours. The socket is open
only while someone watches a job (and ``linger_seconds`` after); when it cannot be
opened or drops, the feed says why (:attr:`StashJobFeed.down_reason`) and tries again
after ``retry_seconds``, doubling up to ``retry_max_seconds``. Followers poll ``findJob`` meanwhile
(:mod:`stashdesk.jobs.stash_follow`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from stashdesk.clients import stash_documents as docs

log = logging.getLogger(__name__)

SUBPROTOCOLS = ("graphql-transport-ws", "graphql-ws")


@dataclass(frozen=True, slots=True)
class FeedChanged:
    """Put in every watcher's queue when the feed goes live or down."""

    live: bool
    epoch: int
    reason: str | None


@dataclass(frozen=True, slots=True)
class JobUpdate:
    """One ``JobStatusUpdate`` for a watched job: ``kind`` is ADD, UPDATE or REMOVE."""

    kind: str
    job: dict[str, Any]


class JobWatch:
    """A follower's view of one Stash job on the feed; use as a context manager.

    Attributes:
        job_id: the Stash job id watched.
        queue: :class:`JobUpdate` and :class:`FeedChanged` items, in arrival order.
    """

    def __init__(self, feed: StashJobFeed, job_id: str) -> None:
        self.feed = feed
        self.job_id = str(job_id)
        self.queue: asyncio.Queue[JobUpdate | FeedChanged] = asyncio.Queue()

    def __enter__(self) -> JobWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.feed._unwatch(self)


def describe_socket_error(exc: BaseException) -> str:
    """A short reason for a failed or dropped socket ("connection refused", "HTTP 401")."""
    from aiohttp import WSServerHandshakeError

    from stashdesk.clients.stash import describe_transport_error

    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for error in chain:
        if isinstance(error, WSServerHandshakeError):
            if error.status in (401, 403):
                return f"Stash refused the WebSocket (HTTP {error.status}) - check stash.api_key"
            return f"Stash refused the WebSocket upgrade (HTTP {error.status})"
    if isinstance(exc, Exception):
        return describe_transport_error(exc)
    return type(exc).__name__


class StashJobFeed:
    """The ``jobsSubscribe`` subscription of one Stash server, shared by its followers.

    Attributes:
        ws_url: ``ws(s)://host:port/graphql``.
        enabled: False when ``stash.websocket`` is off: the feed never connects.
        live: set while the subscription runs.
        down_reason: why it is not live (None before the first try and while live).
        epoch: counts subscriptions; updates sent while the socket was down are lost,
            so a follower that sees a new epoch catches up with one ``findJob``.
    """

    retry_seconds = 5.0
    retry_max_seconds = 60.0
    # graphql-transport-ws: we ping, Stash answers; graphql-ws: Stash sends "ka" every 10 s.
    ping_seconds = 10.0
    connect_timeout = 10.0
    linger_seconds = 30.0  # the socket stays open this long after the last follower left
    close_seconds = 3.0  # aclose waits this long for the subscription to end by itself

    def __init__(self, ws_url: str, headers: dict[str, str], *, enabled: bool = True) -> None:
        self.ws_url = ws_url
        self.enabled = enabled
        self._headers = dict(headers)
        self.live = asyncio.Event()
        self.down_reason: str | None = None
        self.epoch = 0
        self._watches: dict[str, set[JobWatch]] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closed = False

    # --- followers ----------------------------------------------------------------------

    def watch(self, job_id: str) -> JobWatch:
        """Start receiving updates of ``job_id`` (and the feed's changes)."""
        watch = JobWatch(self, job_id)
        self._watches.setdefault(watch.job_id, set()).add(watch)
        if self.enabled and not self._closed and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._run(), name="stash-job-feed")
        self._wake.set()
        return watch

    def _unwatch(self, watch: JobWatch) -> None:
        watches = self._watches.get(watch.job_id)
        if watches is not None:
            watches.discard(watch)
            if not watches:
                del self._watches[watch.job_id]
        if not self._watches:
            self._wake.set()  # the socket closes while nobody watches

    def _broadcast(self, item: FeedChanged) -> None:
        for watches in self._watches.values():
            for watch in watches:
                watch.queue.put_nowait(item)

    # --- the subscription ---------------------------------------------------------------

    async def _run(self) -> None:
        """Subscribed while someone watches, idle (no socket) while nobody does."""
        delay = self.retry_seconds
        while not self._closed:
            if not self._watches:
                self._wake.clear()
                if not self._watches:
                    await self._wake.wait()
                continue
            try:
                await self._subscribe_once()
                reason = "Stash closed the job updates subscription"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure means: poll meanwhile, try again later
                reason = describe_socket_error(exc)
            if self.closed:
                break
            was_live = self.live.is_set()
            self.live.clear()
            if not self._watches and was_live:  # we hung up: nobody watches any more
                self.down_reason, delay = None, self.retry_seconds
                continue
            if was_live or self.down_reason != reason:
                log.info(
                    "Stash job updates WebSocket %s: %s",
                    "dropped" if was_live else "unavailable",
                    reason,
                )
            self.down_reason = reason
            self._broadcast(FeedChanged(False, self.epoch, reason))
            if was_live:
                delay = self.retry_seconds
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            delay = min(delay * 2, self.retry_max_seconds)

    async def _subscribe_once(self) -> None:
        import aiohttp

        # Our own session: gql leaves the one it makes open when the upgrade is refused.
        async with aiohttp.ClientSession() as http:
            await self._subscribe_with(http)

    async def _subscribe_with(self, http: Any) -> None:
        from gql import Client, gql
        from gql.transport.aiohttp_websockets import AIOHTTPWebsocketsTransport

        transport = AIOHTTPWebsocketsTransport(
            url=self.ws_url,
            headers=self._headers,
            subprotocols=list(SUBPROTOCOLS),
            session=http,
            connect_timeout=self.connect_timeout,
            ack_timeout=self.connect_timeout,
            ping_interval=self.ping_seconds,
            pong_timeout=self.ping_seconds,
            keep_alive_timeout=self.ping_seconds * 3,
            close_timeout=2,
            websocket_close_timeout=2,
        )
        client = Client(transport=transport, fetch_schema_from_transport=False)
        request = gql(docs.JOBS_SUBSCRIBE)
        async with client as session:
            updates = session.subscribe(request)
            self.epoch += 1
            self.down_reason = None
            self.live.set()
            log.info(
                "following Stash's jobs over %s (%s)",
                self.ws_url,
                getattr(transport, "subprotocol", "?"),
            )
            self._broadcast(FeedChanged(True, self.epoch, None))
            stop = asyncio.ensure_future(self._stop_wanted())
            try:
                async with contextlib.aclosing(_until(updates, stop)) as results:
                    async for result in results:
                        self._dispatch(result)
            finally:
                stop.cancel()

    async def _stop_wanted(self) -> None:
        """Returns once nobody has watched for ``linger_seconds`` (a scan is often followed
        by an identify: one socket serves both)."""
        while not self._closed:
            while self._watches and not self._closed:
                self._wake.clear()
                if self._watches:
                    await self._wake.wait()
            if self.closed:
                return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.linger_seconds)
            if not self._watches:
                return

    def _dispatch(self, result: dict[str, Any]) -> None:
        update = result.get("jobsSubscribe") or {}
        job = update.get("job") or {}
        watches = self._watches.get(str(job.get("id")))
        if not watches:
            return
        item = JobUpdate(str(update.get("type")), job)
        for watch in watches:
            watch.queue.put_nowait(item)

    @property
    def closed(self) -> bool:
        """True once ``aclose`` was called (a property: it changes while we await)."""
        return self._closed

    async def aclose(self) -> None:
        self._closed = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            # A live subscription ends by itself once it sees the flag, closing its socket
            # properly; cancelling it mid-way could leave aiohttp's connection open.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(task), self.close_seconds)
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self.live.clear()


async def _until(updates: Any, stop: asyncio.Future[None]) -> AsyncGenerator[Any, None]:
    """The items of async iterator ``updates`` until ``stop`` is done."""
    iterator = updates.__aiter__()
    following: asyncio.Future[Any] | None = None
    try:
        while True:
            following = asyncio.ensure_future(iterator.__anext__())
            done, _ = await asyncio.wait({following, stop}, return_when=asyncio.FIRST_COMPLETED)
            if following not in done:
                return
            try:
                item = following.result()
            except StopAsyncIteration:
                return
            following = None
            yield item
    finally:
        # Also when cancelled: the pending read must not outlive us (its failure would
        # go unretrieved, and the socket it reads unclosed).
        if following is not None and not following.done():
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await following
        with contextlib.suppress(Exception):
            await iterator.aclose()
