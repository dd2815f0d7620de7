"""Every page of the window opens with the one PageHeader, titled as the sidebar names
the page, and the History and Jobs tables page through the one PagedModel."""

from __future__ import annotations

from stashdesk.ui.paged_model import PagedModel
from stashdesk.ui.widgets import PageHeader
from stashdesk.ui.window import PAGE_TITLES, PAGES


async def test_every_page_opens_with_the_one_page_header(gui) -> None:
    for name in PAGES:
        page = gui.window.pages[name]
        assert page.findChildren(PageHeader) == [page.header], name
        assert page.layout().itemAt(0).widget() is page.header, name
        assert page.header.title.text() == PAGE_TITLES[name]
        assert page.header.title.property("role") == "page-title"
        assert page.header.subtitle.property("muted") is True


async def test_the_history_and_jobs_tables_share_the_paged_model(gui) -> None:
    for page in (gui.window.history_page, gui.window.jobs_page):
        assert isinstance(page.model, PagedModel)
        assert not page.model.started  # loaded when first shown
        page.show()
        assert page.model.started
