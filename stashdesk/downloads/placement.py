"""How the files of one finished torrent get into the library, safely.

Two steps, both blocking (the PROCESS_DOWNLOADS job runs them on a worker thread):

``plan_torrent``
    Only reads. Works out where every file of the torrent goes and refuses the
    whole torrent (:class:`TorrentRejected`, with the reason) when a torrent or
    file name, or a symlink, would lead outside the torrent's content or outside
    ``downloads.destination``; when content is missing or no longer matches the
    torrent; or when a different file already sits at a destination. Because it
    writes nothing, a refused torrent leaves nothing behind in the library.

``place_torrent``
    Hard-links each planned file (the torrent keeps seeding from its own copy:
    the source is never moved, changed or deleted). When linking is impossible
    (EXDEV across filesystems, EPERM from protected hard links, a filesystem
    without links) the file is copied instead: into a temporary name beside the
    destination, fsync'ed, its size checked, then published under its real name
    without ever overwriting a file that appeared meanwhile. A crash therefore
    never leaves a partial file under a real name; leftover temporary files are
    recognised by :func:`is_temp_name` and removed by :func:`remove_temp_files`.

What belongs to a torrent is qBittorrent's own file list, not whatever lies in
its folder: stray files someone put next to the content (or planted symlinks)
are not carried into the library, and every listed file's size is checked
against the torrent.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

TEMP_SUFFIX = ".stashdesk-part"
COPY_CHUNK = 1 << 20
NAME_MAX = 255

# link() failures a copy gets around: another filesystem, protected hard links
# (fs.protected_hardlinks when qBittorrent runs as another user), a filesystem
# without hard links, or a file with too many links already.
LINK_FALLBACK_ERRNOS = frozenset(
    code
    for code in (
        errno.EXDEV,
        errno.EPERM,
        errno.EMLINK,
        errno.ENOTSUP,
        getattr(errno, "EOPNOTSUPP", errno.ENOTSUP),
        errno.ENOSYS,
    )
)


class TorrentRejected(Exception):
    """This torrent cannot be placed; ``reason`` says why (it gets the error tag)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PlacementError(Exception):
    """Writing into the library failed for a reason that is not the torrent's fault
    (no space, no permission, read-only): the torrent is left for a later run."""


class PlacementCancelled(Exception):
    """A cancel was requested; raised between files (and between copy chunks)."""


class TorrentLike(Protocol):  # read-only: qBittorrent's Torrent is a frozen dataclass
    @property
    def hash(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def save_path(self) -> str: ...
    @property
    def content_path(self) -> str: ...


class TorrentFileLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def priority(self) -> int: ...


@dataclass(frozen=True, slots=True)
class PlannedFile:
    name: str  # the file's name as qBittorrent reports it (for messages)
    source: str  # the file itself: symlinks resolved and checked to stay in the content
    destination: str
    size: int
    already: str | None = None  # None: to place; "linked"/"existing": already there


@dataclass
class TorrentPlan:
    torrent_hash: str
    name: str
    root: str  # the torrent's place in the library: its folder, or its only file
    destination: str  # downloads.destination, normalised
    files: list[PlannedFile] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, why not placed)

    @property
    def to_place(self) -> list[PlannedFile]:
        return [f for f in self.files if f.already is None]


@dataclass
class Placement:
    """What ``place_torrent`` did, filled in as it goes (so it is complete even
    when it stops with an exception)."""

    # (file, method, placed now): method is linked | copied | existing; a file found
    # already there (placed by an earlier, interrupted run, or by someone else) is
    # "linked" when it is a hard link of the source, else "existing".
    done: list[tuple[PlannedFile, str, bool]] = field(default_factory=list)
    copy_reason: str | None = None  # why files had to be copied, e.g. EXDEV
    copy_errno: int | None = None  # the link() error behind copy_reason

    @property
    def linked(self) -> int:
        return sum(1 for _f, method, new in self.done if new and method == "linked")

    @property
    def copied(self) -> int:
        return sum(1 for _f, method, new in self.done if new and method == "copied")

    @property
    def already_there(self) -> int:
        return sum(1 for _f, _method, new in self.done if not new)

    @property
    def bytes_placed(self) -> int:
        return sum(f.size for f, _method, new in self.done if new)


# --- names ----------------------------------------------------------------------------------


def _separators() -> tuple[str, ...]:
    return tuple(s for s in (os.sep, os.altsep, "/") if s)


