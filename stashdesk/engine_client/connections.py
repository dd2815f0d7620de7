"""Engines this user connected the window to, to offer them again ("Connect to
engine..."), and their API keys, kept in the system keyring like the other secrets
(never in the file). The file, owner-only in the local data folder, holds only URLs."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

CONNECTIONS_FILE = "connections.json"
KEYRING_SERVICE = "StashDesk engine API"
KEPT = 10


class _Keyring(Protocol):
    """What is used of the keyring module."""

    def get_password(self, service_name: str, username: str) -> str | None: ...

    def set_password(self, service_name: str, username: str, password: str) -> None: ...


def _keyring() -> _Keyring | None:  # the keyring module, or None where secrets stay out
    if os.environ.get("STASHDESK_NO_KEYRING"):
        return None
    try:
        import keyring
    except ImportError:
        return None
    return keyring


class SavedConnections:
    """Attributes:
    path: the JSON file (a list of URLs, the newest first).
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / CONNECTIONS_FILE

    def urls(self) -> list[str]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return []
        return [u for u in data if isinstance(u, str)] if isinstance(data, list) else []

    def remember(self, url: str, api_key: str | None = None) -> None:
        """Put ``url`` first; keep its key in the keyring (when there is one)."""
        urls = [url] + [u for u in self.urls() if u != url]
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as stream:
            json.dump(urls[:KEPT], stream, indent=1)
        os.replace(tmp, self.path)
        backend = _keyring()
        if api_key and backend is not None:
            try:
                backend.set_password(KEYRING_SERVICE, url, api_key)
            except Exception as exc:  # no usable backend: the key is asked for next time
                log.info("could not keep the engine's key in the keyring: %s", exc)

    def key_for(self, url: str) -> str | None:
        backend = _keyring()
        if backend is None:
            return None
        with contextlib.suppress(Exception):
            return backend.get_password(KEYRING_SERVICE, url)
        return None
