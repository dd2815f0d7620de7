"""Notification targets: a name, an Apprise URL (a secret) and the events it wants.

:class:`TargetRegistry` keeps the targets in memory for the center (so picking
the targets of an event never touches the disk) and in the database for the
next start: the row in ``notification_target``, the URL in the SecretStore
(the system keyring, or the owner-only database) under
``notification_target.<id>``. Every URL, and the tokens inside it, is taught
to ``Settings.redact``, so it never reaches a status, a log line or a history
row; listings show it masked (``discord://********``).

Its public methods return JSON-able values: they are what ``stashdesk notify
...`` and the Settings page call (through the center).
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from stashdesk.notifications.catalog import (
    ALL_EVENTS,
    NotificationSetupError,
    parse_target_events,
)
from stashdesk.notifications.delivery import DeliveryOutcome, apprise_service_name
from stashdesk.redaction import MASK
from stashdesk.store.notifications import (
    create_notification_target,
    delete_notification_target,
    notification_target_rows,
    update_notification_target,
)

if TYPE_CHECKING:
    from stashdesk.app import Services

SECRET_PREFIX = "notification_target."
REDACTION_SOURCE = "notification targets"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")
URL_EXAMPLES = "discord://WEBHOOK_ID/WEBHOOK_TOKEN, ntfy://TOPIC, json://HOST:PORT/PATH"


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def mask_url(url: str) -> str:
    scheme = url.split("://", 1)[0] if "://" in url else "?"
    return f"{scheme}://{MASK}"


def _token_like(part: str) -> bool:
    """Worth masking wherever it appears: long enough to be a token, not a host name."""
    return len(part) >= 8 and "." not in part and part.lower() != "localhost"


def secret_parts(url: str) -> list[str]:
    """``url`` and the pieces of it that are secrets on their own (tokens, passwords,
    ntfy topics, webhook ids) - what ``redact`` must mask."""
    parts = [url, url.strip()]
    try:
        split = urlsplit(url.strip())
        if split.password:
            parts += [split.password, unquote(split.password)] if len(split.password) >= 4 else []
        host = split.netloc.rsplit("@", 1)[-1].split(":", 1)[0]
        pieces = [split.username or "", host, *split.path.split("/")]
        pieces += [value for _key, value in parse_qsl(split.query)]
        parts += [p for p in pieces if _token_like(p)]
        parts += [unquote(p) for p in pieces if _token_like(unquote(p))]
    except ValueError:  # not even a URL: masking it whole is all we can do
        pass
    return [p for p in dict.fromkeys(parts) if p]


@dataclass
class Target:
    """One target as the engine holds it (``url`` is the secret)."""

    id: int
    name: str
    url: str
    events: list[str]
    enabled: bool = True
    service: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    last_attempt_at: float | None = None
    last_success_at: float | None = None
    last_failure_at: float | None = None
    last_error: str | None = None
    last_event: str | None = None
    sending: int = field(default=0, compare=False)  # deliveries under way

    def wants(self, event: str) -> bool:
        return self.enabled and (ALL_EVENTS in self.events or event in self.events)

    @property
    def last_delivery(self) -> str:
        if self.last_error and (self.last_success_at or 0) <= (self.last_failure_at or 0):
            return f"last delivery failed: {self.last_error}"
        if self.last_success_at:
            return "last delivery succeeded"
        return "nothing sent yet"

    def as_json(self) -> dict[str, Any]:
        failed = self.last_delivery.startswith("last delivery failed")
        return {
            "name": self.name,
            "url": mask_url(self.url),
            "service": self.service,
            "events": list(self.events),
            "enabled": self.enabled,
            "last_delivery": self.last_delivery,
            "last_delivery_ok": None if self.last_attempt_at is None else not failed,
            "last_error": self.last_error if failed else None,
            "last_event": self.last_event,
            "last_attempt_at": _iso(self.last_attempt_at),
            "last_success_at": _iso(self.last_success_at),
            "last_failure_at": _iso(self.last_failure_at),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.match(name):
        raise NotificationSetupError(
            f"a target name is 1 to 64 letters, digits, spaces, '.', '_' or '-', starting "
            f"with a letter or digit (e.g. discord-alerts), not {name!r}"
        )
    return name


class TargetRegistry:
    """The targets, in memory and in the database.

    Attributes:
        targets: by id.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self.store = services.store
        self.settings = services.settings
        self.targets: dict[int, Target] = {}

    # --- loading --------------------------------------------------------------------------------

    async def load(self) -> None:
        """(Re)read every target and its URL; another process may have changed them."""
        secrets = self.settings.secrets

        def read() -> list[Target]:
            loaded = []
            for row in notification_target_rows():
                loaded.append(
                    Target(
                        row.id,
                        row.name,
                        secrets.load(f"{SECRET_PREFIX}{row.id}"),
                        list(row.events or []),
                        row.enabled,
                        None,
                        row.created_at,
                        row.updated_at,
                        row.last_attempt_at,
                        row.last_success_at,
                        row.last_failure_at,
                        row.last_error,
                        row.last_event,
                    )
                )
            return loaded

        loaded = await self.store.read(read)
        self.targets = {t.id: t for t in loaded}
        self._teach_redaction()

    async def find_services(self) -> None:
        """Name each target's service ("Discord"). Loading Apprise's plugins takes a
        good half second: the center runs this beside the engine's start, not in it."""
        for target in list(self.targets.values()):
            if target.url and target.service is None:
                target.service = await asyncio.to_thread(apprise_service_name, target.url)

    def _teach_redaction(self, *extra: str) -> None:
        parts = [p for t in self.targets.values() for p in secret_parts(t.url) if t.url]
        parts += [p for url in extra for p in secret_parts(url)]
        self.settings.learn_secrets(REDACTION_SOURCE, parts)

    # --- reading -------------------------------------------------------------------------------

    def by_name(self, name: str) -> Target:
        wanted = (name or "").strip().casefold()
        for target in self.targets.values():
            if target.name.casefold() == wanted:
                return target
        known = ", ".join(sorted(t.name for t in self.targets.values())) or "none yet"
        raise NotificationSetupError(
            f"no notification target named {name!r} (targets: "
            f"{known}); add one with stashdesk notify add NAME URL "
            f"--on EVENT"
        )

    def listing(self) -> list[dict[str, Any]]:
        return [t.as_json() for t in sorted(self.targets.values(), key=lambda t: t.name.casefold())]

    def wanting(self, event: str) -> list[Target]:
        return [t for t in self.targets.values() if t.url and t.wants(event)]

    # --- changing ------------------------------------------------------------------------------

    async def _check_url(self, url: str) -> tuple[str, str]:
        """The URL and its service, or NotificationSetupError. From here on the URL is
        taught to ``redact`` (Apprise logs a URL it cannot parse, peewee what it stores);
        the caller recomputes what is taught once it is stored, or not."""
        url = (url or "").strip()
        if "://" not in url:
            raise NotificationSetupError(
                f"a target URL is an Apprise URL such as {URL_EXAMPLES}; see "
                f"https://github.com/caronc/apprise/wiki for your service's"
            )
        scheme = url.split("://", 1)[0]
        self._teach_redaction(url)
        service = await asyncio.to_thread(apprise_service_name, url)
        if service is None:
            self._teach_redaction()
            raise NotificationSetupError(
                f"Apprise does not understand this {scheme}:// URL: check it against "
                f"https://github.com/caronc/apprise/wiki (e.g. {URL_EXAMPLES})"
            )
        return url, service

    def _check_unique(self, name: str, except_id: int | None = None) -> None:
        for target in self.targets.values():
            if target.name.casefold() == name.casefold() and target.id != except_id:
                raise NotificationSetupError(
                    f"there already is a notification target named {target.name!r}: choose "
                    f"another name, or change it with notify edit"
                )

    async def add(self, name: str, url: str, events: str | list[str]) -> dict[str, Any]:
        name = _check_name(name)
        self._check_unique(name)
        events = parse_target_events(events)
        url, service = await self._check_url(url)
        now = time.time()
        secrets = self.settings.secrets

        def insert() -> int:
            target_id = create_notification_target(name, events, now)
            secrets.save(f"{SECRET_PREFIX}{target_id}", url)
            return target_id

        try:
            target_id = await self.store.write(insert)
            target = Target(target_id, name, url, events, True, service, now, now)
            self.targets[target_id] = target
        finally:
            self._teach_redaction()
        return target.as_json()

    async def edit(
        self,
        name: str,
        *,
        new_name: str | None = None,
        url: str | None = None,
        events: str | list[str] | None = None,
        enabled: bool | None = None,
    ) -> dict[str, Any]:
        """Change what is given; the rest stays."""
        target = self.by_name(name)
        fields: dict[str, Any] = {}
        if new_name is not None:
            fields["name"] = _check_name(new_name)
            self._check_unique(fields["name"], except_id=target.id)
        if events is not None:
            fields["events"] = parse_target_events(events)
        if enabled is not None:
            fields["enabled"] = bool(enabled)
        service = target.service
        if url is not None:
            url, service = await self._check_url(url)
        fields["updated_at"] = time.time()
        secrets, target_id = self.settings.secrets, target.id

        def update() -> None:
            changes = dict(fields)
            if url is not None:  # a new address starts without the old one's outcome
                changes.update(
                    last_error=None,
                    last_failure_at=None,
                    last_success_at=None,
                    last_attempt_at=None,
                    last_event=None,
                )
                secrets.save(f"{SECRET_PREFIX}{target_id}", url)
            update_notification_target(target_id, **changes)

        try:
            await self.store.write(update)
            for key, value in fields.items():
                setattr(target, key, value)
            if url is not None:
                target.url, target.service = url, service
                target.last_error = target.last_failure_at = target.last_success_at = None
                target.last_attempt_at = target.last_event = None
        finally:
            self._teach_redaction()
        return target.as_json()

    async def remove(self, name: str) -> dict[str, Any]:
        target = self.by_name(name)
        secrets, target_id = self.settings.secrets, target.id

        def delete() -> None:
            delete_notification_target(target_id)
            secrets.delete(f"{SECRET_PREFIX}{target_id}")

        await self.store.write(delete)
        del self.targets[target_id]
        self._teach_redaction()
        return {"removed": target.name}

    def record(
        self, target: Target, outcome: DeliveryOutcome, event: str, at: float | None = None
    ) -> None:
        """Remember how a delivery ended, here and (without waiting) in its row."""
        at = at or time.time()
        target.last_attempt_at, target.last_event = at, event
        fields: dict[str, Any] = {"last_attempt_at": at, "last_event": event}
        if outcome.ok:
            target.last_success_at, target.last_error = at, None
            fields.update(last_success_at=at, last_error=None)
        else:
            target.last_failure_at = at
            target.last_error = self.settings.redact(outcome.error or "failed")
            fields.update(last_failure_at=at, last_error=target.last_error)
        target_id = target.id
        self.store.writer.submit(lambda: update_notification_target(target_id, **fields))
