"""How a daemon's health reads on a card, in the page header and in the tray.

A card never shows green while its daemon fails: health (ok, retrying, stalled,
error, stopped; see ``DaemonHealthChanged``) decides the badge, the accent and
whether the card counts as needing attention. Qt-free, so the rules are tested
without widgets.
"""

from __future__ import annotations

from collections.abc import Iterable

from stashdesk.engine_client.base import DaemonView
from stashdesk.options import OptionError
from stashdesk.settings import group_of, option_for

# health -> (badge text, badge kind, card accent or None)
HEALTH_LOOK = {
    "ok": ("running", "running", None),
    "retrying": ("retrying", "warning", "warning"),
    "stalled": ("stalled", "warning", "warning"),
    "error": ("error", "error", "error"),
    "stopped": ("stopped", "stopped", None),
}
ATTENTION = ("retrying", "stalled", "error")
# worst first: the tray icon and tooltip follow the worst daemon
SEVERITY = {"error": 3, "stalled": 2, "retrying": 2, "ok": 0, "stopped": 0}


def shown_health(state: str, health: str) -> str:
    """The health shown for a run ``state`` and a reported ``health``: a crash is an error
    and a stopped daemon is stopped, whatever was last reported."""
    if state in ("error", "stopped"):
        return state
    return health if health in HEALTH_LOOK else "ok"


def health_of(view: DaemonView) -> str:
    return shown_health(view.state, view.health)


def needs_attention(view: DaemonView) -> bool:
    return health_of(view) in ATTENTION


def attention_summary(views: Iterable[DaemonView], running_word: str = "running") -> str:
    """The Daemons page header: "5 of 5 running · 2 need attention"."""
    views = list(views)
    running = sum(1 for v in views if v.state == "running")
    attention = sum(1 for v in views if needs_attention(v))
    text = f"{running} of {len(views)} {running_word}"
    if attention:
        text += f" · {attention} need{'s' if attention == 1 else ''} attention"
    return text


def worst(views: Iterable[DaemonView]) -> str:
    """The worst health among ``views`` (``ok`` when nothing is wrong)."""
    found = "ok"
    for view in views:
        health = health_of(view)
        if SEVERITY.get(health, 0) > SEVERITY[found]:
            found = health
    return found


def settings_group(setting: str | None) -> str | None:
    """The Settings page a fix lives on (None: not a global setting)."""
    if not setting:
        return None
    try:
        option_for(setting)
    except OptionError:
        return None
    return group_of(setting)


def fix_label(setting: str | None) -> str | None:
    """The text of a card's fix button: "Open Stash settings" for ``stash.api_key``."""
    group = settings_group(setting)
    return f"Open {group} settings" if group else None
