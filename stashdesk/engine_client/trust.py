"""Engines this user trusts: each engine URL with the certificate fingerprint accepted
for it (trust on first use, as SSH's known_hosts), in an owner-only JSON file of the
local data folder."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

KNOWN_ENGINES_FILE = "known_engines.json"


def engine_key(url: str) -> str:
    """The identity of an engine for trust: scheme, host and port."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


class TrustStore:
    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / KNOWN_ENGINES_FILE

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return (
            {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}
        )

    def get(self, url: str) -> str | None:
        return self._load().get(engine_key(url))

    def set(self, url: str, fingerprint: str) -> None:
        data = self._load()
        data[engine_key(url)] = fingerprint
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as stream:
            json.dump(data, stream, indent=1, sort_keys=True)
        os.replace(tmp, self.path)
