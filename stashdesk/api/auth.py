"""Who may use the engine API: the API key, failures slowed down, the engine's proof.

The key (``api.key``, a secret setting: keyring or the owner-only database) is made
at the first start: 32 random bytes, URL-safe. Clients send it as ``X-Api-Key``, as
the *arr applications do (the event stream also takes ``?api_key=``, since browsers
cannot set headers on a WebSocket). Keys are compared in constant time. An address
that keeps sending wrong keys waits longer and longer for each answer.

Before a local CLI hands its key to whatever answers on the port ``engine.json``
names, it asks that process to prove it knows the key without sending it: an HMAC
of a fresh nonce and the port (so a proof relayed from another engine's port fails).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

API_KEY_SETTING = "api.key"
KEY_HEADER = "X-Api-Key"
KEY_QUERY = "api_key"

FREE_FAILURES = 3  # wrong keys per address answered at once
FAILURE_WINDOW = 600.0  # seconds after which an address's failures are forgotten
MAX_DELAY = 8.0
MAX_TRACKED = 10_000


def new_api_key() -> str:
    return secrets.token_urlsafe(32)


def key_matches(given: str | None, expected: str) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def engine_proof(key: str, nonce: str, port: int) -> str:
    message = f"stashdesk-engine:{port}:{nonce}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def proof_matches(proof: str, key: str, nonce: str, port: int) -> bool:
    return hmac.compare_digest(str(proof).encode(), engine_proof(key, nonce, port).encode())


class FailureThrottle:
    """Counts wrong keys by address and says how long to wait before answering."""

    def __init__(self) -> None:
        self._failures: dict[str, tuple[int, float]] = {}

    def delay(self, address: str) -> float:
        count, last = self._failures.get(address, (0, 0.0))
        if time.monotonic() - last > FAILURE_WINDOW or count < FREE_FAILURES:
            return 0.0
        return min(MAX_DELAY, 0.25 * 2.0 ** (count - FREE_FAILURES))

    def failed(self, address: str) -> None:
        now = time.monotonic()
        count, last = self._failures.get(address, (0, 0.0))
        if now - last > FAILURE_WINDOW:
            count = 0
        if len(self._failures) >= MAX_TRACKED:  # forget the oldest half, never grow
            for old, _ in sorted(self._failures.items(), key=lambda kv: kv[1][1])[
                : MAX_TRACKED // 2
            ]:
                del self._failures[old]
        self._failures[address] = (count + 1, now)

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)
