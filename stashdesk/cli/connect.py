"""Which engine a command talks to, and how.

- ``--engine URL`` (or ``STASHDESK_ENGINE``), with ``STASHDESK_API_KEY``: a remote
  engine, over its API (TLS trusted by ``--fingerprint`` or a fingerprint accepted
  before).
- Otherwise the engine running on this data folder, found through engine.json and
  believed only once it proves it holds the folder's API key; the command goes
  through its API, so the engine's single writer orders every change.
- Otherwise no engine runs: the command reads and writes the database itself
  (``Operations`` with ``live=False``); what needs running daemons says so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stashdesk.cli.output import EXIT_USAGE, CommandError, note
from stashdesk.engine_client.base import EngineClient

if TYPE_CHECKING:
    from stashdesk.api.operations import Operations
    from stashdesk.app import Services

ENGINE_ENV = "STASHDESK_ENGINE"
KEY_ENV = "STASHDESK_API_KEY"


class CommandContext:
    """A command's view of StashDesk.

    Attributes:
        data_dir: the local data folder (``--data-dir``).
        engine_url: the remote engine asked for, if any.
        fingerprint: the TLS fingerprint pinned with ``--fingerprint``.
        client: the EngineClient, once ``open()`` made it.
        services: the local Services when no engine runs (None otherwise).
    """

    def __init__(
        self, data_dir: Path, engine_url: str | None = None, fingerprint: str | None = None
    ) -> None:
        self.data_dir = data_dir
        self.engine_url = engine_url or os.environ.get(ENGINE_ENV) or None
        self.fingerprint = fingerprint
        self.client: EngineClient | None = None
        self.services: Services | None = None
        self.stale_engine_file = False

    @property
    def ops(self) -> Operations:
        assert self.client is not None, "open() first"
        return self.client.ops

    @property
    def engine_running(self) -> bool:
        return self.client is not None and bool(self.client.info.get("live", True))

    async def open(self) -> EngineClient:
        if self.client is None:
            self.client = await (self._open_remote() if self.engine_url else self._open_local())
        return self.client

    async def _open_remote(self) -> EngineClient:
        from stashdesk.engine_client.remote import RemoteClient
        from stashdesk.engine_client.trust import TrustStore

        key = os.environ.get(KEY_ENV, "")
        if not key:
            raise CommandError(
                f"--engine needs the engine's API key in {KEY_ENV} (print it "
                f"with `stashdesk api key` on the engine's machine)",
                EXIT_USAGE,
            )
        client = RemoteClient(
            self._checked_url(self.engine_url or ""),
            key,
            fingerprint=self._checked_fingerprint(),
            trust=TrustStore(self.data_dir),
        )
        await client.open()
        return client

    def _checked_url(self, url: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CommandError(
                f"--engine must be an http:// or https:// address such as "
                f"https://nas:8765, not {url!r}",
                EXIT_USAGE,
            )
        return url

    def _checked_fingerprint(self) -> str | None:
        from stashdesk.api.tls import normalise_fingerprint

        if not self.fingerprint:
            return None
        try:
            return normalise_fingerprint(self.fingerprint)
        except ValueError as exc:
            raise CommandError(f"--fingerprint: {exc}", EXIT_USAGE) from None

    async def _open_local(self) -> EngineClient:
        import asyncio

        from stashdesk.engine_client.discovery import NotThisEngine, verified_engine
        from stashdesk.engine_client.remote import RemoteClient

        services = await asyncio.to_thread(open_services, self.data_dir)
        key = services.settings.get("api.key")
        info = None
        if key:
            try:
                info = await asyncio.to_thread(verified_engine, self.data_dir, key)
            except NotThisEngine as exc:
                note(str(exc))
                self.stale_engine_file = True
        if info is not None:
            await asyncio.to_thread(services.store.close)
            client = RemoteClient(
                info["local_url"], key, fingerprint=info.get("fingerprint"), label="this computer"
            )
            await client.open()
            return client
        from stashdesk.engine_client.local import LocalClient

        self.services = services
        self.stale_engine_file = self.stale_engine_file or _engine_file_left(self.data_dir)
        local = LocalClient(offline_operations(services), services)
        local.info = await local.ops.engine_info()
        return local

    async def close(self) -> None:
        import asyncio

        if self.client is not None:
            await self.client.close()
        if self.services is not None:
            await asyncio.to_thread(self.services.store.close)
            self.services = None

    def absence_note(self, daemons: list[dict[str, Any]]) -> str | None:
        """ "StashDesk is not running; last seen 14:02 ..." when no engine runs."""
        if self.engine_running:
            return None
        from datetime import datetime

        from stashdesk.timestamps import from_iso

        seen = [from_iso(d.get("last_heartbeat")) for d in daemons]
        latest = max((s for s in seen if s), default=None)
        unclean = self.stale_engine_file or any(
            d.get("last_state") in ("running", "error") for d in daemons
        )
        text = "StashDesk is not running"
        if latest:
            when = datetime.fromtimestamp(latest)
            shown = (
                when.strftime("%H:%M")
                if when.date() == datetime.now().date()
                else when.strftime("%Y-%m-%d %H:%M")
            )
            text += f"; last seen {shown}"
        if unclean:
            text += " (it did not stop cleanly)"
        return text + "; start it with `stashdesk` or `stashdesk --headless`"


def open_services(data_dir: Path) -> Services:
    """The data folder's Services, for commands that run without an engine (blocking)."""
    from stashdesk.app import Services

    services = Services(data_dir)
    services.store.direct_writes = True
    services.settings.reload()
    return services


def offline_operations(services: Services) -> Operations:
    from stashdesk.api.operations import Operations

    return Operations(services, live=False)


def _engine_file_left(data_dir: Path) -> bool:
    from stashdesk.api.engine_file import engine_file

    return engine_file(data_dir).exists()
