"""What the window remembers between runs (geometry, hints already given).

Kept as a small JSON file in the data directory, beside the database, so each
data directory (and each test) has its own and nothing lands in the user's
global Qt settings.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FILENAME = "window-state.json"


class UiState:
    def __init__(self, data_dir: Path | None) -> None:
        self.path = Path(data_dir) / FILENAME if data_dir is not None else None
        self._values: dict[str, Any] = {}
        if self.path is not None and self.path.exists():
            try:
                self._values = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                log.warning("ignoring unreadable %s", self.path)

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self._values[key] = value
        if self.path is None:
            return
        try:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._values), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("could not save the window state: %s", exc)