def unsafe_component(name: str) -> str | None:
    """Why ``name`` is not a plain single file/folder name, or None when it is."""
    if not name:
        return "is empty"
    if "\x00" in name:
        return "contains a NUL character"
    parts = [name]
    for sep in _separators():
        parts = [piece for part in parts for piece in part.split(sep)]
    if ".." in parts:
        return 'contains ".."'
    if os.path.isabs(name):
        return "is an absolute path"
    if len(parts) > 1:
        return "contains a path separator"
    if name == ".":
        return 'is "."'
    return None


def unsafe_relative(path: str) -> str | None:
    """Why a torrent's file path is not a plain relative path, or None when it is."""
    if not path:
        return "is empty"
    if "\x00" in path:
        return "contains a NUL character"
    if os.path.isabs(path) or path.startswith("/"):
        return "is an absolute path"
    parts = [path]
    for sep in _separators():
        parts = [piece for part in parts for piece in part.split(sep)]
    if ".." in parts:
        return 'contains ".."'
    if any(part in ("", ".") for part in parts):
        return 'contains an empty or "." component'
    return None


def inside(path: str, root: str, *, allow_equal: bool = False) -> bool:
    """True when normalised absolute ``path`` lies within ``root`` (lexically)."""
    try:
        common = os.path.commonpath([path, root])
    except ValueError:  # different drives
        return False
    return common == root and (allow_equal or path != root)


def temp_path_for(destination: str) -> str:
    """The temporary name a copy is written under, beside its destination."""
    folder, name = os.path.split(destination)
    temp = f".{name}{TEMP_SUFFIX}"
    if len(os.fsencode(temp)) > NAME_MAX:
        temp = f".{hashlib.sha1(os.fsencode(name)).hexdigest()}{TEMP_SUFFIX}"
    return os.path.join(folder, temp)


def is_temp_name(name: str) -> bool:
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def remove_temp_files(root: str) -> list[str]:
    """Remove our temporary copies under a torrent's place in the library.

    ``root`` is a torrent's folder (searched without following symlinks) or the
    file of a single-file torrent (only its own temporary name is looked at).
    Returns what was removed.
    """
    removed: list[str] = []
    if os.path.isdir(root) and not os.path.islink(root):
        for folder, _dirs, files in os.walk(root, followlinks=False):
            for name in files:
                if is_temp_name(name):
                    path = os.path.join(folder, name)
                    _remove_quietly(path, removed)
    else:
        temp = temp_path_for(root)
        if os.path.lexists(temp):
            _remove_quietly(temp, removed)
    return removed


def _remove_quietly(path: str, removed: list[str]) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    removed.append(path)


# --- planning ---------------------------------------------------------------------------------


SkipReason = Callable[[str, str], "str | None"]  # (source, destination) -> why not, or None


