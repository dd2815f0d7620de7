"""A table model that loads its rows from the engine a page at a time.

The History and Jobs pages both show an engine list paged by keyset: the first
page comes with ``reload``, each further one with the ``next`` cursor of the
page before, when the view scrolls to the end (``canFetchMore``/``fetchMore``).
``PagedModel`` is that machinery: the cursor, the loading flag, and a
generation number so that a page asked for before the latest reload is
dropped. Subclasses say how to ask for a page and what to do with one.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, ClassVar

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Signal

from stashdesk.engine_client.errors import ClientError
from stashdesk.ui.context import UiContext
from stashdesk.ui.widgets import ColumnsModel

PAGE_SIZE = 200
ModelIndex = QModelIndex | QPersistentModelIndex


class PagedModel(ColumnsModel):
    """Rows loaded a page at a time (Qt asks for more as the table scrolls).

    Subclasses implement ``_request`` (ask for the page after a cursor, None: the
    first), ``_clear`` (drop the rows, inside a model reset) and ``_add_page``
    (append a page's rows); ``_reload_started`` and ``_reloaded`` run around a
    reload. The class texts name what is loaded in the failure sentences and task
    labels.

    Signals:
        loaded(): a reload finished (the first page is in).
        failed(str): loading a page failed; the sentence (also ``error``) says why.

    Attributes:
        page_size: rows asked for a page.
        error: why the last load failed (None: it did not).
        loaded_once: a first page arrived.
        started: ``start`` was called (the page was shown once).
    """

    RELOAD_FAILED: ClassVar[str] = "Could not load the rows"
    MORE_FAILED: ClassVar[str] = "Could not load more rows"
    RELOAD_TASK: ClassVar[str] = "Loading rows"
    MORE_TASK: ClassVar[str] = "Loading more rows"
    # whether scrolling asks again after a failed load (False: only Refresh retries)
    FETCH_AFTER_FAILURE: ClassVar[bool] = True

    loaded = Signal()
    failed = Signal(str)

    def __init__(self, ctx: UiContext, parent: Any = None, page_size: int = PAGE_SIZE) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.page_size = page_size
        self.error: str | None = None
        self.loaded_once = False
        self.started = False
        self._next: str | None = None  # the cursor of the page after the last loaded
        self._loading = False
        self._reloading = False
        self._generation = 0

    # --- what subclasses provide -----------------------------------------------------------------

    def _request(self, cursor: str | None) -> Awaitable[dict[str, Any]]:
        """Ask the engine for the page after ``cursor`` (None: the first page)."""
        raise NotImplementedError

    def _clear(self, page: dict[str, Any]) -> None:
        """Drop every row (called inside a model reset, before the first page is added)."""
        raise NotImplementedError

    def _add_page(self, page: dict[str, Any]) -> None:
        """Append the rows of ``page`` (inserting them into the model)."""
        raise NotImplementedError

    def _reload_started(self) -> None:
        """A reload is about to ask for its first page."""

    def _reloaded(self) -> None:
        """A reload's first page is in (before ``loaded`` is emitted)."""

    # --- loading ---------------------------------------------------------------------------------

    @property
    def loading(self) -> bool:
        return self._loading

    @property
    def reloading(self) -> bool:
        """A reload's first page is on its way."""
        return self._reloading

    def start(self) -> None:
        """Load the first page unless that was done already (pages call it when shown)."""
        if not self.started:
            self.started = True
            self.reload()

    def reload(self) -> None:
        """Start again from the first row (asynchronously; ``loaded`` tells when,
        ``failed`` when it could not)."""
        self._generation += 1
        self._reloading = True
        self._reload_started()
        self._load(None, self.RELOAD_FAILED, self.RELOAD_TASK, self._show_first)

    def canFetchMore(self, parent: ModelIndex = QModelIndex()) -> bool:  # noqa: B008
        return (
            not parent.isValid()
            and self.loaded_once
            and self._next is not None
            and not self._loading
            and (self.FETCH_AFTER_FAILURE or self.error is None)
        )

    def fetchMore(self, parent: ModelIndex = QModelIndex()) -> None:  # noqa: B008
        if self.canFetchMore(parent):
            self._load(self._next, self.MORE_FAILED, self.MORE_TASK, self._add_page)

    def _load(self, cursor: str | None, failure: str, label: str, show: Any) -> None:
        generation = self._generation
        self._loading = True

        async def load() -> None:
            page: dict[str, Any] | None = None
            problem = ""
            try:
                page = await self._request(cursor)
            except ClientError as exc:
                problem = f"{failure}: {exc}"
            finally:
                if generation == self._generation:
                    self._loading = self._reloading = False
            if generation != self._generation:
                return  # a newer reload is on its way
            if page is None:
                self._fail(problem)
                return
            self._next = page.get("next")
            show(page)

        self.ctx.tasks.spawn(load(), label)

    def _show_first(self, page: dict[str, Any]) -> None:
        self.error = None
        self.beginResetModel()
        self._clear(page)
        self.endResetModel()
        self.loaded_once = True
        self._add_page(page)
        self._reloaded()
        self.loaded.emit()

    def _fail(self, message: str) -> None:
        self.error = message
        self.failed.emit(message)
