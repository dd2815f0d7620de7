"""The remote transport: an engine elsewhere, through its HTTP API and event stream.

``RemoteClient.ops`` has the methods of ``Operations``; each call becomes the HTTP
request ``stashdesk.api.routes`` declares for it, and an error answer becomes the
same ``ClientError`` class the engine raised. The event stream is followed by one
task: events are published on the client's own bus in order; when the link drops
the client says so (``EngineConnection``), retries with back-off, and on reconnect
either receives what it missed or, when that is gone, reloads its picture and says
``resynced`` so views reload theirs.

TLS: the engine's certificate is trusted by its SHA-256 fingerprint (pinned, or
remembered from the first connection), never by a certificate authority.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote, urlsplit

import aiohttp

from stashdesk.api.auth import KEY_HEADER
from stashdesk.api.operations import Operations
from stashdesk.api.routes import API_PREFIX, Endpoint, endpoints_of, query_text
from stashdesk.api.tls import fingerprint_bytes, normalise_fingerprint, peer_fingerprint
from stashdesk.engine_client.base import EngineClient, EngineConnection
from stashdesk.engine_client.errors import (
    ERRORS_BY_STATUS,
    AuthRejected,
    ClientError,
    EngineUnreachable,
    NotFound,
    UntrustedEngine,
)
from stashdesk.events import EventBus, event_from_json

if TYPE_CHECKING:
    from stashdesk.engine_client.trust import TrustStore

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 60.0  # seconds for one call (a connection test takes up to ~10 s)
CONNECT_TIMEOUT = 10.0
RETRY_FIRST, RETRY_MAX = 1.0, 15.0  # seconds between reconnection attempts


def engine_label(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


class RemoteOperations:
    """``Operations``' methods as HTTP calls (bound to one RemoteClient)."""

    def __init__(self, client: RemoteClient) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Callable[..., Any]:
        endpoints = endpoints_of(name)
        if not endpoints:
            raise AttributeError(name)
        signature = inspect.signature(getattr(Operations, name))

        async def call(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(None, *args, **kwargs)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            arguments.pop("self")
            endpoint = next(
                (e for e in endpoints if all(arguments.get(k) == v for k, v in e.fixed.items())),
                endpoints[-1],
            )
            return await self._client.request(endpoint, arguments)

        call.__name__ = name
        return call


class RemoteClient(EngineClient):
    """A client of the engine API at ``url``.

    Attributes:
        url: the engine's base URL (``https://nas:8765``).
        fingerprint: the certificate fingerprint trusted (TLS), once known.
        last_seq, instance: where the event stream is (for resuming).
    """

    remote = True

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        fingerprint: str | None = None,
        trust: TrustStore | None = None,
        label: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._key = api_key
        self.fingerprint = normalise_fingerprint(fingerprint) if fingerprint else None
        self.trust = trust
        self.tls = urlsplit(self.url).scheme == "https"
        super().__init__(
            cast(Operations, RemoteOperations(self)), EventBus(), label or engine_label(self.url)
        )
        self.last_seq: int | None = None
        self.instance: str | None = None
        self._session: aiohttp.ClientSession | None = None
        self._stream: asyncio.Task[None] | None = None
        self._stream_ready: asyncio.Future[None] | None = None
        self._closing = False

    # --- connecting -----------------------------------------------------------------------------

    async def check_trust(self) -> str | None:
        """For TLS: the fingerprint to pin. Raises UntrustedEngine when the engine's
        certificate is unknown (first use) or differs from the one trusted."""
        if not self.tls:
            return None
        parts = urlsplit(self.url)
        try:
            presented = await peer_fingerprint(
                parts.hostname or "", parts.port or 443, CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError) as exc:
            raise EngineUnreachable(
                f"cannot reach the engine at {self.url}: {exc or type(exc).__name__}"
            ) from None
        expected = self.fingerprint or (self.trust.get(self.url) if self.trust else None)
        if expected is None:
            raise UntrustedEngine(
                f"the engine at {self.url} presents a certificate never seen before, with "
                f"SHA-256 fingerprint {presented}; compare it with `stashdesk api info` on "
                f"the engine's machine, then trust it (--fingerprint {presented})",
                presented,
            )
        if presented != expected:
            raise UntrustedEngine(
                f"the certificate of the engine at {self.url} has changed: it presents "
                f"{presented}, but {expected} was trusted. Someone may be intercepting the "
                f"connection; if the engine's certificate was replaced on purpose, check the "
                f"new fingerprint with `stashdesk api info` there and trust it again",
                presented,
                expected,
            )
        return presented

    def trust_fingerprint(self, fingerprint: str) -> None:
        """Trust ``fingerprint`` from now on (the user confirmed it; remembered)."""
        self.fingerprint = normalise_fingerprint(fingerprint)
        if self.trust is not None:
            self.trust.set(self.url, self.fingerprint)

    async def open(self) -> None:
        """Connect for calls only (what a CLI command needs): check the certificate and
        the key, and learn what the engine is. ``start`` also follows its events."""
        self._closing = False
        pinned = await self.check_trust()
        if self._session is None:
            ssl: Any = aiohttp.Fingerprint(fingerprint_bytes(pinned)) if pinned else True
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=ssl),
                headers={KEY_HEADER: self._key},
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT),
            )
        self.info = await self.ops.engine_info()  # checks the key before anything else

    async def start(self) -> None:
        await self.open()
        self.bus.bind_loop(asyncio.get_running_loop())
        loop = asyncio.get_running_loop()
        self._stream_ready = loop.create_future()
        self._stream = loop.create_task(self._follow_events(), name=f"engine events {self.label}")
        # The stream first, then the picture: every change after the picture is loaded
        # arrives as an event (replaying the few before it is harmless).
        await asyncio.wait(
            {self._stream_ready, self._stream},
            timeout=CONNECT_TIMEOUT,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if self._stream.done():
            self._stream.result()  # a refused key or an untrusted engine: raise it
        await self.follow()

    async def close(self) -> None:
        self._closing = True
        await super().close()
        if self._stream is not None:
            self._stream.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._stream
            self._stream = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- calls ---------------------------------------------------------------------------------

    async def request(self, endpoint: Endpoint, arguments: dict[str, Any]) -> Any:
        if self._session is None:
            raise EngineUnreachable(f"not connected to the engine at {self.url}")
        arguments = {k: v for k, v in arguments.items() if k not in endpoint.fixed}
        path = endpoint.path
        for name in endpoint.path_params:
            value = str(arguments.pop(name))
            if not value.strip():
                raise NotFound(
                    f"{name.replace('_', ' ')} is empty: give one (see the listing that shows them)"
                )
            path = path.replace("{" + name + "}", quote(value, safe=""))
        params: dict[str, str] = {}
        body: Any = None
        if endpoint.body_as is not None:
            body = arguments.get(endpoint.body_as)
        elif endpoint.body:
            body = {
                endpoint.aliases.get(k, k): v
                for k, v in arguments.items()
                if k in endpoint.body and v is not None
            }
        else:
            wire = {k: endpoint.aliases.get(k, k) for k in arguments}
            params = {
                wire[k]: query_text(v)
                for k, v in arguments.items()
                if v is not None and wire[k] in endpoint.query
            }
        try:
            async with self._session.request(
                endpoint.method,
                self.url + API_PREFIX + path,
                params=params or None,
                data=None if body is None else json.dumps(body),
                headers={"Content-Type": "application/json"} if body is not None else None,
            ) as response:
                text = await response.text()
                status = response.status
        except aiohttp.ServerFingerprintMismatch as exc:
            raise UntrustedEngine(
                f"the certificate of the engine at {self.url} has changed "
                f"since this connection was opened",
                str(exc),
            ) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise EngineUnreachable(
                f"lost the engine at {self.label}: {exc or type(exc).__name__}"
            ) from None
        try:
            payload = json.loads(text) if text else None
        except ValueError:
            raise EngineUnreachable(
                f"{self.url} did not answer as a StashDesk engine (HTTP {status})"
            ) from None
        if status >= 400:
            message = payload.get("error") if isinstance(payload, dict) else None
            cls = ERRORS_BY_STATUS.get(status, ClientError)
            if cls is AuthRejected:
                message = (
                    f"the engine at {self.label} refused the API key; get the key "
                    f"with `stashdesk api key` on the engine's machine"
                )
            raise cls(message or f"HTTP {status}")
        return payload

    # --- the event stream -------------------------------------------------------------------------

    def _closed(self) -> bool:
        """Whether close() began (asked by a call: close() sets it while the stream
        awaits, which mypy's narrowing of the loop's condition does not see)."""
        return self._closing

    async def _follow_events(self) -> None:
        delay = RETRY_FIRST
        while not self._closing:
            reason = "the connection closed"
            try:
                await self._stream_once()
                delay = RETRY_FIRST
            except (AuthRejected, UntrustedEngine) as exc:
                if self._stream_ready is not None and not self._stream_ready.done():
                    raise  # at start: let start() report it
                reason = str(exc)
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status == 401:
                    if self._stream_ready is not None and not self._stream_ready.done():
                        raise AuthRejected(
                            f"the engine at {self.label} refused the API key"
                        ) from None
                    reason = "the engine refused the API key"
                else:
                    reason = f"HTTP {exc.status}"
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                reason = str(exc) or type(exc).__name__
            if self._closed():
                return
            was_connected, self.connected = self.connected, False
            if was_connected or delay == RETRY_FIRST:
                log.warning("disconnected from the engine at %s: %s", self.url, reason)
            self.bus.publish(
                EngineConnection(
                    connected=False,
                    retry_in=delay,
                    message=f"Disconnected from {self.label} - reconnecting in {delay:g} s",
                )
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    async def _stream_once(self) -> None:
        assert self._session is not None
        params: dict[str, str] = {}
        if self.last_seq is not None and self.instance is not None:
            params = {"since": str(self.last_seq), "instance": self.instance}
        async with self._session.ws_connect(
            self.url + API_PREFIX + "/events",
            params=params,
            heartbeat=15.0,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
        ) as ws:
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await self._on_frame(json.loads(message.data))
                elif message.type in (
                    aiohttp.WSMsgType.ERROR,
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.CLOSE,
                ):
                    break

    async def _on_frame(self, frame: Any) -> None:
        if isinstance(frame, list):
            for item in frame:
                event = event_from_json(item)
                self.last_seq = item.get("seq", self.last_seq)
                if event is not None:
                    self.bus.publish(event)
            return
        kind = frame.get("type")
        if kind not in ("hello", "reset"):
            return
        first = self._stream_ready is not None and not self._stream_ready.done()
        self.instance, self.last_seq = frame.get("instance"), frame.get("seq")
        if first:
            assert self._stream_ready is not None
            self._stream_ready.set_result(None)
            return
        resynced = kind == "reset"
        if resynced:
            self.info = await self.ops.engine_info()
            await self.reload()
        self.connected = True
        log.info(
            "connected again to the engine at %s%s",
            self.url,
            " (reloaded: events were missed)" if resynced else "",
        )
        self.bus.publish(
            EngineConnection(
                connected=True, resynced=resynced, message=f"Connected to {self.label}"
            )
        )
