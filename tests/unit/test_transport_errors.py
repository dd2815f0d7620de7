"""Connection failures are described by their cause, not by httpx's wrapper text."""

from __future__ import annotations

import socket

import httpx
import pytest

from stashdesk.clients.errors import StashUnreachable, VideoTagUnreachable
from stashdesk.clients.stash import StashClient, describe_transport_error
from stashdesk.clients.video_tags import VideoTagClient


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_a_refused_connection_says_connection_refused():
    port = _closed_port()
    async with httpx.AsyncClient() as http:
        try:
            await http.get(f"http://127.0.0.1:{port}/")
        except httpx.ConnectError as exc:
            assert str(exc) == "All connection attempts failed"  # what httpx says
            assert describe_transport_error(exc) == "connection refused"
        else:
            raise AssertionError("nothing should listen on a closed port")


async def test_clients_report_the_refusal_to_the_user():
    url = f"http://127.0.0.1:{_closed_port()}"
    stash = StashClient(url, retries=0)
    with pytest.raises(StashUnreachable) as stash_error:
        await stash.version()
    await stash.aclose()
    assert str(stash_error.value) == f"Stash unreachable at {url}: connection refused"
    tags = VideoTagClient(url)
    with pytest.raises(VideoTagUnreachable) as tags_error:
        await tags.ping()
    await tags.aclose()
    assert str(tags_error.value) == f"Video-tag server unreachable at {url}: connection refused"


def test_unknown_causes_fall_back_to_the_message():
    assert describe_transport_error(OSError("weird failure")) == "weird failure"
