"""Finding this data folder's engine: engine.json, checked before it is believed.

``engine.json`` only says where an engine listened. A process answering there is
believed to be that engine when it proves it holds the folder's API key
(``/api/v1/hello``: an HMAC of a fresh nonce and the port) - so a leftover file
whose port another program now uses never gets the key, nor is trusted.
``probe_engine`` is the weaker check the engine itself uses at start-up: the
answering process names the instance engine.json names.
"""

from __future__ import annotations

import json
import secrets
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from stashdesk.api.auth import proof_matches
from stashdesk.api.engine_file import process_alive, read_engine_file
from stashdesk.api.routes import API_PREFIX
from stashdesk.api.tls import unverified_client_context

HELLO_TIMEOUT = 3.0


class NotThisEngine(Exception):
    """Something answers where engine.json points, but it is not this folder's engine."""


def _hello(info: dict[str, Any], nonce: str) -> dict[str, Any] | None:
    """POST /hello to the engine engine.json names; None when nothing answers."""
    url = info.get("local_url") or info.get("url")
    if not isinstance(url, str):
        return None
    request = urllib.request.Request(
        url + API_PREFIX + "/hello",
        data=json.dumps({"nonce": nonce}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    context: ssl.SSLContext | None = unverified_client_context() if info.get("tls") else None
    try:
        with urllib.request.urlopen(request, timeout=HELLO_TIMEOUT, context=context) as answer:
            body = json.loads(answer.read())
    except (OSError, ValueError, urllib.error.URLError):
        # Connection refused (nothing there), or something that is not an engine.
        return None
    return body if isinstance(body, dict) else None


def probe_engine(data_dir: Path) -> dict[str, Any] | None:
    """engine.json's content when its engine is alive and answers as that instance."""
    info = read_engine_file(data_dir)
    if info is None or not process_alive(info.get("pid")):
        return None
    answer = _hello(info, secrets.token_hex(16))
    if answer is None or answer.get("instance") != info.get("instance"):
        return None
    return info


def verified_engine(data_dir: Path, api_key: str) -> dict[str, Any] | None:
    """engine.json's content when the engine there proves it holds ``api_key``.

    None when no engine runs (no file, a dead pid, nothing answers). Raises
    NotThisEngine when something answers but cannot prove it: the key is not sent.
    """
    info = read_engine_file(data_dir)
    if info is None or not process_alive(info.get("pid")):
        return None
    nonce = secrets.token_hex(16)
    answer = _hello(info, nonce)
    if answer is None:
        return None
    port = info.get("port")
    if not isinstance(port, int) or not proof_matches(
        answer.get("proof", ""), api_key, nonce, port
    ):
        raise NotThisEngine(
            f"engine.json in {data_dir} names {info.get('local_url')}, but what answers "
            f"there is not this folder's StashDesk engine (it could not prove it holds the "
            f"API key); it was not sent the key. The engine may have stopped without "
            f"cleaning up and another program now uses that port: start StashDesk again"
        )
    return info
