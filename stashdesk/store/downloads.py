"""The downloads' rows: the journal of torrents being placed, the files placed.

Blocking Peewee functions for the writer thread (``Store.write``,
``StoreWriter.submit``) and ``Store.read``, where the PROCESS_DOWNLOADS job calls them.
"""

from __future__ import annotations

from typing import Any

from stashdesk.store.models import DownloadJournal, HandledDownload
from stashdesk.store.typed import rows_changed


def download_journal() -> list[DownloadJournal]:
    """Every torrent a run started placing and has not finished."""
    return list(DownloadJournal.select())


def journal_download(row: dict[str, Any]) -> None:
    """Note (or note again) that a torrent's files are being placed."""
    DownloadJournal.insert(**row).on_conflict_replace().execute()


def forget_journal_entry(torrent_hash: str) -> int:
    """The torrent is done with (placed, rejected or gone); returns rows removed."""
    return rows_changed(
        DownloadJournal.delete().where(DownloadJournal.torrent_hash == torrent_hash)
    )


def record_handled_download(row: dict[str, Any]) -> None:
    """Record a file placed in the library (kept as it is when already recorded)."""
    HandledDownload.insert(**row).on_conflict_ignore().execute()
