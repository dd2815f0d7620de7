"""The user's settings: a declarative list, validated values, and secrets kept safe.

Secrets (``secret=True``) go to the operating system's keyring when a usable one
is present. Otherwise they are stored in the database file, which is created
readable by its owner only. Either way they are masked in ``config list`` and
redacted from every status message and log line (see ``Settings.redact``).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from stashdesk.options import Option, OptionError, list_of_strings
from stashdesk.store.models import Setting

log = logging.getLogger(__name__)

MASK = "********"


def _path_map_validator(value: list) -> None:
    list_of_strings("analysis.path_map")(value)
    for pair in value:
        if "=" not in pair or not pair.split("=", 1)[0]:
            raise OptionError(
                f"analysis.path_map entries look like FROM=TO (e.g. /data=/mnt/media), not {pair!r}"
            )


SETTINGS: list[Option] = [
    # Stash
    Option("stash.url", "url", "http://localhost:9999", "Address of the Stash server."),
    Option("stash.api_key", "str", "", "Stash API key (Settings > Security in Stash); "
           "empty when Stash has no login.", secret=True),
    Option("stash.timeout", "float", 30.0, "Seconds to wait for an answer from Stash.",
           minimum=1, maximum=600),
    Option("stash.stalled_job_minutes", "float", 30.0, "Report a Stash job that makes no "
           "progress for this many minutes.", minimum=0.01),
    # qBittorrent
    Option("qbittorrent.url", "url", "http://localhost:8080", "Address of qBittorrent's Web UI."),
    Option("qbittorrent.username", "str", "admin", "qBittorrent Web UI user name."),
    Option("qbittorrent.password", "str", "", "qBittorrent Web UI password.", secret=True),
    Option("qbittorrent.category", "str", "stash", "Only torrents in this category are processed."),
    Option("qbittorrent.processed_tag", "str", "synced", "Tag added to a torrent once its "
           "files are in the library."),
    Option("qbittorrent.error_tag", "str", "error_syncing", "Tag added to a torrent that "
           "could not be processed."),
    Option("qbittorrent.timeout", "float", 30.0, "Seconds to wait for qBittorrent.",
           minimum=1, maximum=600),
    # Downloads
    Option("downloads.destination", "path", "", "Library folder finished downloads are "
           "hard-linked (or copied) into."),
    Option("downloads.stash_path", "path", "", "The same folder as Stash sees it (empty: "
           "the same path as downloads.destination)."),
    Option("downloads.min_duration_seconds", "int", 0, "Skip video files shorter than this "
           "(needs ffprobe; 0 = keep everything).", minimum=0),
    # Analysis
    Option("analysis.video_server_url", "url", "http://localhost:8084",
           "Address of the AI video-tag server."),
    Option("analysis.frame_interval", "float", 2.0, "Seconds between analysed frames.",
           minimum=0.1, maximum=60),
    Option("analysis.threshold", "float", 0.3, "Minimum confidence of a proposed change.",
           minimum=0, maximum=1),
    Option("analysis.server_timeout", "float", 3700.0, "Seconds to wait for the video-tag "
           "server to analyse one video.", minimum=10),
    Option("analysis.create_markers", "bool", True, "Create scene markers from tag time spans."),
    Option("analysis.path_map", "list", [], "How the video-tag server sees the library: "
           "FROM=TO pairs applied to file paths.", validator=_path_map_validator),
    Option("analysis.concurrency", "int", 2, "Videos sent to the video-tag server at once.",
           minimum=1, maximum=16),
    Option("analysis.retry_after_hours", "float", 24.0, "Wait this long before retrying a "
           "scene the video-tag server failed on.", minimum=0),
    Option("analysis.max_attempts", "int", 3, "Give up on a scene after this many failed "
           "analyses.", minimum=1, maximum=20),
    # Notifications
    Option("notifications.on_failure", "bool", True, "Notify when a job fails or a daemon "
           "crashes (and when it recovers)."),
    Option("notifications.on_success", "bool", False, "Notify when downloads are placed or a "
           "plan is applied."),
    # History
    Option("history.retention_days", "int", 30, "Keep status history, logs and finished "
           "jobs this many days.", minimum=1, maximum=3650),
    # Advanced
    Option("jobs.max_concurrent", "int", 3, "Jobs running at the same time.", minimum=1,
           maximum=16, restart_required=True),
    Option("jobs.cancel_grace_seconds", "float", 30.0, "How long a cancelled job may take to "
           "stop by itself before it is stopped hard.", minimum=1),
    Option("daemons.restart_backoff_initial", "float", 5.0, "Seconds before a crashed daemon "
           "is restarted (doubles on each crash).", minimum=1),
    Option("daemons.restart_backoff_max", "float", 300.0, "Longest wait before restarting a "
           "crashed daemon.", minimum=1),
]

SETTINGS_BY_KEY: dict[str, Option] = {option.key: option for option in SETTINGS}

GROUP_TITLES = {
    "stash": "Stash",
    "qbittorrent": "qBittorrent",
    "downloads": "Downloads",
    "analysis": "Analysis",
    "notifications": "Notifications",
    "history": "History",
    "jobs": "Advanced",
    "daemons": "Advanced",
}


def group_of(key: str) -> str:
    return GROUP_TITLES.get(key.split(".", 1)[0], "Advanced")


def option_for(key: str) -> Option:
    try:
        return SETTINGS_BY_KEY[key]
    except KeyError:
        close = [k for k in SETTINGS_BY_KEY if k.split(".")[-1] == key.split(".")[-1]]
        hint = f" Did you mean {close[0]}?" if close else " See `stashdesk config list`."
        raise OptionError(f"unknown setting {key!r}.{hint}") from None


class SecretStore:
    """Where secret values live: the OS keyring if usable, else the database.

    The database row ``secret:<key>`` records where the value is, so a value
    saved while a keyring existed is found again (and one saved without it too).
    """

    def __init__(self, service: str, use_keyring: bool) -> None:
        self.service = service
        # STASHDESK_NO_KEYRING=1 keeps tests and servers away from a desktop keyring.
        if os.environ.get("STASHDESK_NO_KEYRING") == "1":
            use_keyring = False
        self.keyring = _usable_keyring() if use_keyring else None

    @property
    def location(self) -> str:
        return "the system keyring" if self.keyring else "the database file (owner-only)"

    def load(self, key: str) -> str:
        row = Setting.get_or_none(Setting.key == f"secret:{key}")
        if row is None or not isinstance(row.value, dict):
            return ""
        if row.value.get("keyring"):
            if self.keyring is None:
                log.warning("%s is stored in a keyring that is not available now", key)
                return ""
            return self.keyring.get_password(self.service, key) or ""
        return row.value.get("value", "")

    def save(self, key: str, value: str) -> None:
        if self.keyring is not None:
            self.keyring.set_password(self.service, key, value)
            stored: dict = {"keyring": True}
        else:
            stored = {"value": value}
        Setting.insert(key=f"secret:{key}", value=stored).on_conflict_replace().execute()

    def delete(self, key: str) -> None:
        row = Setting.get_or_none(Setting.key == f"secret:{key}")
        in_keyring = row is not None and isinstance(row.value, dict) and row.value.get("keyring")
        if in_keyring and self.keyring is not None:
            try:
                self.keyring.delete_password(self.service, key)
            except Exception:  # already gone is fine
                pass
        Setting.delete().where(Setting.key == f"secret:{key}").execute()


def _usable_keyring() -> Any:
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
        if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) < 1:
            return None
        if type(backend).__name__ == "ChainerBackend" and not backend.backends:
            return None
        return keyring
    except Exception:  # no keyring at all is a normal situation on servers
        return None


class Settings:
    """Current setting values, cached in memory.

    Reads (``get``) are cheap and safe from any thread. Writes (``set``/``unset``)
    run synchronous database statements: call them from the CLI, or from the
    engine through ``Store.write``. Another process's changes are picked up with
    ``reload`` (the engine does so when told over its control socket).
    """

    def __init__(self, data_dir: Path, use_keyring: bool = True) -> None:
        self.secrets = SecretStore(f"StashDesk:{Path(data_dir).resolve()}", use_keyring)
        self._values: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._secret_values: tuple[str, ...] = ()

    def reload(self) -> None:
        values: dict[str, Any] = {}
        for row in Setting.select().where(~Setting.key.startswith("secret:")):
            if row.key in SETTINGS_BY_KEY:
                values[row.key] = row.value
        for option in SETTINGS:
            if option.secret:
                values[option.key] = self.secrets.load(option.key)
        with self._lock:
            self._values = values
            self._secret_values = tuple(
                v for k, v in values.items() if SETTINGS_BY_KEY[k].secret and v
            )

    def get(self, key: str) -> Any:
        option = option_for(key)
        value = self._values.get(key)
        if value is None or value == "" and option.default != "":
            return option.default
        return value

    def is_set(self, key: str) -> bool:
        option_for(key)
        return key in self._values and self._values[key] not in (None, "")

    def set(self, key: str, value: Any) -> Any:
        option = option_for(key)
        value = option.validate(value)
        if option.secret:
            self.secrets.save(key, value)
        else:
            Setting.insert(key=key, value=value).on_conflict_replace().execute()
        self._remember(key, value)
        return value

    def unset(self, key: str) -> None:
        option = option_for(key)
        if option.secret:
            self.secrets.delete(key)
        else:
            Setting.delete().where(Setting.key == key).execute()
        self._remember(key, None)

    def _remember(self, key: str, value: Any) -> None:
        with self._lock:
            values = dict(self._values)
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value
            self._values = values
            self._secret_values = tuple(
                v for k, v in values.items() if SETTINGS_BY_KEY[k].secret and v
            )

    def display(self, key: str) -> str:
        """The value as shown to people: secrets masked, lists as JSON."""
        option = option_for(key)
        value = self.get(key)
        if option.secret:
            return MASK if value else "(not set)"
        if option.type in ("list", "dict"):
            import json

            return json.dumps(value)
        if option.type == "bool":
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    def redact(self, text: str) -> str:
        """Replace every current secret value in ``text`` by the mask."""
        for secret in self._secret_values:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    @property
    def stash_configured(self) -> bool:
        return self.is_set("stash.url")
