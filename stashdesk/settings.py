"""The user's settings: a declarative list, validated values, and secrets kept safe.

Secrets (``secret=True``) go to the operating system's keyring when a usable one
is present. Otherwise they are stored in the database file, which is created
readable by its owner only. Either way they are masked in ``config list`` and
redacted from every status message and log line (see ``Settings.redact``, and
``SecretLogFilter`` for the libraries that log what they send or store).

Credentials inside any URL setting (``http://user:pass@nas:9999``, by option type
``url``) are secrets too: the address is stored without them and the ``user:pass``
part as the secret of that key. ``get`` and ``display`` give the address with the
password masked (``http://user:***@nas:9999``); only :meth:`Settings.connection_url`
gives it whole, for the clients. Setting an address whose password is the mask
keeps the stored password, so a value read and written back loses nothing.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from stashdesk.notifications.catalog import EVENTS, check_event_names
from stashdesk.options import Option, OptionError, list_of_strings
from stashdesk.redaction import MASK, REDACTOR
from stashdesk.store.settings import (
    delete_setting,
    save_setting,
    setting_value,
    settings_not_starting_with,
)
from stashdesk.urls import (
    URL_MASK,
    credential_secrets,
    join_credentials,
    mask_url,
    split_credentials,
    userinfo_parts,
)

log = logging.getLogger(__name__)


def _listen_validator(value: str) -> None:
    from stashdesk.api.address import ListenError, parse_listen

    try:
        parse_listen(value)
    except ListenError as exc:
        raise OptionError(f"api.listen: {exc}") from None


def _path_map_validator(value: list[Any]) -> None:
    list_of_strings("analysis.path_map")(value)
    for pair in value:
        if "=" not in pair or not pair.split("=", 1)[0]:
            raise OptionError(
                f"analysis.path_map entries look like FROM=TO (e.g. /data=/mnt/media), not {pair!r}"
            )


def qbittorrent_name(key: str, *, category: bool = False) -> Any:
    """A tag or category name as qBittorrent takes it: qBittorrent splits a tag list at
    commas (``done,ok`` becomes two tags) and trims spaces; a category is a path of
    ``/``-separated parts without backslashes. (Outer spaces are already trimmed.)"""
    kind = "category" if category else "tag"

    def check(value: str) -> None:
        if not value:
            raise OptionError(f"{key} cannot be empty")
        if "," in value:
            raise OptionError(
                f"{key} cannot contain a comma: qBittorrent would read "
                f"{value!r} as the {kind}s "
                f"{', '.join(repr(p.strip()) for p in value.split(','))}"
            )
        if category and (
            "\\" in value or value.startswith("/") or value.endswith("/") or "//" in value
        ):
            raise OptionError(
                f"{key}: qBittorrent does not accept {value!r} as a category "
                f"(no backslash, no '/' at either end, no '//')"
            )

    return check


# Sonarr's rule: "sample" as a word of the name; here also a "Sample(s)" folder.
DEFAULT_SAMPLE_PATTERNS = (r"(^|[\W_])samples?([\W_]|$)",)


def _sample_patterns_validator(value: list[Any]) -> None:
    list_of_strings("downloads.sample_patterns")(value)
    for pattern in value:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise OptionError(
                f"downloads.sample_patterns: {pattern!r} is not a valid regular expression ({exc})"
            ) from None


def _off_or_positive(key: str) -> Any:
    def check(value: float) -> None:
        if -1 < value < 0:
            raise OptionError(f"{key} must be -1 (never) or 0 or more, not {value:g}")

    return check


def _unless_empty(check: Any) -> Any:
    """``check`` for a setting where empty means "off"."""
    return lambda value: check(value) if value else None


def _tray_muted_validator(value: Any) -> None:
    check_event_names("notifications.tray_muted", value)


def _video_servers_validator(value: list[Any]) -> None:
    from stashdesk.analysis.server_pool import check_server_entries

    check_server_entries(value)


SETTINGS: list[Option] = [
    # Stash
    Option("stash.url", "url", "http://localhost:9999", "Address of the Stash server."),
    Option(
        "stash.api_key",
        "str",
        "",
        "Stash API key (Settings > Security in Stash); empty when Stash has no login.",
        secret=True,
    ),
    Option(
        "stash.timeout",
        "float",
        30.0,
        "Seconds to wait for an answer from Stash (the whole answer, not each read).",
        minimum=1,
        maximum=600,
    ),
    Option(
        "stash.stalled_job_minutes",
        "float",
        30.0,
        "Report a Stash job that makes no progress for this many minutes.",
        minimum=0.01,
        maximum=7 * 24 * 60,
    ),
    Option(
        "stash.websocket",
        "bool",
        True,
        "Follow Stash's jobs live over its WebSocket "
        "(jobsSubscribe); when it cannot be opened, StashDesk polls and tries again later.",
    ),
    # qBittorrent
    Option("qbittorrent.url", "url", "http://localhost:8080", "Address of qBittorrent's Web UI."),
    Option("qbittorrent.username", "str", "admin", "qBittorrent Web UI user name."),
    Option("qbittorrent.password", "str", "", "qBittorrent Web UI password.", secret=True),
    Option(
        "qbittorrent.category",
        "str",
        "stash",
        "Only torrents in this category are processed.",
        validator=qbittorrent_name("qbittorrent.category", category=True),
    ),
    Option(
        "qbittorrent.processed_tag",
        "str",
        "synced",
        "Tag added to a torrent once its files are in the library.",
        validator=qbittorrent_name("qbittorrent.processed_tag"),
    ),
    Option(
        "qbittorrent.error_tag",
        "str",
        "error_syncing",
        "Tag added to a torrent that could not be processed.",
        validator=qbittorrent_name("qbittorrent.error_tag"),
    ),
    Option(
        "qbittorrent.timeout",
        "float",
        30.0,
        "Seconds to wait for qBittorrent (the whole answer, not each read).",
        minimum=1,
        maximum=600,
    ),
    Option(
        "qbittorrent.done_category",
        "str",
        "",
        "Move a torrent to this category once its "
        "files are in the library (empty: leave it in qbittorrent.category).",
        validator=_unless_empty(qbittorrent_name("qbittorrent.done_category", category=True)),
    ),
    # Downloads
    Option(
        "downloads.destination",
        "path",
        "",
        "Library folder finished downloads are hard-linked (or copied) into.",
    ),
    Option(
        "downloads.stash_path",
        "path",
        "",
        "The same folder as Stash sees it (empty: the same path as downloads.destination).",
        foreign_path=True,
    ),
    Option(
        "downloads.min_duration_seconds",
        "int",
        0,
        "Skip video files shorter than this (needs ffprobe; 0 = keep everything).",
        minimum=0,
        maximum=24 * 3600,
    ),
    Option(
        "downloads.skip_samples",
        "bool",
        True,
        "Skip sample videos: a name matching "
        "downloads.sample_patterns and no larger than downloads.sample_max_mb.",
    ),
    Option(
        "downloads.sample_patterns",
        "list",
        list(DEFAULT_SAMPLE_PATTERNS),
        "Regular expressions (case-insensitive) for sample videos, matched against the "
        "file's name and each folder above it within the torrent.",
        validator=_sample_patterns_validator,
    ),
    Option(
        "downloads.sample_max_mb",
        "float",
        70.0,
        "A video named like a sample is skipped "
        "only up to this size in MB (0 = whatever its size).",
        minimum=0,
        maximum=1_000_000,
    ),
    Option(
        "downloads.min_free_gb",
        "float",
        1.0,
        "Before copying into the library (when it "
        "cannot hard-link), keep at least this many GB free there; a torrent that would "
        "not fit gets the error tag.",
        minimum=0,
        maximum=1_000_000,
    ),
    Option(
        "downloads.remove_after_ratio",
        "float",
        -1.0,
        "Remove a placed torrent from "
        "qBittorrent (its files are kept) once its share ratio reaches this (-1 = never).",
        minimum=-1,
        maximum=1000,
        validator=_off_or_positive("downloads.remove_after_ratio"),
    ),
    Option(
        "downloads.remove_after_hours",
        "float",
        -1.0,
        "Remove a placed torrent from "
        "qBittorrent (its files are kept) once it has seeded this many hours (-1 = never).",
        minimum=-1,
        maximum=87_600,
        validator=_off_or_positive("downloads.remove_after_hours"),
    ),
    # Analysis
    Option(
        "analysis.video_server_url",
        "url",
        "http://localhost:8084",
        "Address of the AI video-tag server.",
    ),
    Option(
        "analysis.frame_interval",
        "float",
        2.0,
        "Seconds between analysed frames.",
        minimum=0.1,
        maximum=60,
    ),
    Option(
        "analysis.threshold",
        "float",
        0.3,
        "Minimum confidence of a proposed change.",
        minimum=0,
        maximum=1,
    ),
    Option(
        "analysis.server_timeout",
        "float",
        3700.0,
        "Seconds to wait for the video-tag server to analyse one video (the whole answer).",
        minimum=10,
        maximum=24 * 3600,
    ),
    Option("analysis.create_markers", "bool", True, "Create scene markers from tag time spans."),
    Option(
        "analysis.path_map",
        "list",
        [],
        "How the video-tag server sees the library: FROM=TO pairs applied to file paths.",
        validator=_path_map_validator,
    ),
    Option(
        "analysis.concurrency",
        "int",
        2,
        "Videos sent to the video-tag server at once.",
        minimum=1,
        maximum=16,
    ),
    Option(
        "analysis.retry_after_hours",
        "float",
        24.0,
        "Wait this long before retrying a scene the video-tag server failed on.",
        minimum=0,
        maximum=366 * 24,
    ),
    Option(
        "analysis.max_attempts",
        "int",
        3,
        "Give up on a scene after this many failed analyses.",
        minimum=1,
        maximum=20,
    ),
    Option(
        "analysis.video_servers",
        "list",
        [],
        "Several video-tag servers to spread the "
        'work over: [{"url": "http://gpu1:8084", "concurrency": 2, "path_map": '
        '["/data=/mnt/media"]}, ...]; empty: the one server of '
        "analysis.video_server_url.",
        validator=_video_servers_validator,
    ),
    Option(
        "analysis.server_retry_seconds",
        "float",
        30.0,
        "How long a video-tag server "
        "that failed or did not answer is set aside before it gets work again (doubles "
        "with each failure in a row, at most 10 minutes).",
        minimum=0.1,
        maximum=3600,
    ),
    Option(
        "analysis.select",
        "str",
        "new",
        "Which scenes the Auto Video Analysis takes: "
        "new (every synced scene not analysed yet) or tagged (only scenes tagged "
        "AI_TagMe).",
        choices=("new", "tagged"),
    ),
    Option(
        "analysis.reanalyse_on_change",
        "bool",
        True,
        "Analyse a scene again when the "
        "server's model, the frame interval, the threshold or its VR flag changed since "
        "it was analysed.",
    ),
    Option(
        "analysis.tag_policy",
        "str",
        "suffix",
        "How AI tags become Stash tags: suffix "
        "(<tag>_AI) or map (the Stash tag of the same name or alias when there is one).",
        choices=("suffix", "map"),
    ),
    Option(
        "analysis.create_missing_tags",
        "bool",
        True,
        "With tag_policy map: create "
        "<tag>_AI when Stash has no tag of that name (off: leave the tag out).",
    ),
    Option(
        "analysis.parent_tag",
        "str",
        "AI",
        "Parent tag of the tags StashDesk creates in "
        'Stash (created with Auto Tag ignoring them); "-": no parent.',
    ),
    # Notifications (the tray; targets such as Discord or ntfy have their own events)
    Option(
        "notifications.on_failure",
        "bool",
        True,
        "Show in the tray when a job fails or a daemon crashes (and when it recovers).",
    ),
    Option(
        "notifications.on_success",
        "bool",
        False,
        "Show in the tray when downloads are placed, a plan is ready or a plan is applied.",
    ),
    Option(
        "notifications.tray_muted",
        "list",
        ["started", "stopped"],
        "Events the tray never "
        "shows, whatever the two switches say; one or more of: " + ", ".join(EVENTS) + ".",
        validator=_tray_muted_validator,
    ),
    # Engine API
    Option(
        "api.listen",
        "str",
        "127.0.0.1:0",
        "Where the engine API listens (HOST:PORT; "
        "port 0 picks a free one). Any address but loopback is served over TLS.",
        validator=_listen_validator,
        restart_required=True,
    ),
    Option(
        "api.tls",
        "str",
        "auto",
        "TLS for the engine API: auto (on for any address but loopback) or on (loopback too).",
        choices=("auto", "on"),
        restart_required=True,
    ),
    Option(
        "api.tls_cert",
        "path",
        "",
        "Certificate (PEM) for the engine API (empty: a self-signed one made in the data folder).",
        restart_required=True,
    ),
    Option("api.tls_key", "path", "", "Private key (PEM) of api.tls_cert.", restart_required=True),
    Option(
        "api.key",
        "str",
        "",
        "Key clients send to the engine API (X-Api-Key); made at the "
        "first start. `stashdesk api key` prints it.",
        secret=True,
    ),
    # History
    Option(
        "history.retention_days",
        "int",
        30,
        "Keep status history, logs and finished jobs this many days.",
        minimum=1,
        maximum=3650,
    ),
    Option(
        "history.max_rows_per_daemon",
        "int",
        50_000,
        "Keep at most this many status "
        "history rows and this many log lines per daemon, however young.",
        minimum=100,
        maximum=10_000_000,
        restart_required=True,
    ),
    # Advanced
    Option(
        "jobs.max_concurrent",
        "int",
        3,
        "Jobs running at the same time.",
        minimum=1,
        maximum=16,
        restart_required=True,
    ),
    Option(
        "jobs.cancel_grace_seconds",
        "float",
        30.0,
        "How long a cancelled job may take to stop by itself before it is stopped hard.",
        minimum=1,
        maximum=3600,
    ),
    Option(
        "daemons.restart_backoff_initial",
        "float",
        5.0,
        "Seconds before a crashed daemon is restarted (doubles on each crash).",
        minimum=1,
        maximum=3600,
    ),
    Option(
        "daemons.restart_backoff_max",
        "float",
        300.0,
        "Longest wait before restarting a crashed daemon.",
        minimum=1,
        maximum=24 * 3600,
    ),
]

SETTINGS_BY_KEY: dict[str, Option] = {option.key: option for option in SETTINGS}

GROUP_TITLES = {
    "stash": "Stash",
    "qbittorrent": "qBittorrent",
    "downloads": "Downloads",
    "analysis": "Analysis",
    "notifications": "Notifications",
    "history": "History",
    "api": "Engine API",
    "jobs": "Advanced",
    "daemons": "Advanced",
}


def group_of(key: str) -> str:
    return GROUP_TITLES.get(key.split(".", 1)[0], "Advanced")


def option_for(key: str) -> Option:
    try:
        return SETTINGS_BY_KEY[key]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(key.lower(), SETTINGS_BY_KEY, n=1, cutoff=0.6)
        close += [k for k in SETTINGS_BY_KEY if k.split(".")[-1] == key.split(".")[-1]]
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
        stored = setting_value(f"secret:{key}")
        if not isinstance(stored, dict):
            return ""
        if stored.get("keyring"):
            if self.keyring is None:
                log.warning("%s is stored in a keyring that is not available now", key)
                return ""
            return self.keyring.get_password(self.service, key) or ""
        value: str = stored.get("value", "")  # what save() wrote
        return value

    def save(self, key: str, value: str) -> None:
        if self.keyring is not None:
            self.keyring.set_password(self.service, key, value)
            stored: dict[str, Any] = {"keyring": True}
        else:
            stored = {"value": value}
        save_setting(f"secret:{key}", stored)

    def delete(self, key: str) -> None:
        stored = setting_value(f"secret:{key}")
        in_keyring = isinstance(stored, dict) and stored.get("keyring")
        if in_keyring and self.keyring is not None:
            try:
                self.keyring.delete_password(self.service, key)
            except Exception:  # already gone is fine
                pass
        delete_setting(f"secret:{key}")


def _usable_keyring() -> Any:
    try:
        import keyring
        from keyring.backends import chainer, fail

        backend = keyring.get_keyring()
        if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) < 1:
            return None
        if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
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
        self._other_secrets: dict[str, tuple[str, ...]] = {}

    def reload(self) -> None:
        values: dict[str, Any] = {}
        for key, value in settings_not_starting_with("secret:"):
            if key in SETTINGS_BY_KEY:
                values[key] = value
        for option in SETTINGS:
            if option.secret:
                values[option.key] = self.secrets.load(option.key)
            elif option.type == "url":
                values[option.key] = self._load_url(option.key, values.get(option.key))
        with self._lock:
            self._publish(values)

    def _load_url(self, key: str, stored: Any) -> Any:
        if not isinstance(stored, str) or not stored:
            return stored
        bare, userinfo = split_credentials(stored)
        if userinfo:  # written in clear by an older StashDesk: move it to the secret store
            self.secrets.save(key, userinfo)
            save_setting(key, bare)
            log.info("moved the credentials in %s to %s", key, self.secrets.location)
            return stored
        return join_credentials(bare, self.secrets.load(key))

    def get(self, key: str) -> Any:
        """The value (the default when unset); a URL's password masked (see the module
        docstring), secrets themselves in clear."""
        option = option_for(key)
        value = self._value(key, option)
        if option.type == "url" and value:
            return mask_url(value)
        return value

    def _value(self, key: str, option: Option) -> Any:
        value = self._values.get(key)
        if value is None or value == "" and option.default != "":
            return option.default
        return value

    def connection_url(self, key: str) -> str:
        """A URL setting with its credentials, for a client to connect with. Never show
        it or put it in a message."""
        option = option_for(key)
        if option.type != "url":
            raise OptionError(f"{key} is not an address")
        return str(self._value(key, option) or "")

    def with_stored_credentials(self, key: str, url: str) -> str:
        """``url`` with a masked password (``user:***@``) or token (``***@``) replaced by
        the one stored for ``key`` (for an address read, edited and written back, or
        tested before it is saved). Raises OptionError when the stored credentials are
        for another user name, or there are none."""
        bare, userinfo = split_credentials(url)
        user, password = userinfo_parts(userinfo)
        masked_token = bool(userinfo) and password is None and user == URL_MASK
        masked_password = password == URL_MASK
        if not (masked_token or masked_password):
            return url
        stored = split_credentials(self.connection_url(key))[1]
        stored_user, stored_password = userinfo_parts(stored)
        if stored and (
            stored_password is None
            if masked_token
            else stored_password is not None and stored_user == user
        ):
            return join_credentials(bare, stored)
        raise OptionError(
            f"{key}: type the password again - the masked one ({URL_MASK}) "
            f"stands for a stored password, and none is stored for "
            f"{'this token' if masked_token else repr(user)}"
        )

    def is_set(self, key: str) -> bool:
        option_for(key)
        return key in self._values and self._values[key] not in (None, "")

    def set(self, key: str, value: Any) -> Any:
        """Validate and store ``value``; returns it as ``get`` will (URLs masked)."""
        option = option_for(key)
        value = option.validate(value)
        if option.secret:
            self.secrets.save(key, value)
        elif option.type == "url":
            value = self.with_stored_credentials(key, value) if value else value
            bare, userinfo = split_credentials(value)
            if userinfo:
                self.secrets.save(key, userinfo)
            else:
                self.secrets.delete(key)
            save_setting(key, bare)
        else:
            save_setting(key, value)
        self._remember(key, value)
        return mask_url(value) if option.type == "url" else value

    def unset(self, key: str) -> None:
        option = option_for(key)
        if option.secret or option.type == "url":
            self.secrets.delete(key)
        if not option.secret:
            delete_setting(key)
        self._remember(key, None)

    def _remember(self, key: str, value: Any) -> None:
        with self._lock:
            values = dict(self._values)
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value
            self._publish(values)

    def forget_secrets(self) -> None:
        """Stop masking this instance's secrets (its engine stopped; the redactor is
        process-wide, so another engine in the process must not inherit them)."""
        REDACTOR.set_secrets(self, [])

    def learn_secrets(self, source: str, values: Iterable[str]) -> None:
        """Have ``redact`` also mask ``values``: secrets kept outside the settings list,
        such as notification target URLs. Replaces what ``source`` taught before."""
        with self._lock:
            self._other_secrets[source] = tuple(v for v in values if v)
            self._publish(self._values)

    def _publish(self, values: dict[str, Any]) -> None:
        """Make ``values`` current and tell the redactor every secret in them (and the
        ones learnt from elsewhere)."""
        self._values = values
        secrets: list[str] = [v for learnt in self._other_secrets.values() for v in learnt]
        for key, value in values.items():
            option = SETTINGS_BY_KEY[key]
            if option.secret and value:
                secrets.append(str(value))
            elif option.type == "url" and isinstance(value, str):
                secrets.extend(credential_secrets(split_credentials(value)[1]))
        REDACTOR.set_secrets(self, secrets)

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
        """Replace every secret value known in this process, in any of its forms, by the
        mask (see stashdesk.redaction)."""
        return REDACTOR.redact(text)

    @property
    def stash_configured(self) -> bool:
        return self.is_set("stash.url")


class SecretLogFilter(logging.Filter):
    """Masks secrets in the records of libraries that log what they send or store.

    Apprise logs the URLs it posts to (tokens in their paths), urllib3 the request
    lines, peewee (at DEBUG) the parameters of its statements - secrets saved in the
    database file among them. Installed once per process on those loggers; each
    engine registers its ``Settings.redact`` and every registered one is applied.
    A filter runs only for records a logger's level lets through: nothing is spent
    at the default level.
    """

    # (a filter sees only its own logger's records, not its children's)
    LOGGERS = ("apprise", "urllib3.connectionpool", "peewee")
    _installed: SecretLogFilter | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        super().__init__()
        self.redactors: list[Callable[[str], str]] = []

    @classmethod
    def register(cls, redact: Callable[[str], str]) -> Callable[[], None]:
        """Apply ``redact`` to those loggers' records; returns the function that stops it."""
        with cls._lock:
            if cls._installed is None:
                cls._installed = cls()
                for name in cls.LOGGERS:
                    logging.getLogger(name).addFilter(cls._installed)
            installed = cls._installed
            installed.redactors.append(redact)

        def unregister() -> None:
            with cls._lock:
                if redact in installed.redactors:
                    installed.redactors.remove(redact)

        return unregister

    def filter(self, record: logging.LogRecord) -> bool:
        redactors = list(self.redactors)
        if not redactors:
            return True
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is the library's problem, not ours
            return True
        for redact in redactors:
            text = redact(text)
        record.msg, record.args = text, ()
        return True