def plan_torrent(
    torrent: TorrentLike,
    files: Sequence[TorrentFileLike],
    destination: str,
    skip_reason: SkipReason | None = None,
    is_cancelled: Callable[[], bool] = lambda: False,
) -> TorrentPlan:
    """Where each file of ``torrent`` goes under ``destination``; reads only.

    Raises TorrentRejected with the reason when the torrent must not be placed, and
    PlacementCancelled (polled between files: probing durations takes a while).
    """
    destination = os.path.normpath(destination)
    name = torrent.name
    problem = unsafe_component(name)
    if problem:
        raise TorrentRejected(
            f"the torrent name {name!r} {problem}: placing it could write outside "
            f"downloads.destination"
        )
    save_path, content_path = torrent.save_path, torrent.content_path
    if not (
        save_path and content_path and os.path.isabs(save_path) and os.path.isabs(content_path)
    ):
        raise TorrentRejected(
            f"qBittorrent reports no usable location for it (save path "
            f"{save_path!r}, content path {content_path!r})"
        )
    save = os.path.normpath(save_path)
    content = os.path.normpath(content_path)
    if not inside(content, save, allow_equal=True):
        raise TorrentRejected(f"its content path {content} lies outside its save path {save}")
    if not files:
        raise TorrentRejected("qBittorrent lists no files for it")
    for item in files:
        problem = unsafe_relative(item.name)
        if problem:
            raise TorrentRejected(
                f"the file name {item.name!r} {problem}: placing it could write outside "
                f"downloads.destination"
            )

    sources = [os.path.normpath(os.path.join(save, item.name)) for item in files]
    # A single-file torrent's file sits directly in the save path. Otherwise the
    # torrent's folder is the first path component its files share (qBittorrent
    # reports content_path as the file itself when such a folder holds one file),
    # or the save path itself (the "no subfolder" layout).
    single = len(files) == 1 and os.path.dirname(sources[0]) == save
    if single:
        content = sources[0]
    else:
        firsts = {_first_component(item.name) for item in files}
        content = (
            os.path.join(save, firsts.pop())
            if len(firsts) == 1 and not all(os.path.dirname(s) == save for s in sources)
            else save
        )
    root = os.path.join(destination, os.path.basename(content) if single else name)
    if not inside(root, destination):
        raise TorrentRejected(f"its place in the library {root} is outside {destination}")
    # The save path may be a symlink (a mounted disk); the content itself may not lead away.
    real_content = os.path.join(
        os.path.realpath(os.path.dirname(content)), os.path.basename(content)
    )
    real_destination = os.path.realpath(destination)

    plan = TorrentPlan(torrent.hash, name, root, destination)
    for item, source in zip(files, sources, strict=True):
        if is_cancelled():
            raise PlacementCancelled()
        if getattr(item, "priority", 1) == 0:
            plan.skipped.append((item.name, "not selected for download in qBittorrent"))
            continue
        if single:
            target = root
        elif inside(source, content):
            target = os.path.normpath(os.path.join(root, os.path.relpath(source, content)))
        else:
            raise TorrentRejected(
                f"the file {item.name!r} lies outside the torrent's folder {content}"
            )
        if not inside(target, root, allow_equal=single):
            raise TorrentRejected(f"the file {item.name!r} would be placed outside {root}")
        real = _checked_source(item, source, real_content, single)
        already = existing_state(target, real, item.size, real_destination, is_cancelled)
        if already is None and skip_reason is not None:
            reason = skip_reason(real, target)
            if reason:
                plan.skipped.append((item.name, reason))
                continue
        plan.files.append(PlannedFile(item.name, real, target, item.size, already))
    return plan


def _first_component(path: str) -> str:
    for sep in _separators():
        path = path.split(sep, 1)[0]
    return path


def _checked_source(item: TorrentFileLike, source: str, real_content: str, single: bool) -> str:
    """The real path of a listed file, after checking it exists, stays in the
    content and is the size the torrent says."""
    missing = (
        f"content missing: {source} does not exist (qBittorrent may still report the "
        f"torrent complete until it rechecks it)"
    )
    if not os.path.lexists(source):
        raise TorrentRejected(missing)
    real = os.path.realpath(source)
    if not (real == real_content if single else inside(real, real_content)):
        raise TorrentRejected(
            f"the file {item.name!r} is a symlink (or lies in a symlinked "
            f"folder) leading outside the torrent's content, to {real}"
        )
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise TorrentRejected(missing) from None
    if not stat.S_ISREG(st.st_mode):
        raise TorrentRejected(f"{source} is not a regular file")
    if st.st_size != item.size:
        raise TorrentRejected(
            f"content changed: {source} is {st.st_size} bytes on disk but {item.size} bytes in "
            f"the torrent (recheck the torrent in qBittorrent)"
        )
    return real


def existing_state(
    target: str,
    source: str,
    size: int,
    real_destination: str,
    is_cancelled: Callable[[], bool] = lambda: False,
) -> str | None:
    """What is at ``target`` already: None (nothing), "linked" (a hard link of the
    source), "existing" (a copy: the same bytes, compared in full). Raises
    TorrentRejected when something else is there (a same-sized file with other bytes
    too), or when the way there leaves the library."""
    ancestor = os.path.dirname(target)
    while not os.path.lexists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not inside(os.path.realpath(ancestor), real_destination, allow_equal=True):
        raise TorrentRejected(
            f"{ancestor} leads outside downloads.destination (a symlink?) "
            f"- nothing was placed through it"
        )
    if not os.path.isdir(ancestor):
        raise TorrentRejected(f"{ancestor} already exists and is not a folder - not overwritten")
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        raise TorrentRejected(f"{target} already exists as a symlink - not overwritten")
    if not stat.S_ISREG(st.st_mode):
        raise TorrentRejected(f"{target} already exists and is not a file - not overwritten")
    try:
        src = os.stat(source)
        if (src.st_dev, src.st_ino) == (st.st_dev, st.st_ino):
            return "linked"
    except OSError:
        pass
    if st.st_size != size:
        raise TorrentRejected(
            f"{target} already exists with different content ({st.st_size} bytes; the "
            f"torrent's file is {size} bytes) - not overwritten"
        )
    difference = first_difference(source, target, is_cancelled)
    if difference is not None:
        raise TorrentRejected(
            f"{target} already exists with different content (the same size, {size} bytes, "
            f"but other bytes from byte {difference}) - not overwritten"
        )
    return "existing"


