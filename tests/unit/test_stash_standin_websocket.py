"""The Stash stand-in's jobsSubscribe over a real WebSocket, talked to with gql (both of
the subprotocols Stash's gqlgen transport speaks), and its WebSocket faults."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from gql import Client, gql
from gql.transport.aiohttp_websockets import AIOHTTPWebsocketsTransport

from stashdesk.clients.stash import websocket_url
from stashdesk.clients.stash_documents import JOBS_SUBSCRIBE
from tests.engine_fixtures import wait_until
from tests.standins.stash_server import StashStandin


@pytest.fixture
async def http():
    # gql leaves a session it made itself open when the upgrade is refused: bring our own.
    async with aiohttp.ClientSession() as session:
        yield session


def transport(
    server: StashStandin, protocol: str, session: aiohttp.ClientSession, **kwargs
) -> AIOHTTPWebsocketsTransport:
    return AIOHTTPWebsocketsTransport(
        url=websocket_url(server.graphql_url),
        subprotocols=[protocol],
        connect_timeout=5,
        ack_timeout=5,
        close_timeout=2,
        session=session,
        **kwargs,
    )


async def collect(server: StashStandin, protocol: str, count: int, act, http, **kwargs) -> list:
    """Subscribe, run ``act()`` once subscribed, return the first ``count`` updates."""
    updates: list = []
    async with Client(transport=transport(server, protocol, http, **kwargs)) as session:
        iterator = session.subscribe(gql(JOBS_SUBSCRIBE)).__aiter__()
        first = asyncio.ensure_future(iterator.__anext__())
        await wait_until(lambda: server.subscribers == 1, message="the subscription")
        act()
        updates.append(await asyncio.wait_for(first, 5))
        while len(updates) < count:
            updates.append(await asyncio.wait_for(iterator.__anext__(), 5))
        await iterator.aclose()
    return [
        (
            u["jobsSubscribe"]["type"],
            u["jobsSubscribe"]["job"]["status"],
            u["jobsSubscribe"]["job"]["progress"],
        )
        for u in updates
    ]


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_jobs_subscribe_sends_add_update_remove_as_stash(
    stash_server: StashStandin, protocol: str, http
) -> None:
    stash_server.job_step_seconds = 60  # nothing moves unless the test moves it

    def act() -> None:
        job = stash_server.add_external_job("Scanning...", status="READY", kind="scan")
        stash_server.set_job(job, status="RUNNING", progress=0.5)
        stash_server.set_job(job, status="FINISHED", progress=1.0)

    seen = await collect(stash_server, protocol, 4, act, http)
    assert seen == [
        ("ADD", "READY", None),
        ("UPDATE", "READY", None),
        ("UPDATE", "RUNNING", 0.5),
        ("REMOVE", "FINISHED", 1.0),
    ]
    [upgrade] = stash_server.requests_for("websocket")
    assert upgrade.status == 101 and protocol in upgrade.header("Sec-WebSocket-Protocol")


async def test_scripted_jobs_move_by_themselves_while_someone_subscribes(
    stash_server: StashStandin, http
) -> None:
    stash_server.job_script = [("RUNNING", 0.5), ("FINISHED", 1.0)]
    stash_server.job_step_seconds = 0.05
    seen = await collect(
        stash_server,
        "graphql-transport-ws",
        3,
        lambda: stash_server._create_job("Scanning...", "scan", {}).script.extend(
            stash_server.job_script
        ),
        http,
    )
    assert seen == [("ADD", "READY", None), ("UPDATE", "RUNNING", 0.5), ("REMOVE", "FINISHED", 1.0)]


async def test_the_api_key_is_checked_on_the_upgrade_request(
    stash_server: StashStandin, http
) -> None:
    stash_server.api_key = "secret"
    with pytest.raises(Exception) as refused:
        async with Client(transport=transport(stash_server, "graphql-transport-ws", http)):
            pass
    assert any(
        isinstance(e, aiohttp.WSServerHandshakeError) and e.status == 401
        for e in _chain(refused.value)
    )
    # The header on the upgrade is what counts; Stash ignores connection_init's payload.
    seen = await collect(
        stash_server,
        "graphql-transport-ws",
        1,
        lambda: stash_server.add_external_job("Scanning..."),
        http,
        headers={"ApiKey": "secret"},
        init_payload={"ApiKey": "wrong"},
    )
    assert seen[0][0] == "ADD"


async def test_refused_and_dropped_websockets(stash_server: StashStandin, http) -> None:
    stash_server.refuse_websockets(400)
    with pytest.raises(Exception) as refused:
        async with Client(transport=transport(stash_server, "graphql-transport-ws", http)):
            pass
    assert any(
        isinstance(e, aiohttp.WSServerHandshakeError) and e.status == 400
        for e in _chain(refused.value)
    )
    stash_server.allow_websockets()
    async with Client(transport=transport(stash_server, "graphql-transport-ws", http)) as session:
        iterator = session.subscribe(gql(JOBS_SUBSCRIBE)).__aiter__()
        following = asyncio.ensure_future(iterator.__anext__())
        await wait_until(lambda: stash_server.subscribers == 1, message="the subscription")
        assert stash_server.drop_websockets() == 1
        with pytest.raises(Exception):  # noqa: B017 - gql's error for a lost connection
            await asyncio.wait_for(following, 5)
    await wait_until(lambda: stash_server.subscribers == 0, message="the subscription to end")


def _chain(exc: BaseException) -> list[BaseException]:
    found = []
    while exc is not None and exc not in found:
        found.append(exc)
        exc = exc.__cause__ or exc.__context__
    return found
