"""pytest plugin: the ``video_tag_server`` fixture (video-tag server stand-in).

Registered from tests/conftest.py through ``pytest_plugins``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.standins.video_tag_server import VideoTagServer


@pytest.fixture
def video_tag_server() -> Iterator[VideoTagServer]:
    """A started :class:`VideoTagServer` on a free 127.0.0.1 port.

    Stopped after the test, aborting any request still held or delayed.
    """
    server = VideoTagServer().start()
    try:
        yield server
    finally:
        server.stop()
