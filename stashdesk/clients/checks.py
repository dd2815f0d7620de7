"""'Test connection': try a service step by step and say what worked and what did not.

Each check returns the steps it tried, in order, each passed (True), failed
(False) or not tried because an earlier step failed (None), with a sentence. The
settings dialog shows them; they use the values typed in the form, before they
are saved. They run in the engine (over the API for a remote window), so they
test the network the daemons use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from stashdesk.clients.errors import (
    MalformedAnswer,
    ServiceAnswerError,
    ServiceAuthRejected,
    ServiceError,
    ServiceUnreachable,
    VideoTagUnreachable,
)
from stashdesk.clients.qbittorrent import QBittorrentClient
from stashdesk.clients.stash import StashClient
from stashdesk.clients.video_tags import VideoTagClient

CHECK_TIMEOUT = 10.0  # seconds: a test should answer quickly or say it did not


@dataclass(frozen=True)
class CheckStep:
    name: str
    ok: bool | None  # None: not tried
    detail: str

    @property
    def mark(self) -> str:
        return {True: "✔", False: "✘", None: "–"}[self.ok]

    def line(self) -> str:
        return f"{self.mark} {self.name}: {self.detail}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> CheckStep:
        return cls(item["name"], item.get("ok"), item.get("detail", ""))


def _steps(
    names: Sequence[str], passed: Sequence[str], failed: tuple[int, Exception] | None = None
) -> list[CheckStep]:
    """One step a name: passed (saying ``passed``) up to the one that ``failed`` (its
    index, and the error it says), not tried after it."""
    steps = []
    for number, name in enumerate(names):
        if failed is None or number < failed[0]:
            steps.append(CheckStep(name, True, passed[number]))
        elif number == failed[0]:
            steps.append(CheckStep(name, False, str(failed[1])))
        else:
            steps.append(CheckStep(name, None, "not tried"))
    return steps


async def _read_version(
    client: StashClient | QBittorrentClient,
    names: tuple[str, str, str],
    done: tuple[str, str],
    product: str,
    otherwise: int,
) -> list[CheckStep]:
    """Reach, sign in and read the version: the step an error fails at follows its kind
    (unreachable, rejected, a bad answer; ``otherwise`` for another service error)."""
    try:
        version = await client.version()
    except ServiceError as exc:
        if isinstance(exc, ServiceUnreachable):
            failed = 0
        elif isinstance(exc, ServiceAuthRejected):
            failed = 1
        elif isinstance(exc, ServiceAnswerError | MalformedAnswer):
            failed = 2
        else:
            failed = otherwise
        return _steps(names, done, (failed, exc))
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()
    return _steps(names, (*done, f"{product} {version}"))


async def check_stash(url: str, api_key: str, timeout: float = CHECK_TIMEOUT) -> list[CheckStep]:
    auth_what = "with the API key" if api_key else "without an API key"
    return await _read_version(
        StashClient(url, api_key, timeout=min(timeout, CHECK_TIMEOUT), retries=0),
        ("Reach Stash", "Sign in", "Read Stash's version"),
        (f"{url} answered", f"accepted {auth_what}"),
        "Stash",
        otherwise=0,
    )


async def check_qbittorrent(
    url: str, username: str, password: str, timeout: float = CHECK_TIMEOUT
) -> list[CheckStep]:
    return await _read_version(
        QBittorrentClient(url, username, password, timeout=min(timeout, CHECK_TIMEOUT)),
        ("Reach qBittorrent's Web UI", "Log in", "Read qBittorrent's version"),
        (f"{url} answered", f"logged in as {username!r}"),
        "qBittorrent",
        otherwise=2,
    )


async def check_video_tags(url: str, timeout: float = CHECK_TIMEOUT) -> list[CheckStep]:
    reach = "Reach the video-tag server"
    client = VideoTagClient(url, timeout=min(timeout, CHECK_TIMEOUT))
    try:
        status = await client.ping()
    except (VideoTagUnreachable, ServiceError) as exc:
        return [CheckStep(reach, False, str(exc))]
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()
    return [
        CheckStep(
            reach, True, f"{url} answered (HTTP {status}); videos are sent to {url}/process_video/"
        )
    ]


# The settings group each check tests, and the setting keys it reads.
CHECKS: dict[str, tuple[tuple[str, ...], Callable[..., Awaitable[list[CheckStep]]]]] = {
    "Stash": (("stash.url", "stash.api_key", "stash.timeout"), check_stash),
    "qBittorrent": (
        ("qbittorrent.url", "qbittorrent.username", "qbittorrent.password", "qbittorrent.timeout"),
        check_qbittorrent,
    ),
    "Analysis": (("analysis.video_server_url", "analysis.server_timeout"), check_video_tags),
}


async def check_group(group: str, values: dict[str, Any]) -> list[CheckStep]:
    """Run the check of settings group ``group`` with ``values`` (every key it reads)."""
    keys, check = CHECKS[group]
    return await check(*(values[key] for key in keys))
