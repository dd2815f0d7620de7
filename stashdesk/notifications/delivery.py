"""Sending one message to one Apprise URL, and saying why it failed.

Apprise is synchronous: :func:`send_blocking` runs on a worker thread (the
NotificationCenter's own small pool, never the event loop) with Apprise's own
time limit, and turns what Apprise logged into an outcome a person can act on
("HTTP 403 - check the token") plus whether trying again may help.

Apprise logs the URLs it loads and posts to (at DEBUG, and "Unparseable URL
<url>" at ERROR): :class:`stashdesk.settings.SecretLogFilter`, which the center
installs, masks them before any handler - ours, the root logger's, Apprise's own
result capture - sees them.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

_HTTP_STATUS = re.compile(
    r"error=(\d{3})\b|\bHTTP[ /:]*(\d{3})\b|\bstatus(?: code)?[ =:]+(\d{3})\b", re.IGNORECASE
)
_HINTS = {
    400: "the service rejected the message - check the options in the URL",
    401: "check the token",
    403: "check the token",
    404: "check the address",
    408: "the service did not answer in time",
    413: "the message is too long for the service",
    429: "the service asks to slow down",
}
_RETRYABLE_STATUSES = {408, 429}


@dataclass(frozen=True)
class DeliveryOutcome:
    """How one attempt went.

    Attributes:
        ok: delivered.
        error: what went wrong, for people ("HTTP 403 - check the token").
        retry: whether another attempt may succeed (server errors, timeouts,
            connection trouble; not a rejected token).
    """

    ok: bool
    error: str | None = None
    retry: bool = False


DELIVERED = DeliveryOutcome(True)


def _no_answer(timeout: float) -> DeliveryOutcome:
    return DeliveryOutcome(
        False,
        f"no answer within {timeout:g} seconds - check that the "
        f"service is up and reachable from this machine",
        True,
    )


def describe_failure(log_lines: list[str], waited_out: float | None = None) -> DeliveryOutcome:
    """Turn what Apprise logged about a failed send into an outcome. ``waited_out``: the
    attempt lasted its whole time limit (Apprise reports a read timeout as a connection
    error)."""
    text = " ".join(log_lines)
    match = _HTTP_STATUS.search(text)
    if match:
        status = int(next(g for g in match.groups() if g))
        if status >= 500:
            return DeliveryOutcome(False, f"HTTP {status} - the service had an error", True)
        hint = _HINTS.get(status, "the service refused the message")
        return DeliveryOutcome(False, f"HTTP {status} - {hint}", status in _RETRYABLE_STATUSES)
    lowered = text.lower()
    if waited_out and ("timed out" in lowered or "connection" in lowered):
        return _no_answer(waited_out)
    if "connection" in lowered or "socket" in lowered or "resolve" in lowered:
        return DeliveryOutcome(
            False,
            "could not connect - check that the service is up and reachable from this machine",
            True,
        )
    if log_lines:
        first = log_lines[0].strip().rstrip(".")
        return DeliveryOutcome(False, first[:300], True)
    return DeliveryOutcome(
        False, "the service did not accept the message (Apprise gave no reason)", True
    )


def _apprise_type(level: str) -> str:
    import apprise

    return {
        "failure": apprise.NotifyType.FAILURE,
        "warning": apprise.NotifyType.WARNING,
        "success": apprise.NotifyType.SUCCESS,
    }.get(level, apprise.NotifyType.INFO)


def send_blocking(url: str, title: str, body: str, level: str, timeout: float) -> DeliveryOutcome:
    """Send once, within about ``timeout`` seconds (a worker thread only)."""
    import apprise

    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        return DeliveryOutcome(
            False,
            "Apprise does not understand this URL - change it to "
            "one from the Apprise documentation",
            False,
        )
    # One attempt per call: retrying with back-off is the center's job, so a
    # failing target never holds a worker for its whole retry schedule.
    plugin.socket_connect_timeout = min(plugin.socket_connect_timeout, timeout)
    plugin.socket_read_timeout = min(plugin.socket_read_timeout, timeout)
    sender = apprise.Apprise()
    sender.add(plugin)
    started = time.monotonic()
    result = sender.notify(
        body=body, title=title, notify_type=_apprise_type(level), timeout=timeout
    )
    if result:
        return DELIVERED
    if result.status == apprise.AppriseResultStatus.TIMEOUT:
        return _no_answer(timeout)
    lines = [
        entry.message
        for service in result
        for entry in service.logs()
        if entry.level in ("WARNING", "ERROR", "CRITICAL")
    ]
    waited_out = timeout if time.monotonic() - started >= 0.9 * timeout else None
    return describe_failure(lines, waited_out)


def apprise_service_name(url: str) -> str | None:
    """The service Apprise sees in ``url`` ("Discord", "JSON"), or None (blocking)."""
    import apprise

    plugin = apprise.Apprise.instantiate(url)
    return None if plugin is None else str(plugin.service_name)
