"""The events StashDesk tells people about, by the names the CLI and ``--json`` use.

Pure data (no Apprise, no database) so that settings can validate event lists
without importing the sending machinery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stashdesk.options import OptionError


class NotificationSetupError(OptionError):
    """A target name, URL or event list that cannot be used; the message says why."""


@dataclass(frozen=True)
class EventKind:
    """One kind of event.

    Attributes:
        name: the stable name (``job_failed``), used in target event lists.
        description: what it means, for the Settings page and ``notify add --help``.
        level: ``failure``, ``warning``, ``success`` or ``info`` (the Apprise type).
        tray_switch: the setting that turns it on or off in the tray.
    """

    name: str
    description: str
    level: str
    tray_switch: str

    @property
    def failure(self) -> bool:
        return self.level in ("failure", "warning")


_ON_FAILURE = "notifications.on_failure"
_ON_SUCCESS = "notifications.on_success"

EVENT_KINDS: tuple[EventKind, ...] = (
    EventKind(
        "daemon_crashed", "a daemon crashed (it is restarted with back-off)", "failure", _ON_FAILURE
    ),
    # whoever heard of the crash should hear of the recovery
    EventKind("daemon_recovered", "a crashed daemon runs again", "success", _ON_FAILURE),
    EventKind("job_failed", "a job failed", "failure", _ON_FAILURE),
    EventKind(
        "job_failures", "a job finished, but some of its items failed", "warning", _ON_FAILURE
    ),
    EventKind(
        "downloads_placed", "finished downloads were placed in the library", "success", _ON_SUCCESS
    ),
    EventKind("plan_ready", "an analysis plan is ready for review", "info", _ON_SUCCESS),
    EventKind("plan_applied", "a plan was applied to Stash", "success", _ON_SUCCESS),
    EventKind("health_failed", "a health check is failing", "failure", _ON_FAILURE),
    EventKind("health_recovered", "a failing health check passes again", "success", _ON_FAILURE),
    EventKind("started", "StashDesk started", "info", _ON_SUCCESS),
    EventKind("stopped", "StashDesk stopped", "info", _ON_SUCCESS),
)

EVENTS: dict[str, EventKind] = {kind.name: kind for kind in EVENT_KINDS}

#: In a target's event list: every event, also those added in later versions.
ALL_EVENTS = "all"


def check_event_names(what: str, names: Any) -> list[str]:
    """``names`` as a list of known event names, or OptionError naming the bad one."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise NotificationSetupError(
            f'{what} must be a list of event names such as ["job_failed", "daemon_crashed"]'
        )
    for name in names:
        if name != ALL_EVENTS and name not in EVENTS:
            raise NotificationSetupError(
                f"{what}: unknown event {name!r}; use {ALL_EVENTS} or "
                f"one or more of: {', '.join(EVENTS)}"
            )
    return list(dict.fromkeys(names))


def parse_target_events(text: str | list[str]) -> list[str]:
    """The events of ``notify add NAME URL --on EVENT[,EVENT...]``; at least one."""
    names = check_event_names("--on", text)
    if not names:
        raise NotificationSetupError(
            f"choose at least one event with --on, e.g. --on job_failed,daemon_crashed (or "
            f"--on {ALL_EVENTS}); the events are: {', '.join(EVENTS)}"
        )
    return [ALL_EVENTS] if ALL_EVENTS in names else names


def describe_events() -> list[dict[str, Any]]:
    """Every event kind, JSON-able, for a Settings page's check boxes or ``--help``."""
    return [
        {
            "name": k.name,
            "description": k.description,
            "level": k.level,
            "tray_switch": k.tray_switch,
        }
        for k in EVENT_KINDS
    ]