def first_difference(
    first: str, second: str, is_cancelled: Callable[[], bool] = lambda: False
) -> int | None:
    """Where two files of the same size first differ (a byte offset), or None when they
    hold the same bytes. Reads both in chunks (blocking: call it off the event loop),
    polling ``is_cancelled`` between chunks."""
    offset = 0
    try:
        with open(first, "rb", buffering=0) as a, open(second, "rb", buffering=0) as b:
            while True:
                if is_cancelled():
                    raise PlacementCancelled()
                chunk_a, chunk_b = a.read(COPY_CHUNK), b.read(COPY_CHUNK)
                if chunk_a != chunk_b:
                    return offset + next(
                        (
                            i
                            for i, (x, y) in enumerate(zip(chunk_a, chunk_b, strict=False))
                            if x != y
                        ),
                        min(len(chunk_a), len(chunk_b)),
                    )
                if not chunk_a:
                    return None
                offset += len(chunk_a)
    except OSError as exc:
        raise PlacementError(
            f"could not compare {second} with {first}: {exc.strerror or exc}"
        ) from None


# --- placing ------------------------------------------------------------------------------------


OnPlaced = Callable[[PlannedFile, str, bool], None]  # (file, method, placed now)


def place_torrent(
    plan: TorrentPlan,
    placement: Placement,
    is_cancelled: Callable[[], bool],
    on_bytes: Callable[[int], None],
    on_placed: OnPlaced | None = None,
    before_copy: Callable[[int], None] | None = None,
) -> Placement:
    """Link (or copy) every planned file; see the module docstring.

    ``is_cancelled`` is polled between files and between copy chunks;
    ``on_bytes(n)`` reports progress; ``on_placed`` hears of each file as soon as
    it is in place (to record it at once); ``before_copy(n)`` hears, before the first
    copy starts, how many bytes remain to be copied (and may refuse with
    TorrentRejected, e.g. for want of space). Raises PlacementCancelled, TorrentRejected
    (something changed since planning) or PlacementError (the library is not
    writable); ``placement`` always tells what was done before that.
    """
    real_destination = os.path.realpath(plan.destination)
    folders: set[str] = set()

    def done(item: PlannedFile, method: str, new: bool) -> None:
        placement.done.append((item, method, new))
        if on_placed is not None:
            on_placed(item, method, new)

    for index, item in enumerate(plan.files):
        if is_cancelled():
            raise PlacementCancelled()
        if item.already is not None:
            done(item, item.already, False)
            on_bytes(item.size)
            continue
        folder = os.path.dirname(item.destination)
        _make_folders(folder, real_destination)
        while inside(folder, plan.destination, allow_equal=True) and folder not in folders:
            folders.add(folder)  # with its parents: their entries for new folders count too
            folder = os.path.dirname(folder)
        linked = None
        if placement.copy_reason is None:
            linked = _link(item, real_destination, placement, is_cancelled)
        if linked is None:
            if before_copy is not None and not placement.copied:
                before_copy(sum(f.size for f in plan.files[index:] if f.already is None))
            copy_file(item.source, item.destination, item.size, is_cancelled, on_bytes)
            done(item, "copied", True)
        else:
            on_bytes(item.size)
            done(item, *linked)
    _sync_folders(folders)
    return placement


def _link(
    item: PlannedFile, real_destination: str, placement: Placement, is_cancelled: Callable[[], bool]
) -> tuple[str, bool] | None:
    """Hard-link one file: (method, placed now), or None when a copy is needed
    (placement.copy_reason then says why)."""
    try:
        os.link(item.source, item.destination)
        return "linked", True
    except FileExistsError:
        # Appeared since planning: fine if it is the same file, refused otherwise.
        already = existing_state(
            item.destination, item.source, item.size, real_destination, is_cancelled
        )
        assert already is not None
        return already, False
    except OSError as exc:
        if exc.errno is not None and exc.errno in LINK_FALLBACK_ERRNOS:
            placement.copy_reason = f"{os.strerror(exc.errno)} (errno {exc.errno})"
            placement.copy_errno = exc.errno
            return None
        raise _placement_error(exc, item.source, item.destination) from None


