"""Where StashDesk keeps its data: ``--data-dir``, else ``STASHDESK_DATA_DIR``, else the
platform's user data directory; and making sure that folder is usable and private.

:func:`ensure_data_dir` creates the folder owner-only (0700) when it is missing,
tightens an existing one to owner-only (it holds the database, which may hold
secrets, and the log), and checks that it can be written. When it cannot be used
it raises :class:`DataDirError`, whose message is one line naming the folder and
what to do: the command line and ``--headless`` print it and exit with 2, the
window shows it in a dialog.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import platformdirs

from stashdesk import APP_NAME

PRIVATE_DIR_MODE = 0o700
_CHOOSE_ANOTHER = "or choose another folder with --data-dir (or STASHDESK_DATA_DIR)"


class DataDirError(Exception):
    """The data folder is a file, cannot be created, or cannot be written.

    ``str(error)`` is one line: the folder, what is wrong, what to do.

    Attributes:
        path: the folder.
        problem: what is wrong ("is a file, not a folder").
    """

    def __init__(self, path: Path, problem: str, remedy: str) -> None:
        super().__init__(f"the data folder {path} {problem} - {remedy}")
        self.path = path
        self.problem = problem


def resolve_data_dir(cli_value: str | os.PathLike[str] | None = None) -> Path:
    if cli_value:
        path = Path(cli_value)
    elif os.environ.get("STASHDESK_DATA_DIR"):
        path = Path(os.environ["STASHDESK_DATA_DIR"])
    else:
        path = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    return path.expanduser().resolve()


def ensure_data_dir(path: Path) -> Path:
    """Create the folder owner-only, or tighten an existing one; check it is writable.

    Raises DataDirError (see the module docstring).
    """
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        _create(path)
    except NotADirectoryError:
        raise _file_in_the_way(path) from None
    except OSError as exc:
        raise DataDirError(
            path,
            f"cannot be reached ({exc.strerror or exc})",
            f"check the permissions of the folders above it, {_CHOOSE_ANOTHER}",
        ) from None
    else:
        if not stat.S_ISDIR(st.st_mode):
            raise DataDirError(
                path, "is a file, not a folder", f"move that file away, {_CHOOSE_ANOTHER}"
            )
        _make_private(path, st)
    _check_writable(path)
    return path


def _create(path: Path) -> None:
    if path.is_symlink():
        raise DataDirError(
            path,
            f"is a symlink to {os.readlink(path)}, which does not exist",
            f"create the folder it points to, {_CHOOSE_ANOTHER}",
        )
    try:
        path.mkdir(parents=True, mode=PRIVATE_DIR_MODE)
        os.chmod(path, PRIVATE_DIR_MODE)  # mkdir's mode passes through the umask
    except FileExistsError:
        if not path.is_dir():  # else: created meanwhile by another process, fine
            raise _file_in_the_way(path) from None
    except NotADirectoryError:
        raise _file_in_the_way(path) from None
    except OSError as exc:
        raise DataDirError(
            path,
            f"cannot be created ({exc.strerror or exc})",
            f"create it with write permission for this user, {_CHOOSE_ANOTHER}",
        ) from None


def _file_in_the_way(path: Path) -> DataDirError:
    return DataDirError(
        path, "cannot be created: a part of that path is a file", f"fix the path, {_CHOOSE_ANOTHER}"
    )


def _make_private(path: Path, st: os.stat_result) -> None:
    if os.name == "nt" or not stat.S_IMODE(st.st_mode) & 0o077:
        return
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return  # someone else's folder: not ours to change; the write check decides
    try:
        os.chmod(path, PRIVATE_DIR_MODE)
    except OSError:
        pass  # e.g. a filesystem without Unix modes: the write check decides


def _check_writable(path: Path) -> None:
    """Create and remove a file: the only test that also sees read-only mounts, ACLs
    and immutable folders."""
    probe = path / f".stashdesk-write-check-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
        os.unlink(probe)
    except FileExistsError:
        try:
            os.unlink(probe)  # left by a process with our pid that was killed
        except OSError:
            pass
    except OSError as exc:
        raise DataDirError(
            path,
            f"is not writable ({exc.strerror or exc})",
            f"give this user write permission on it, {_CHOOSE_ANOTHER}",
        ) from None
