"""'Test connection': try a service step by step and say what worked and what did not.

Each check returns the steps it tried, in order, each passed (True), failed
(False) or not tried because an earlier step failed (None), with a sentence. The
settings dialog shows them; they use the values typed in the form, before they
are saved. They run in the engine (over the API for a remote window), so they
test the network the daemons use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from stashdesk.clients.errors import (
    MalformedAnswer,
    QBittorrentLoginRejected,
    QBittorrentUnreachable,
    ServiceAnswerError,
    ServiceError,
    StashAuthRejected,
    StashUnreachable,
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


def _not_tried(name: str) -> CheckStep:
    return CheckStep(name, None, "not tried")


async def check_stash(url: str, api_key: str, timeout: float = CHECK_TIMEOUT) -> list[CheckStep]:
    reach, auth, read = "Reach Stash", "Sign in", "Read Stash's version"
    auth_what = "with the API key" if api_key else "without an API key"
    client = StashClient(url, api_key, timeout=min(timeout, CHECK_TIMEOUT), retries=0)
    try:
        version = await client.version()
    except StashUnreachable as exc:
        return [CheckStep(reach, False, str(exc)), _not_tried(auth), _not_tried(read)]
    except StashAuthRejected as exc:
        return [
            CheckStep(reach, True, f"{url} answered"),
            CheckStep(auth, False, str(exc)),
            _not_tried(read),
        ]
    except (ServiceAnswerError, MalformedAnswer) as exc:
        return [
            CheckStep(reach, True, f"{url} answered"),
            CheckStep(auth, True, f"accepted {auth_what}"),
            CheckStep(read, False, str(exc)),
        ]
    except ServiceError as exc:
        return [CheckStep(reach, False, str(exc)), _not_tried(auth), _not_tried(read)]
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()
    return [
        CheckStep(reach, True, f"{url} answered"),
        CheckStep(auth, True, f"accepted {auth_what}"),
        CheckStep(read, True, f"Stash {version}"),
    ]


async def check_qbittorrent(
    url: str, username: str, password: str, timeout: float = CHECK_TIMEOUT
) -> list[CheckStep]:
    reach, login, read = "Reach qBittorrent's Web UI", "Log in", "Read qBittorrent's version"
    client = QBittorrentClient(url, username, password, timeout=min(timeout, CHECK_TIMEOUT))
    try:
        version = await client.version()
    except QBittorrentUnreachable as exc:
        return [CheckStep(reach, False, str(exc)), _not_tried(login), _not_tried(read)]
    except QBittorrentLoginRejected as exc:
        return [
            CheckStep(reach, True, f"{url} answered"),
            CheckStep(login, False, str(exc)),
            _not_tried(read),
        ]
    except ServiceError as exc:
        return [
            CheckStep(reach, True, f"{url} answered"),
            CheckStep(login, True, f"logged in as {username!r}"),
            CheckStep(read, False, str(exc)),
        ]
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()
    return [
        CheckStep(reach, True, f"{url} answered"),
        CheckStep(login, True, f"logged in as {username!r}"),
        CheckStep(read, True, f"qBittorrent {version}"),
    ]


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