def _make_folders(folder: str, real_destination: str) -> None:
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise _placement_error(exc, None, folder) from None
    if not inside(os.path.realpath(folder), real_destination, allow_equal=True):
        raise TorrentRejected(
            f"{folder} leads outside downloads.destination (a symlink?) - "
            f"nothing was placed through it"
        )


def _placement_error(exc: OSError, source: str | None, target: str) -> Exception:
    if exc.errno == errno.ENOENT and source is not None and not os.path.exists(source):
        return TorrentRejected(f"content missing: {source} disappeared while it was placed")
    return PlacementError(
        f"could not write {target}: {exc.strerror or exc} - check that downloads.destination "
        f"is writable and has free space"
    )


def copy_file(
    source: str,
    destination: str,
    size: int,
    is_cancelled: Callable[[], bool],
    on_bytes: Callable[[int], None],
) -> None:
    """Copy ``source`` to ``destination`` through a temporary name; never overwrites.

    The copy is fsync'ed and its size checked before it gets its real name, so
    the real name only ever holds a complete file. Tests wrap this function
    (it is looked up at call time) to pause a copy half-way.
    """
    temp = temp_path_for(destination)
    try:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        try:
            source_fd = os.open(source, flags)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise _placement_error(exc, source, destination) from None
            raise PlacementError(
                f"could not read {source}: {exc.strerror or exc} - check that "
                f"StashDesk may read qBittorrent's download folder"
            ) from None
        with open(source_fd, "rb", buffering=0) as reader:
            out_flags = (
                os.O_WRONLY
                | os.O_CREAT
                | os.O_TRUNC
                | getattr(os, "O_NOFOLLOW", 0)
                | getattr(os, "O_BINARY", 0)
            )
            try:
                out = os.open(temp, out_flags, 0o600)
            except OSError as exc:
                raise _placement_error(exc, None, temp) from None
            try:
                written = _copy_data(reader, out, is_cancelled, on_bytes, temp)
                os.fsync(out)
            except OSError as exc:
                raise _placement_error(exc, None, temp) from None
            finally:
                os.close(out)
            source_stat = os.fstat(reader.fileno())
        if written != size or source_stat.st_size != size:
            raise TorrentRejected(
                f"copying {source} gave {written} bytes instead of {size} (did the file change "
                f"while it was copied?)"
            )
        os.chmod(temp, stat.S_IMODE(source_stat.st_mode))
        os.utime(temp, ns=(source_stat.st_atime_ns, source_stat.st_mtime_ns))
        _publish(temp, destination)
    except BaseException:
        _remove_quietly(temp, [])
        raise


def _copy_data(
    reader: io.RawIOBase,
    out: int,
    is_cancelled: Callable[[], bool],
    on_bytes: Callable[[int], None],
    temp: str,
) -> int:
    buffer = bytearray(COPY_CHUNK)
    view = memoryview(buffer)
    written = 0
    while True:
        if is_cancelled():
            raise PlacementCancelled()
        count = reader.readinto(buffer)
        if not count:
            return written
        offset = 0
        while offset < count:
            offset += os.write(out, view[offset:count])
        written += count
        on_bytes(count)


def _publish(temp: str, destination: str) -> None:
    """Give the finished copy its real name without overwriting anything there."""
    try:
        os.link(temp, destination)  # fails with EEXIST instead of replacing
    except FileExistsError:
        raise TorrentRejected(
            f"{destination} appeared while it was being copied - not overwritten"
        ) from None
    except OSError as exc:
        if exc.errno not in LINK_FALLBACK_ERRNOS:
            raise _placement_error(exc, None, destination) from None
        # No hard links on this filesystem: a rename, after a last look.
        if os.path.lexists(destination):
            raise TorrentRejected(
                f"{destination} appeared while it was being copied - not overwritten"
            ) from None
        os.rename(temp, destination)
        return
    os.unlink(temp)


def _sync_folders(folders: set[str]) -> None:
    """Make the new names durable (a power cut, not only a kill, keeps them)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    for folder in folders:
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
