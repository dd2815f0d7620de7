"""Run a REAL ``qbittorrent-nox`` on 127.0.0.1 and feed it real, completed torrents.

Nothing here touches the network: the WebUI and the BitTorrent listener are
bound to loopback, DHT / PeX / LSD / UPnP / GeoIP lookups are disabled, and the
torrents are built locally (:func:`make_torrent`) from files that already exist
on disk.  Adding such a torrent with ``save_path`` = the folder holding the
content makes qBittorrent hash-check it, find every piece, and report it as a
finished download (progress 1.0, state ``stalledUP``) -- exactly what a real
finished download looks like to the app.

Typical use (see ``tests/standins/qbittorrent_fixtures.py`` for the fixture)::

    qb = QBittorrentProcess()
    qb.start(tmp_path)
    h = qb.add_completed_torrent(tmp_path / "dl" / "Movie", category="stash", tags=["a"])
    info = qb.torrent(h)          # TorrentDictionary from the real daemon
    qb.stop()                     # graceful, resume data is written
    qb.start()                    # same profile, same ports: torrents come back

What qBittorrent 4.5.2 (libtorrent 2.0.8, WebAPI 2.8.19) reports -- checked by
``tests/unit/test_qbittorrent_harness.py``:

Completed single-file torrent (content ``<dir>/file.bin``, save_path ``<dir>``):
    ``state`` ``stalledUP`` (no peers; ``uploading``/``queuedUP``/``pausedUP``/
    ``forcedUP`` are the other "finished" states), ``progress`` 1.0,
    ``amount_left`` 0, ``completion_on`` > 0, ``save_path`` ``<dir>`` (no trailing
    slash), ``content_path`` ``<dir>/file.bin`` (the file itself), ``name``
    ``file.bin``; ``files()`` -> one entry whose ``name`` is ``file.bin``.

Completed multi-file torrent (content folder ``<dir>/Pack``):
    same states; ``content_path`` ``<dir>/Pack`` (the folder), ``files()`` names
    are ``Pack/<relative path>`` with ``/`` separators (``Pack/sub/b.txt``), in
    the torrent's file order (we sort them).

Missing content (:meth:`QBittorrentProcess.add_missing_torrent`):
    * ``mode="empty"`` (save_path is an empty folder) or ``mode="recheck"``
      (content deleted after completion, then rechecked): nothing is found,
      ``progress`` 0.0, ``amount_left`` == ``size``, state ``stalledDL`` (it
      would download, but there are no peers).  ``content_path`` still points
      at where the content *would* be (``save_path/name``), which does not exist.
      Deleting files of a seeding torrent WITHOUT a recheck goes unnoticed:
      qBittorrent keeps reporting ``stalledUP`` / progress 1.0 (nobody asks
      for a piece), so the app must not trust ``content_path`` to exist.
    * ``mode="restart"`` (content deleted while qBittorrent is stopped, then
      started again): the fast-resume data is rejected ("mismatching file
      size" in the log), the torrent is paused with state ``missingFiles``,
      ``progress`` 0.0, ``amount_left`` == ``size``; ``completion_on`` keeps the
      old timestamp; ``content_path`` points at the vanished path.

Hostile names (see :func:`make_torrent` ``file_list_override`` and
:meth:`QBittorrentProcess.rename_file`):
    libtorrent sanitises the names in the .torrent when it loads it, so a hostile
    .torrent can NOT make qBittorrent report a path that leaves ``save_path``:

    * file path ``["..", "escape.txt"]`` -> ``<name>/escape.txt`` (``..`` and
      ``.`` components are dropped),
    * file path ``["/etc", "passwd"]`` -> ``<name>/etc/passwd``,
    * one component ``"sub/../../x.txt"`` -> ``<name>/sub....x.txt``
      (separators inside a component are removed),
    * torrent name ``"../../etc/evil.txt"`` -> ``....etcevil.txt``,
      ``"/tmp/abs.txt"`` -> ``tmpabs.txt``,
    * torrent name ``".."`` (multi-file) -> the name becomes the info-hash.

    BUT the WebAPI rename calls are not sanitised in 4.5.2:
    ``torrents/renameFile`` and ``torrents/renameFolder`` accept new paths
    containing ``..`` (only absolute paths are refused with HTTP 409
    "Absolute path isn't allowed").  libtorrent then really moves the file on
    disk to ``save_path/../escaped.txt`` and qBittorrent reports
    ``files()[i].name == "../escaped.txt"``.  The torrent stays complete
    (progress 1.0, stalledUP), also across a restart.  ``content_path`` is
    ``save_path/<first path component>`` when all files share that first
    component, otherwise ``save_path`` itself; so renaming the only file of a
    single-file torrent to ``../x.bin`` gives ``content_path`` =
    ``<parent of save_path>/x.bin`` and renaming the folder ``Pack`` of a
    multi-file torrent to ``../Pack`` gives ``<parent of save_path>/Pack`` --
    both OUTSIDE ``save_path`` (reported normalised, without ``..``); escaping
    only one file of a multi-file torrent leaves ``content_path`` ==
    ``save_path``.  The new path is cleaned first: ``Pack/../../x`` is reported
    as ``../x``.  That is the realistic way to get a "finished download" whose
    reported names escape the destination; use
    :meth:`QBittorrentProcess.add_escaping_torrent`.

    Content can also escape through symlinks: a symlink inside the content
    folder is followed by libtorrent while checking, so a torrent whose file is
    a symlink to something outside completes normally (``files()`` reports the
    link's own name).  :func:`make_torrent` follows symlinks too.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar

import qbittorrentapi

__all__ = [
    "CHECKING_STATES",
    "COMPLETED_STATES",
    "DEFAULT_PASSWORD",
    "DEFAULT_USERNAME",
    "DOWNLOADING_STATES",
    "ERROR_STATES",
    "QBittorrentError",
    "QBittorrentProcess",
    "bdecode",
    "bencode",
    "find_qbittorrent_nox",
    "info_hash",
    "make_torrent",
    "wait_for",
]

T = TypeVar("T")

#: Environment variable that may point at a specific qbittorrent-nox binary.
BINARY_ENV = "STASHDESK_QBITTORRENT_NOX"

DEFAULT_USERNAME = "admin"
#: Default WebUI password of qBittorrent < 4.6 (4.6+ generates a random one).
DEFAULT_PASSWORD = "adminadmin"

#: States of a torrent whose data is complete ("finished download").
#: ``stoppedUP`` is the qBittorrent 5 spelling of ``pausedUP``.
COMPLETED_STATES = frozenset(
    {"uploading", "stalledUP", "queuedUP", "pausedUP", "stoppedUP", "forcedUP"}
)
#: States of a torrent that still wants data.
DOWNLOADING_STATES = frozenset(
    {
        "downloading",
        "stalledDL",
        "queuedDL",
        "pausedDL",
        "stoppedDL",
        "forcedDL",
        "metaDL",
        "forcedMetaDL",
        "allocating",
    }
)
ERROR_STATES = frozenset({"error", "missingFiles"})
#: Transient states (hash check, resume data, moving).
CHECKING_STATES = frozenset({"checkingUP", "checkingDL", "checkingResumeData", "moving"})

POLL_INTERVAL = 0.05


class QBittorrentError(RuntimeError):
    """qbittorrent-nox could not be started / did not do what the harness expected."""


class _PortClash(QBittorrentError):
    """The WebUI port was taken by someone else (retryable on first start)."""


# --------------------------------------------------------------------------- bencode


def bencode(obj: Any) -> bytes:
    """Bencode ``obj``: int, bytes, str (UTF-8), list/tuple, dict (keys sorted as bytes)."""
    out: list[bytes] = []
    _bencode_into(obj, out)
    return b"".join(out)


def _bencode_into(obj: Any, out: list[bytes]) -> None:
    if isinstance(obj, bool):  # bool is an int subclass; refuse the ambiguity
        raise TypeError("bencode: bool is not a bencode type")
    if isinstance(obj, int):
        out.append(b"i%de" % obj)
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        data = bytes(obj)
        out.append(b"%d:" % len(data))
        out.append(data)
    elif isinstance(obj, str):
        _bencode_into(obj.encode("utf-8"), out)
    elif isinstance(obj, (list, tuple)):
        out.append(b"l")
        for item in obj:
            _bencode_into(item, out)
        out.append(b"e")
    elif isinstance(obj, Mapping):
        keyed: dict[bytes, Any] = {}
        for key, value in obj.items():
            if isinstance(key, str):
                bkey = key.encode("utf-8")
            elif isinstance(key, (bytes, bytearray)):
                bkey = bytes(key)
            else:
                raise TypeError(f"bencode: dict key must be str or bytes, not {type(key).__name__}")
            if bkey in keyed:
                raise ValueError(f"bencode: duplicate key {bkey!r}")
            keyed[bkey] = value
        out.append(b"d")
        for bkey in sorted(keyed):
            _bencode_into(bkey, out)
            _bencode_into(keyed[bkey], out)
        out.append(b"e")
    else:
        raise TypeError(f"bencode: unsupported type {type(obj).__name__}")


def bdecode(data: bytes) -> Any:
    """Decode bencoded ``data`` (strings stay ``bytes``; dict keys are ``bytes``)."""
    value, end = _bdecode_at(data, 0)
    if end != len(data):
        raise ValueError(f"bdecode: trailing data at offset {end}")
    return value


def _bdecode_at(data: bytes, i: int) -> tuple[Any, int]:
    if i >= len(data):
        raise ValueError("bdecode: unexpected end of data")
    c = data[i : i + 1]
    if c == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1 : end]), end + 1
    if c == b"l":
        i += 1
        items = []
        while data[i : i + 1] != b"e":
            item, i = _bdecode_at(data, i)
            items.append(item)
        return items, i + 1
    if c == b"d":
        i += 1
        result: dict[bytes, Any] = {}
        while data[i : i + 1] != b"e":
            key, i = _bdecode_at(data, i)
            value, i = _bdecode_at(data, i)
            result[key] = value
        return result, i + 1
    if c.isdigit():
        colon = data.index(b":", i)
        length = int(data[i:colon])
        start = colon + 1
        if start + length > len(data):
            raise ValueError("bdecode: string runs past end of data")
        return data[start : start + length], start + length
    raise ValueError(f"bdecode: invalid byte {c!r} at offset {i}")


# --------------------------------------------------------------------------- torrents

#: ``file_list_override`` entry: (path, content).  ``path`` is a list of path
#: components (written verbatim, so ``[".."]`` or ``["/etc", "x"]`` are
#: possible) or a single ``str`` used as ONE component (slashes and all);
#: ``content`` is the file's bytes or a Path to read them from.
FileEntry = tuple[Sequence[str] | str, bytes | os.PathLike[str] | str]


def info_hash(torrent: bytes) -> str:
    """v1 info-hash (lowercase hex SHA-1 of the bencoded ``info`` dict) of a .torrent."""
    meta = bdecode(torrent)
    return hashlib.sha1(bencode(meta[b"info"])).hexdigest()


def make_torrent(
    content_path: Path,
    name: str | None = None,
    piece_length: int = 16384,
    file_list_override: Sequence[FileEntry] | None = None,
) -> tuple[bytes, str]:
    """Build a v1 .torrent for local content; return ``(torrent_bytes, info_hash_hex)``.

    * ``content_path`` a file -> single-file torrent (``info.length``);
      a folder -> multi-file torrent (``info.files``, sorted by relative path,
      each path a list of components; empty folders are not represented).
      Symlinks are followed (the target's bytes are hashed).
    * ``name`` overrides ``info.name`` (default ``content_path.name``).  qBittorrent
      looks for the data at ``save_path/<name>``, so a different name only
      completes if the content is there.
    * ``file_list_override`` replaces the file list (always multi-file): a sequence
      of ``(path, content)`` -- see :data:`FileEntry`.  Nothing is checked, so this
      is how to craft a HOSTILE torrent (``[".."]`` components, absolute
      components, separators inside a component).  Combine with a hostile
      ``name`` for single-component tricks.

    What qBittorrent 4.5.2 does with hostile names: it accepts the torrent
    ("Ok.") but libtorrent sanitises every path when loading it -- ``..``/``.``
    components are dropped, a leading ``/`` is dropped, ``/`` and ``\\`` inside a
    component are removed, a name of ``..`` is replaced by the info-hash.  The
    reported ``files()`` names and ``content_path`` therefore always stay inside
    ``save_path``; the data is looked up (and, when downloading, written) at the
    sanitised location.  To get names that really escape, rename files through
    the WebAPI (:meth:`QBittorrentProcess.rename_file`), which 4.5.2 does not
    sanitise.
    """
    content_path = Path(content_path)
    if piece_length <= 0 or piece_length % 16384:
        raise ValueError("piece_length must be a positive multiple of 16 KiB")
    torrent_name = name if name is not None else content_path.name

    info: dict[str, Any] = {"name": torrent_name, "piece length": piece_length}
    if file_list_override is not None:
        entries: list[tuple[list[str], bytes]] = []
        for path, content in file_list_override:
            components = [path] if isinstance(path, str) else list(path)
            if isinstance(content, (bytes, bytearray)):
                data = bytes(content)
            else:
                data = Path(content).read_bytes()
            entries.append((components, data))
        info["files"] = [{"length": len(d), "path": p} for p, d in entries]
        chunks: Iterable[bytes] = (d for _, d in entries)
    elif content_path.is_file():
        info["length"] = content_path.stat().st_size
        chunks = _read_chunks([content_path])
    elif content_path.is_dir():
        files = sorted(
            (p for p in content_path.rglob("*") if p.is_file()),
            key=lambda p: p.relative_to(content_path).parts,
        )
        if not files:
            raise ValueError(f"{content_path} contains no files")
        info["files"] = [
            {"length": p.stat().st_size, "path": list(p.relative_to(content_path).parts)}
            for p in files
        ]
        chunks = _read_chunks(files)
    else:
        raise FileNotFoundError(content_path)

    info["pieces"] = _piece_hashes(chunks, piece_length)
    torrent = bencode(
        {
            "created by": "StashDesk test harness",
            "creation date": int(time.time()),
            "info": info,
        }
    )
    return torrent, hashlib.sha1(bencode(info)).hexdigest()


def _read_chunks(paths: Iterable[Path], size: int = 1 << 20) -> Iterable[bytes]:
    for path in paths:
        with open(path, "rb") as fh:
            while chunk := fh.read(size):
                yield chunk


def _piece_hashes(chunks: Iterable[bytes], piece_length: int) -> bytes:
    """Concatenated SHA-1 of every piece of the concatenated stream (last piece short)."""
    digests: list[bytes] = []
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        while len(buf) >= piece_length:
            digests.append(hashlib.sha1(bytes(buf[:piece_length])).digest())
            del buf[:piece_length]
    if buf or not digests:
        digests.append(hashlib.sha1(bytes(buf)).digest())
    return b"".join(digests)


# --------------------------------------------------------------------------- waiting


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 30.0,
    interval: float = POLL_INTERVAL,
    message: str | Callable[[], str] = "condition",
) -> T:
    """Poll ``predicate`` until it returns a truthy value (returned) or ``timeout`` passes.

    Raises :class:`TimeoutError` naming ``message`` (a str or a callable producing
    one lazily, e.g. to include the last observed state).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {text}")
        time.sleep(interval)


def find_qbittorrent_nox() -> str | None:
    """Path of the qbittorrent-nox binary ($STASHDESK_QBITTORRENT_NOX, else PATH) or None."""
    override = os.environ.get(BINARY_ENV)
    if override:
        return override if os.access(override, os.X_OK) else None
    return shutil.which("qbittorrent-nox")


def _free_port(udp_too: bool = False) -> int:
    """A port free on 127.0.0.1 (for TCP, and UDP too when asked: uTP uses both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            if not udp_too:
                return port
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise QBittorrentError("could not find a free port")


def _close_client(client: qbittorrentapi.Client) -> None:
    """Close the client's HTTP connection pool (it is rebuilt on next use)."""
    reset = getattr(client, "_trigger_session_initialization", None)
    if callable(reset):
        reset()
        return
    session = getattr(client, "_http_session", None)
    if session is not None:
        session.close()


# --------------------------------------------------------------------------- process


class QBittorrentProcess:
    """A real qbittorrent-nox bound to 127.0.0.1 with its own throw-away profile.

    Attributes (valid after the first :meth:`start`): ``url``
    (``http://127.0.0.1:PORT``), ``host``, ``port`` (WebUI), ``bt_port`` (BitTorrent
    listen port), ``username``, ``password``, ``profile`` (the ``--profile``
    directory), ``root`` (the tmp dir handed to :meth:`start`), ``downloads``
    (qBittorrent's default save path, inside the profile), ``log_path``
    (qbittorrent-nox stdout/stderr), ``qbt_log_path`` (qBittorrent's own log),
    ``startup_seconds`` (duration of the last start until login worked).
    """

    host = "127.0.0.1"

    def __init__(
        self,
        binary: str | None = None,
        startup_timeout: float = 30.0,
        die_with_parent: bool = True,
    ) -> None:
        self.binary = binary or find_qbittorrent_nox()
        self.startup_timeout = startup_timeout
        #: Linux (util-linux ``setpriv`` on PATH): the daemon gets SIGTERM when the
        #: thread that started it dies, so a killed pytest leaves no orphan.
        #: Start it from a long-lived thread (the main thread in tests).
        self.die_with_parent = die_with_parent and sys.platform.startswith("linux")
        self.username = DEFAULT_USERNAME
        self.password = DEFAULT_PASSWORD
        self.root: Path | None = None
        self.profile: Path | None = None
        self.downloads: Path | None = None
        self.port: int | None = None
        self.bt_port: int | None = None
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._api: qbittorrentapi.Client | None = None
        self._clients: list[qbittorrentapi.Client] = []

    # ----------------------------------------------------------------- properties

    @property
    def url(self) -> str:
        if self.port is None:
            raise QBittorrentError("qbittorrent-nox has not been started yet")
        return f"http://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self._require_profile() / "qbittorrent-nox.log"

    @property
    def qbt_log_path(self) -> Path:
        return self._require_profile() / "qBittorrent" / "data" / "logs" / "qbittorrent.log"

    @property
    def config_path(self) -> Path:
        return self._require_profile() / "qBittorrent" / "config" / "qBittorrent.conf"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _require_profile(self) -> Path:
        if self.profile is None:
            raise QBittorrentError("qbittorrent-nox has not been started yet")
        return self.profile

    # ----------------------------------------------------------------- lifecycle

    def start(self, tmp_dir: Path | None = None) -> QBittorrentProcess:
        """Start qbittorrent-nox; returns once the WebUI answers and login works.

        First call: ``tmp_dir`` is required; a profile is created in
        ``tmp_dir/qbittorrent-profile`` with free WebUI / BitTorrent ports.
        Later calls (after :meth:`stop`) restart on the SAME profile and ports
        (``tmp_dir`` must be omitted or equal).
        """
        if self.is_running():
            raise QBittorrentError("qbittorrent-nox is already running")
        if not self.binary:
            raise QBittorrentError("qbittorrent-nox not found (PATH or $" + BINARY_ENV + ")")
        first = self.profile is None
        if first:
            if tmp_dir is None:
                raise QBittorrentError("start(tmp_dir) is required for the first start")
            self.root = Path(tmp_dir)
            self.profile = self.root / "qbittorrent-profile"
            self.downloads = self.profile / "downloads"
        elif tmp_dir is not None and Path(tmp_dir) != self.root:
            raise QBittorrentError("restart must use the same tmp_dir as the first start")

        attempts = 3 if first else 1
        for attempt in range(attempts):
            if first:
                self.port = _free_port()
                self.bt_port = _free_port(udp_too=True)
                while self.bt_port == self.port:
                    self.bt_port = _free_port(udp_too=True)
                self._write_config()
            try:
                self._launch_and_wait()
                return self
            except _PortClash:
                self._terminate()
                if attempt == attempts - 1:
                    raise
        return self  # pragma: no cover

    def _write_config(self) -> None:
        assert self.profile is not None and self.downloads is not None
        assert self.port is not None and self.bt_port is not None
        config_dir = self.profile / "qBittorrent" / "config"
        config_dir.mkdir(parents=True, exist_ok=True)
        self.downloads.mkdir(parents=True, exist_ok=True)
        # qBittorrent.conf is a QSettings INI file: "\" separates key groups,
        # and backslashes in values must be doubled.
        downloads = str(self.downloads).replace("\\", "\\\\")
        lines = [
            "[LegalNotice]",
            "Accepted=true",
            "",
            "[BitTorrent]",
            f"Session\\Port={self.bt_port}",
            "Session\\UseRandomPort=false",
            "Session\\Interface=lo",
            "Session\\InterfaceName=lo",
            f"Session\\InterfaceAddress={self.host}",
            "Session\\DHTEnabled=false",
            "Session\\PeXEnabled=false",
            "Session\\LSDEnabled=false",
            "Session\\AnonymousModeEnabled=false",
            "Session\\QueueingSystemEnabled=false",
            "Session\\AddTorrentPaused=false",
            "Session\\TorrentContentLayout=Original",
            "Session\\DisableAutoTMMByDefault=true",
            "Session\\TempPathEnabled=false",
            "Session\\AddExtensionToIncompleteFiles=false",
            f"Session\\DefaultSavePath={downloads}",
            "Session\\SaveResumeDataInterval=1",
            # torrent status is refreshed every RefreshInterval ms (default 1500):
            # a short one makes state changes visible quickly.
            "Session\\RefreshInterval=100",
            "",
            "[Network]",
            "PortForwardingEnabled=false",
            "",
            "[Preferences]",
            f"WebUI\\Address={self.host}",
            f"WebUI\\Port={self.port}",
            "WebUI\\Enabled=true",
            "WebUI\\LocalHostAuth=true",
            "WebUI\\CSRFProtection=false",
            "WebUI\\ClickjackingProtection=false",
            "WebUI\\HostHeaderValidation=false",
            "WebUI\\UseUPnP=false",
            # 0 = never ban: tests may log in with wrong passwords on purpose.
            "WebUI\\MaxAuthenticationFailCount=0",
            "WebUI\\SessionTimeout=3600",
            "Connection\\UPnP=false",
            f"Connection\\PortRangeMin={self.bt_port}",
            "Connection\\ResolvePeerCountries=false",
            "Bittorrent\\DHT=false",
            "Bittorrent\\PeX=false",
            "Bittorrent\\LSD=false",
            "General\\Locale=en",
            "",
        ]
        (config_dir / "qBittorrent.conf").write_text("\n".join(lines), encoding="utf-8")

    def _launch_and_wait(self) -> None:
        profile = self._require_profile()
        qbt_log = self.qbt_log_path
        log_offset = qbt_log.stat().st_size if qbt_log.exists() else 0
        env = dict(os.environ)
        env.pop("http_proxy", None)
        env.pop("HTTP_PROXY", None)
        env.pop("all_proxy", None)
        env.pop("ALL_PROXY", None)
        env["QT_QPA_PLATFORM"] = "offscreen"
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [*self._launcher(), str(self.binary), f"--profile={profile}"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # keep terminal signals (Ctrl-C) away from it
            )
        deadline = started + self.startup_timeout
        try:
            while True:
                if self._proc.poll() is not None:
                    raise QBittorrentError(
                        f"qbittorrent-nox exited with code {self._proc.returncode} during "
                        f"startup\n{self.log_tail()}"
                    )
                if self._webui_bind_failed(log_offset):
                    raise _PortClash(f"WebUI port {self.port} is in use\n{self.log_tail()}")
                if self._webui_answers():
                    break
                if time.monotonic() >= deadline:
                    raise QBittorrentError(
                        f"qbittorrent-nox WebUI did not answer on {self.url} within "
                        f"{self.startup_timeout:.0f}s\n{self.log_tail()}"
                    )
                time.sleep(POLL_INTERVAL)
            self._api = self._new_client()
            wait_for(
                self._try_login,
                timeout=max(1.0, deadline - time.monotonic()),
                message=lambda: f"login to {self.url}\n{self.log_tail()}",
            )
            # Make sure we talk to OUR instance (another one may own the port).
            prefs = self._api.app_preferences()
            if Path(prefs["save_path"]) != self.downloads:
                raise _PortClash(
                    f"{self.url} is another qBittorrent (save_path {prefs['save_path']!r})"
                )
        except BaseException:
            self._terminate()
            raise
        self.startup_seconds = time.monotonic() - started

    def _launcher(self) -> list[str]:
        """``setpriv --pdeathsig TERM --`` (it execs, so the pid stays the daemon's)."""
        if not self.die_with_parent:
            return []
        setpriv = shutil.which("setpriv")
        return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []

    def _webui_answers(self) -> bool:
        request = urllib.request.Request(f"{self.url}/api/v2/app/version")
        try:
            with urllib.request.urlopen(request, timeout=1.0) as response:
                response.read()
            return True
        except urllib.error.HTTPError as exc:  # 401/403 before login: it is up
            exc.close()
            return True
        except (urllib.error.URLError, OSError):
            return False

    def _webui_bind_failed(self, offset: int) -> bool:
        try:
            with open(self.qbt_log_path, "rb") as fh:
                fh.seek(offset)
                text = fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return False
        return "Web UI: Unable to bind" in text

    def _try_login(self) -> bool:
        assert self._api is not None
        try:
            self._api.auth_log_in()
        except qbittorrentapi.LoginFailed as exc:
            raise QBittorrentError(
                f"login to {self.url} as {self.username!r} refused: {exc}"
            ) from exc
        except qbittorrentapi.APIConnectionError:
            return False
        return True

    def _new_client(self, **kwargs: Any) -> qbittorrentapi.Client:
        options: dict[str, Any] = {
            "host": self.url,
            "username": self.username,
            "password": self.password,
            "REQUESTS_ARGS": {"timeout": 10},
            "DISABLE_LOGGING_DEBUG_OUTPUT": True,
        }
        options.update(kwargs)
        client = qbittorrentapi.Client(**options)
        self._clients.append(client)
        return client

    def client(self, **kwargs: Any) -> qbittorrentapi.Client:
        """A new, logged-in ``qbittorrentapi.Client`` (closed by :meth:`stop`).

        ``kwargs`` override the Client constructor arguments.  The client survives
        a restart: qbittorrentapi logs in again when it gets a 403.
        """
        client = self._new_client(**kwargs)
        client.auth_log_in()
        return client

    @property
    def api(self) -> qbittorrentapi.Client:
        """The harness's own logged-in client."""
        if self._api is None or not self.is_running():
            raise QBittorrentError("qbittorrent-nox is not running")
        return self._api

    def stop(self, timeout: float = 15.0) -> int | None:
        """Gracefully stop (SIGTERM, so resume data is saved); SIGKILL after ``timeout``.

        Closes every client handed out.  Returns the exit code (None if not running).
        """
        for client in self._clients:
            with contextlib.suppress(Exception):
                _close_client(client)
        self._clients = [c for c in self._clients if c is not self._api]
        self._api = None
        return self._terminate(timeout)

    def _terminate(self, timeout: float = 15.0) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL, i.e. a crash.  qBittorrent 4.5 writes resume data right after a
        torrent is added or changed, so torrents, tags and categories survive it."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self.stop(timeout=10)

    def restart(self) -> QBittorrentProcess:
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 40) -> str:
        parts = []
        for path in (self.log_path, self.qbt_log_path):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except (FileNotFoundError, QBittorrentError):
                continue
            tail = "\n".join(text.splitlines()[-lines:])
            parts.append(f"--- {path} ---\n{tail}")
        return "\n".join(parts)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- settings

    def set_password(self, new: str) -> None:
        """Change the WebUI password (persisted in the profile; survives restarts)."""
        self.api.app_set_preferences({"web_ui_password": new})
        self.password = new
        for client in self._clients:
            client._password = new  # type: ignore[attr-defined]  # re-login uses it

    # ----------------------------------------------------------------- torrents

    def torrent(self, torrent_hash: str) -> qbittorrentapi.TorrentDictionary | None:
        """``torrents/info`` for one hash, or None if qBittorrent does not have it."""
        found = self.api.torrents_info(torrent_hashes=torrent_hash)
        return found[0] if found else None

    def file_names(self, torrent_hash: str) -> list[str]:
        return [f["name"] for f in self.api.torrents_files(torrent_hash=torrent_hash)]

    def ensure_category(self, category: str, save_path: str = "") -> None:
        if category and category not in self.api.torrents_categories():
            with contextlib.suppress(qbittorrentapi.Conflict409Error):  # raced: exists
                self.api.torrents_create_category(name=category, save_path=save_path)

    def add_torrent_bytes(
        self,
        torrent: bytes,
        torrent_hash: str,
        save_path: Path,
        category: str | None = "stash",
        tags: Iterable[str] = (),
        name: str | None = None,
        paused: bool = False,
        timeout: float = 30.0,
    ) -> str:
        """Add raw .torrent bytes (manual save path, Original layout, hash-checked).

        Returns the hash once qBittorrent lists the torrent.  ``name`` sets the
        qBittorrent display name (``rename``), not the on-disk name.
        """
        if category:
            self.ensure_category(category)
        tags = list(tags)
        result = self.api.torrents_add(
            torrent_files={f"{torrent_hash}.torrent": torrent},
            save_path=str(save_path),
            category=category or None,
            tags=tags or None,
            rename=name,
            is_skip_checking=False,
            is_paused=paused,
            use_auto_torrent_management=False,
            content_layout="Original",
        )
        if isinstance(result, str) and result.strip() != "Ok.":
            raise QBittorrentError(f"torrents/add answered {result!r} for {torrent_hash}")
        wait_for(
            lambda: self.torrent(torrent_hash) is not None,
            timeout=timeout,
            message=f"torrent {torrent_hash} to appear",
        )
        return torrent_hash

    def add_completed_torrent(
        self,
        content_path: Path,
        category: str | None = "stash",
        tags: Iterable[str] = (),
        name: str | None = None,
        timeout: float = 30.0,
        piece_length: int = 16384,
    ) -> str:
        """Make a torrent of ``content_path`` and add it so it completes from disk.

        ``save_path`` is ``content_path.parent``; the category is created when
        needed; ``name`` is the qBittorrent display name (``rename``).  Waits
        until progress == 1.0 and the state is in :data:`COMPLETED_STATES`;
        returns the info-hash.
        """
        content_path = Path(content_path).resolve()
        torrent, torrent_hash = make_torrent(content_path, piece_length=piece_length)
        self.add_torrent_bytes(
            torrent,
            torrent_hash,
            save_path=content_path.parent,
            category=category,
            tags=tags,
            name=name,
            timeout=timeout,
        )
        self.wait_until_complete(torrent_hash, timeout=timeout)
        return torrent_hash

    def add_missing_torrent(
        self,
        content_path: Path,
        mode: str = "empty",
        category: str | None = "stash",
        tags: Iterable[str] = (),
        name: str | None = None,
        timeout: float = 30.0,
    ) -> str:
        """Add a torrent whose content is NOT on disk; wait for qBittorrent's verdict.

        ``content_path`` must exist when this is called (the torrent is made from it).

        * ``"empty"``: added with save_path = a fresh empty folder next to the
          content -> progress 0, state ``stalledDL``.
        * ``"recheck"``: added complete, content deleted, recheck forced ->
          progress 0, state ``stalledDL``.
        * ``"restart"``: added complete, qBittorrent stopped, content deleted,
          qBittorrent started -> state ``missingFiles``, progress 0.
        * ``"deleted"``: added complete, content deleted, nothing else -> still
          ``stalledUP`` / 1.0 (qBittorrent does not notice).

        In every mode ``content_path`` (the API field) names a path that does not
        exist.  Returns the hash.
        """
        content_path = Path(content_path).resolve()
        if mode == "empty":
            torrent, torrent_hash = make_torrent(content_path)
            empty = content_path.parent / f"empty-{torrent_hash[:8]}"
            empty.mkdir()
            self.add_torrent_bytes(
                torrent, torrent_hash, empty, category=category, tags=tags, name=name
            )
            self.wait_for_state(torrent_hash, {"stalledDL"}, timeout=timeout)
            return torrent_hash

        torrent_hash = self.add_completed_torrent(
            content_path, category=category, tags=tags, name=name, timeout=timeout
        )
        if mode == "restart":
            self.stop()
        _remove(content_path)
        if mode == "deleted":
            return torrent_hash
        if mode == "recheck":
            self.api.torrents_recheck(torrent_hashes=torrent_hash)
            self.wait_for_state(torrent_hash, {"stalledDL"}, timeout=timeout)
        elif mode == "restart":
            self.start()
            self.wait_for_state(torrent_hash, {"missingFiles"}, timeout=timeout)
        else:
            raise ValueError(f"unknown mode {mode!r}")
        return torrent_hash

    def rename_file(
        self, torrent_hash: str, old_path: str, new_path: str, timeout: float = 10.0
    ) -> str:
        """``torrents/renameFile``; wait until ``files()`` shows it; return the new name.

        4.5.2 accepts ``..`` in ``new_path`` and moves the file on disk accordingly
        (absolute paths are refused with Conflict409Error).  The path is cleaned
        first (``Pack/../../x`` is reported as ``../x``), which is the returned name.
        """
        self.api.torrents_rename_file(
            torrent_hash=torrent_hash, old_path=old_path, new_path=new_path
        )
        expected = posixpath.normpath(new_path)  # qBittorrent cleans the path
        wait_for(
            lambda: expected in self.file_names(torrent_hash),
            timeout=timeout,
            message=lambda: f"rename to {expected!r} (files: {self.file_names(torrent_hash)})",
        )
        return expected

    def rename_folder(
        self, torrent_hash: str, old_path: str, new_path: str, timeout: float = 10.0
    ) -> None:
        """``torrents/renameFolder``; wait until no name is under ``old_path/`` any more."""
        self.api.torrents_rename_folder(
            torrent_hash=torrent_hash, old_path=old_path, new_path=new_path
        )
        old_prefix = posixpath.normpath(old_path) + "/"
        prefix = posixpath.normpath(new_path) + "/"

        def renamed() -> bool:
            names = self.file_names(torrent_hash)
            return any(n.startswith(prefix) for n in names) and not any(
                n.startswith(old_prefix) for n in names
            )

        wait_for(
            renamed,
            timeout=timeout,
            message=lambda: f"folder rename to {new_path!r} ({self.file_names(torrent_hash)})",
        )

    def add_escaping_torrent(
        self,
        content_path: Path,
        escape_to: str = "../escaped.txt",
        file_index: int = 0,
        category: str | None = "stash",
        tags: Iterable[str] = (),
        timeout: float = 30.0,
    ) -> str:
        """A COMPLETED torrent whose reported file name leaves its save_path.

        Adds ``content_path`` as a completed torrent, then renames file
        ``file_index`` (in ``files()`` order) to ``escape_to`` (relative to the
        save path, e.g. ``"../escaped.txt"`` or ``"Pack/../../x"``).  qBittorrent
        moves the file on disk to ``save_path/escape_to`` -- keep the content two
        levels inside a tmp dir so that stays inside the test's sandbox -- and
        reports ``files()[i].name == escape_to``.  The torrent stays complete.
        ``content_path`` only leaves save_path if every file escapes (single-file
        torrent, or use :meth:`rename_folder` ``Pack`` -> ``../Pack``); see the
        module docstring.  Returns the hash.
        """
        content_path = Path(content_path).resolve()
        torrent_hash = self.add_completed_torrent(
            content_path, category=category, tags=tags, timeout=timeout
        )
        old = self.file_names(torrent_hash)[file_index]
        self.rename_file(torrent_hash, old, escape_to, timeout=timeout)
        self.wait_until_complete(torrent_hash, timeout=timeout)
        return torrent_hash

    def remove_all(self, delete_files: bool = False, timeout: float = 30.0) -> None:
        """Delete every torrent, tag and category (per-test cleanup)."""
        api = self.api
        hashes = [t["hash"] for t in api.torrents_info()]
        if hashes:
            api.torrents_delete(delete_files=delete_files, torrent_hashes=hashes)
            wait_for(
                lambda: not api.torrents_info(),
                timeout=timeout,
                message="all torrents to be deleted",
            )
        tags = list(api.torrents_tags())
        if tags:
            api.torrents_delete_tags(tags=tags)
        categories = list(api.torrents_categories())
        if categories:
            api.torrents_remove_categories(categories=categories)

    # ----------------------------------------------------------------- waiting

    def wait_for_torrent(
        self,
        torrent_hash: str,
        predicate: Callable[[qbittorrentapi.TorrentDictionary], bool],
        timeout: float = 30.0,
        what: str = "condition",
    ) -> qbittorrentapi.TorrentDictionary:
        """Poll ``torrents/info`` until ``predicate(info)`` holds; return that info."""
        last: list[Any] = [None]

        def check() -> qbittorrentapi.TorrentDictionary | None:
            info = self.torrent(torrent_hash)
            last[0] = info
            return info if info is not None and predicate(info) else None

        def describe() -> str:
            info = last[0]
            if info is None:
                return f"torrent {torrent_hash} ({what}): not present"
            return (
                f"torrent {torrent_hash} ({what}): state={info['state']!r} "
                f"progress={info['progress']!r}\n{self.log_tail(10)}"
            )

        return wait_for(check, timeout=timeout, message=describe)

    def wait_for_state(
        self, torrent_hash: str, states: Iterable[str], timeout: float = 30.0
    ) -> qbittorrentapi.TorrentDictionary:
        wanted = frozenset(states)
        return self.wait_for_torrent(
            torrent_hash, lambda t: t["state"] in wanted, timeout, f"state in {sorted(wanted)}"
        )

    def wait_until_complete(
        self, torrent_hash: str, timeout: float = 30.0
    ) -> qbittorrentapi.TorrentDictionary:
        """Wait for progress 1.0 in a completed state; fail fast on error states."""

        def done(info: qbittorrentapi.TorrentDictionary) -> bool:
            if info["state"] in ERROR_STATES:
                raise QBittorrentError(
                    f"torrent {torrent_hash} went to {info['state']!r} "
                    f"(save_path {info['save_path']!r}, content_path {info['content_path']!r})"
                )
            return info["progress"] == 1.0 and info["state"] in COMPLETED_STATES

        return self.wait_for_torrent(torrent_hash, done, timeout, "completion")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
