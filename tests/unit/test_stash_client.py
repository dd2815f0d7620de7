"""StashClient against the stand-in: authentication, retries, and every error a user
can meet, each with a message that says what to do."""

from __future__ import annotations

import pytest

from stashdesk.clients.errors import (
    StashAuthRejected,
    StashGraphQLError,
    StashMalformedAnswer,
    StashServerError,
    StashUnreachable,
)
from stashdesk.clients.stash import StashClient


@pytest.fixture
async def client(stash_server):
    stash = StashClient(
        stash_server.url, api_key="secret-key", timeout=2, retries=2, retry_delay=0.01
    )
    yield stash
    await stash.aclose()


def sent(stash_server, name: str) -> int:
    return len(stash_server.requests_for(name))


async def test_the_api_key_is_sent_in_the_apikey_header(client, stash_server) -> None:
    stash_server.api_key = "secret-key"
    stash_server.add_scene("One")
    assert await client.count_scenes() == 1
    request = stash_server.requests[-1]
    assert request.header("ApiKey") == "secret-key"
    assert request.header("Content-Type").startswith("application/json")


async def test_no_header_without_a_key(stash_server) -> None:
    stash = StashClient(stash_server.url)
    try:
        await stash.version()
    finally:
        await stash.aclose()
    assert stash_server.requests[-1].header("ApiKey") is None


async def test_a_rejected_key_names_the_setting_and_is_not_retried(client, stash_server) -> None:
    stash_server.api_key = "another-key"
    with pytest.raises(StashAuthRejected) as caught:
        await client.count_scenes()
    assert str(caught.value).startswith("Stash rejected the API key (HTTP 401) - set stash.api_key")
    assert "secret-key" not in str(caught.value)
    assert sent(stash_server, "CountScenes") == 1


async def test_a_missing_key_says_one_is_needed(stash_server) -> None:
    stash_server.api_key = "needed"
    stash = StashClient(stash_server.url)
    try:
        with pytest.raises(
            StashAuthRejected,
            match=r"requires an API key \(HTTP 401\) - set "
            r"stash.api_key",
        ):
            await stash.version()
    finally:
        await stash.aclose()


async def test_http_500_is_retried_for_reads(client, stash_server) -> None:
    stash_server.fail_http(500, times=2)
    assert await client.count_scenes() == 0  # the third attempt got through
    assert sent(stash_server, "CountScenes") == 3
    stash_server.fail_http(500)
    with pytest.raises(StashServerError) as caught:
        await client.count_scenes()
    assert str(caught.value) == (
        f"Stash at {stash_server.url} answered HTTP 500: Internal Server Error"
    )
    assert sent(stash_server, "CountScenes") == 6


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda c: c.metadata_scan(["/data"]), "metadataScan"),
        (lambda c: c.metadata_generate({"covers": True}), "metadataGenerate"),
        (lambda c: c.stop_job("1"), "stopJob"),
        (lambda c: c.create_tag("New tag"), "tagCreate"),
    ],
)
async def test_mutations_are_never_retried(client, stash_server, call, name) -> None:
    stash_server.fail_http(500, operation=name)
    with pytest.raises(StashServerError):
        await call(client)
    assert sent(stash_server, name) == 1
    assert stash_server.tags == {} and stash_server.jobs == {}  # nothing happened twice


@pytest.mark.parametrize(
    "mode, text",
    [
        (
            "not_json",
            (
                "sent an answer that is not GraphQL JSON (HTTP 200: <html><body>502 Bad "
                "Gateway</body></html>) - check that stash.url points at Stash"
            ),
        ),
        ("truncated", "sent an answer that is not GraphQL JSON"),
        ("no_data", "answered without data - check that stash.url points at Stash"),
    ],
)
async def test_a_malformed_answer(client, stash_server, mode: str, text: str) -> None:
    stash_server.malformed(mode)
    with pytest.raises(StashMalformedAnswer) as caught:
        await client.count_scenes()
    assert str(caught.value).startswith(f"Stash at {stash_server.url} ")
    assert text in str(caught.value)


async def test_a_graphql_error_carries_stashs_message(client, stash_server) -> None:
    stash_server.fail_graphql("sql: database is locked")
    with pytest.raises(StashGraphQLError) as caught:
        await client.count_scenes()
    assert str(caught.value) == "Stash reported an error: sql: database is locked"
    assert caught.value.errors[0]["message"] == "sql: database is locked"
    assert sent(stash_server, "CountScenes") == 1


async def test_an_invalid_document_reports_graphqls_message_not_the_status(
    client, stash_server
) -> None:
    with pytest.raises(StashGraphQLError) as caught:
        await client.execute("query Broken { findScenes { nonsense } }")
    assert stash_server.requests[-1].status == 422
    assert str(caught.value) == (
        "Stash reported an error: Cannot query field 'nonsense' on type 'FindScenesResultType'."
    )


async def test_a_resolver_error_on_a_mutation(client, stash_server) -> None:
    stash_server.add_tag("Existing")
    with pytest.raises(StashGraphQLError, match="tag with name 'Existing' already exists"):
        await client.create_tag("Existing")


async def test_an_unreachable_server(client, stash_server) -> None:
    stash_server.stop()
    with pytest.raises(StashUnreachable) as caught:
        await client.count_scenes()
    assert str(caught.value) == f"Stash unreachable at {stash_server.url}: connection refused"


async def test_a_slow_answer_times_out_naming_the_setting(stash_server) -> None:
    stash_server.slow(2)
    stash = StashClient(stash_server.url, timeout=0.3, retries=1, retry_delay=0.01)
    try:
        with pytest.raises(StashUnreachable) as caught:
            await stash.count_scenes()
    finally:
        await stash.aclose()
    assert str(caught.value) == (
        f"Stash at {stash_server.url} did not answer within 0.3 s - check that Stash is "
        f"running and not overloaded, or raise stash.timeout"
    )
    # a read, but not retried: the deadline bounds the request, retries would triple it
    assert sent(stash_server, "CountScenes") == 1


async def test_reads_return_what_stash_has(client, stash_server) -> None:
    scene = stash_server.add_scene("One", tags=["T"], performers=["P"], studio="S")
    count, scenes = await client.find_scenes(None, per_page=10)
    assert count == 1 and scenes[0]["id"] == scene and scenes[0]["tags"][0]["name"] == "T"
    assert (await client.find_tags())[0] == 1
    job_id = await client.metadata_scan(["/data"])
    assert (await client.find_job(job_id))["status"] == "READY"
    assert [j["id"] for j in await client.job_queue()] == [job_id]
    assert await client.stop_job(job_id) is True
    assert await client.job_queue() == []  # Stash answers null for an empty queue
