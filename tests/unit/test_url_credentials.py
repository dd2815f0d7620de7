"""Credentials inside URL settings are secrets: stored apart, masked, never repeated."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from stashdesk.options import OptionError
from stashdesk.redaction import MASK
from stashdesk.settings import SETTINGS, Settings
from stashdesk.store import Store
from stashdesk.store.models import Setting
from stashdesk.urls import basic_auth, mask_url, split_credentials

URL_KEYS = [o.key for o in SETTINGS if o.type == "url"]
PASSWORD = "Zq7-p@ss/w:rd"  # needs encoding: @ / :
ENCODED = "Zq7-p%40ss%2Fw%3Ard"


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path)
    yield s
    s.close()


@pytest.fixture
def settings(store: Store, tmp_path: Path) -> Settings:
    s = Settings(tmp_path, use_keyring=False)
    s.reload()
    return s


def rows() -> dict[str, object]:
    return {row.key: row.value for row in Setting.select()}


@pytest.mark.parametrize("key", URL_KEYS)
def test_credentials_are_stored_as_the_keys_secret_and_masked(settings: Settings, key: str) -> None:
    shown = settings.set(key, f"http://alice:{ENCODED}@nas:9999/")
    assert shown == "http://alice:***@nas:9999"
    assert settings.get(key) == "http://alice:***@nas:9999"
    assert settings.display(key) == "http://alice:***@nas:9999"
    assert settings.connection_url(key) == f"http://alice:{ENCODED}@nas:9999"
    stored = rows()
    assert stored[key] == "http://nas:9999"  # the plain row has no credentials
    assert stored[f"secret:{key}"] == {"value": f"alice:{ENCODED}"}  # the owner-only DB


def test_a_token_without_password_is_masked_whole(settings: Settings) -> None:
    settings.set("stash.url", "https://s3cr3ttoken@stash.example.org")
    assert settings.display("stash.url") == "https://***@stash.example.org"
    assert settings.redact("token s3cr3ttoken used") == f"token {MASK} used"


def test_a_value_read_and_written_back_keeps_its_password(settings: Settings) -> None:
    settings.set("stash.url", f"http://alice:{ENCODED}@nas:9999")
    settings.set("stash.url", settings.get("stash.url"))
    assert settings.connection_url("stash.url") == f"http://alice:{ENCODED}@nas:9999"
    # an edited host with the mask keeps the password too
    settings.set("stash.url", "http://alice:***@nas2:9999")
    assert settings.connection_url("stash.url") == f"http://alice:{ENCODED}@nas2:9999"


def test_the_mask_with_another_user_name_is_refused(settings: Settings) -> None:
    settings.set("stash.url", f"http://alice:{ENCODED}@nas:9999")
    with pytest.raises(OptionError, match="type the password again"):
        settings.set("stash.url", "http://bob:***@nas:9999")
    assert settings.connection_url("stash.url") == f"http://alice:{ENCODED}@nas:9999"


def test_the_mask_for_a_test_of_an_unsaved_address(settings: Settings) -> None:
    settings.set("qbittorrent.url", f"http://alice:{ENCODED}@nas:8080")
    edited = "http://alice:***@nas:8081"
    assert (
        settings.with_stored_credentials("qbittorrent.url", edited)
        == f"http://alice:{ENCODED}@nas:8081"
    )
    assert (
        settings.with_stored_credentials("qbittorrent.url", "http://nas:8081") == "http://nas:8081"
    )


def test_an_address_without_credentials_drops_the_stored_ones(settings: Settings) -> None:
    settings.set("stash.url", f"http://alice:{ENCODED}@nas:9999")
    settings.set("stash.url", "http://nas:9999")
    assert "secret:stash.url" not in rows()
    assert settings.connection_url("stash.url") == "http://nas:9999"
    assert settings.redact(f"x {PASSWORD} y") == f"x {PASSWORD} y"  # no longer a secret


def test_unset_removes_the_credentials(settings: Settings) -> None:
    settings.set("stash.url", f"http://alice:{ENCODED}@nas:9999")
    settings.unset("stash.url")
    assert {"stash.url", "secret:stash.url"}.isdisjoint(rows())
    assert settings.get("stash.url") == "http://localhost:9999"


def test_credentials_survive_a_reload(settings: Settings, tmp_path: Path) -> None:
    settings.set("analysis.video_server_url", f"http://alice:{ENCODED}@ai:8084")
    again = Settings(tmp_path, use_keyring=False)
    again.reload()
    assert again.connection_url("analysis.video_server_url") == f"http://alice:{ENCODED}@ai:8084"
    assert again.display("analysis.video_server_url") == "http://alice:***@ai:8084"


def test_an_older_cleartext_row_is_moved_to_the_secret_store(store: Store, tmp_path: Path) -> None:
    Setting.insert(key="stash.url", value=f"http://alice:{ENCODED}@nas:9999").execute()
    settings = Settings(tmp_path, use_keyring=False)
    settings.reload()
    assert rows()["stash.url"] == "http://nas:9999"
    assert settings.connection_url("stash.url") == f"http://alice:{ENCODED}@nas:9999"
    assert settings.display("stash.url") == "http://alice:***@nas:9999"


@pytest.mark.parametrize(
    "form", [PASSWORD, ENCODED, "Zq7-p%40ss/w:rd", "Zq7-p%40ss%2fw%3ard", "Zq7-p%40ss%2Fw%3Ard"]
)
def test_every_form_of_a_url_password_is_redacted(settings: Settings, form: str) -> None:
    settings.set("qbittorrent.url", f"http://alice:{ENCODED}@nas:8080")
    text = settings.redact(f"GET http://alice:{form}@nas:8080/api failed")
    assert text == f"GET http://alice:{MASK}@nas:8080/api failed"


def test_the_basic_auth_header_value_is_redacted(settings: Settings) -> None:
    import base64

    settings.set("stash.url", f"http://alice:{ENCODED}@nas:9999")
    header = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert settings.redact(f"Authorization: Basic {header}") == f"Authorization: Basic {MASK}"


def test_clients_never_put_credentials_in_a_request_url() -> None:
    bare, auth = basic_auth(f"http://alice:{ENCODED}@nas:9999")
    assert bare == "http://nas:9999" and auth == ("alice", PASSWORD)
    assert basic_auth("http://nas:9999") == ("http://nas:9999", None)
    assert split_credentials("http://[::1]:9999") == ("http://[::1]:9999", "")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://u:p@h:1", "http://u:***@h:1"),
        ("http://tok@h", "http://***@h"),
        ("http://u:@h", "http://u:@h"),
        ("http://h:1", "http://h:1"),
        ("http://u:pw@[::1", "http://u:***@[::1"),  # unparsable, still masked
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


async def test_a_client_error_shows_the_masked_address(settings: Settings) -> None:
    from stashdesk.clients.errors import StashUnreachable
    from stashdesk.clients.stash import StashClient

    client = StashClient(f"http://alice:{ENCODED}@127.0.0.1:9", timeout=2, retries=0)
    try:
        with pytest.raises(StashUnreachable) as caught:
            await client.version()
    finally:
        await client.aclose()
    assert "http://alice:***@127.0.0.1:9" in str(caught.value)
    assert PASSWORD not in str(caught.value) and ENCODED not in str(caught.value)


async def test_the_stash_client_sends_url_credentials_as_basic_auth(stash_server) -> None:
    import base64

    from stashdesk.clients.stash import StashClient

    host = stash_server.url.removeprefix("http://")
    client = StashClient(f"http://alice:{ENCODED}@{host}", timeout=5)
    try:
        await client.version()
    finally:
        await client.aclose()
    request = stash_server.requests[-1]
    expected = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert request.header("Authorization") == f"Basic {expected}"
    assert request.path == "/graphql"


def test_python_logging_masks_secrets_on_stashdesk_handlers(
    settings: Settings, tmp_path: Path
) -> None:
    from stashdesk.log_file import open_log_file

    settings.set("stash.api_key", "k3y-Abc/123")
    settings.set("stash.url", f"http://alice:{ENCODED}@nas:9999")
    handler = open_log_file(tmp_path)
    assert handler is not None
    logger = logging.getLogger("stashdesk.test.redaction")
    logger.setLevel(logging.INFO)
    try:
        logger.warning("key %s and url %s", "k3y-Abc/123", f"http://alice:{ENCODED}@nas:9999")
        try:
            raise ConnectionError(
                f"cannot reach http://alice:{PASSWORD}@nas:9999 (key k3y-Abc%2F123)"
            )
        except ConnectionError:
            logger.exception("request failed")
        handler.flush()
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    text = (tmp_path / "stashdesk.log").read_text()
    assert "k3y-Abc" not in text and "Zq7" not in text
    assert f"key {MASK} and url http://alice:{MASK}@nas:9999" in text
    assert "ConnectionError: cannot reach http://alice:" in text  # the traceback is there
    assert (tmp_path / "stashdesk.log").stat().st_mode & 0o777 == 0o600
