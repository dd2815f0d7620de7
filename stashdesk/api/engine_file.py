"""``engine.json``: how a running engine tells local processes where its API is.

Written (owner-only, atomically) by the engine when its API listens and removed when
it stops cleanly. It holds no secret: a client proves it is talking to the real
engine with the key it reads from the settings (see ``stashdesk.api.auth``). A file
whose engine was killed stays behind; readers treat it as a hint, never as proof.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

ENGINE_FILE = "engine.json"


def engine_file(data_dir: Path) -> Path:
    return Path(data_dir) / ENGINE_FILE


def write_engine_file(data_dir: Path, info: dict[str, Any]) -> None:
    path = engine_file(data_dir)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as stream:
        json.dump(info, stream)
    os.replace(tmp, path)


def read_engine_file(data_dir: Path) -> dict[str, Any] | None:
    try:
        info = json.loads(engine_file(data_dir).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def remove_engine_file(data_dir: Path, instance: str) -> None:
    """Remove the file if it is still this engine's (another may have started since)."""
    info = read_engine_file(data_dir)
    if info is not None and info.get("instance") == instance:
        with contextlib.suppress(OSError):
            engine_file(data_dir).unlink()


def process_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    if os.name == "nt":  # signal 0 would be CTRL_C_EVENT there: ask the API instead
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    except OSError:
        return False
    return True
