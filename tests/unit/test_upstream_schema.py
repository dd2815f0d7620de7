"""The fixture that brings upstream Stash's schema from the stash-graphql-client wheel:
pinned by hash, cached, and offline it skips saying how to enable it (fails under CI)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from tests import upstream_schema


@pytest.fixture
def fresh_cache(monkeypatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("STASHDESK_TEST_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("STASHDESK_STASH_SCHEMA_WHEEL", raising=False)
    upstream_schema.load_schema.cache_clear()
    yield tmp_path / "cache"
    upstream_schema.load_schema.cache_clear()


def offline_pip(monkeypatch, tmp_path: Path) -> None:
    """pip with no configuration and an index nobody listens on: as on a machine offline."""
    monkeypatch.setenv("PIP_CONFIG_FILE", str(tmp_path / "no-pip.conf"))
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")


def test_offline_without_a_cache_it_skips_saying_how_and_fails_under_ci(
    fresh_cache: Path, monkeypatch, tmp_path: Path
) -> None:
    offline_pip(monkeypatch, tmp_path)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        upstream_schema.require_schema("pypi")
    message = str(skipped.value)
    assert "pip could not fetch stash_graphql_client-0.12.12-py3-none-any.whl" in message
    assert "STASHDESK_STASH_SCHEMA_WHEEL" in message and str(fresh_cache) in message
    monkeypatch.setenv("CI", "true")
    upstream_schema.load_schema.cache_clear()
    with pytest.raises(pytest.fail.Exception, match="required when CI=true"):
        upstream_schema.require_schema("pypi")
    assert not fresh_cache.exists()  # nothing half-made was cached


def test_a_wheel_that_does_not_match_the_pinned_hash_is_refused(
    fresh_cache: Path, monkeypatch, tmp_path: Path
) -> None:
    forged = tmp_path / upstream_schema.WHEEL_FILE
    with zipfile.ZipFile(forged, "w") as archive:
        archive.writestr(
            "stash_graphql_client/schema/schema.graphql", "type Query { hello: String }"
        )
    monkeypatch.setenv("STASHDESK_STASH_SCHEMA_WHEEL", str(forged))
    with pytest.raises(upstream_schema.SchemaUnavailable) as refused:
        upstream_schema.load_schema("pypi")
    digest = hashlib.sha256(forged.read_bytes()).hexdigest()
    assert f"has sha256 {digest}, not the pinned {upstream_schema.WHEEL_SHA256}" in str(
        refused.value
    )
    assert not fresh_cache.exists()


def test_the_schema_is_cached_and_then_needs_no_network(
    fresh_cache: Path, monkeypatch, tmp_path: Path
) -> None:
    try:
        first = upstream_schema.load_schema("pypi")  # fetched (or skipped when offline)
    except upstream_schema.SchemaUnavailable as exc:
        upstream_schema.require_schema("pypi")  # skips locally, fails under CI
        raise AssertionError("unreachable") from exc
    cached = upstream_schema.cache_dir()
    assert cached.is_relative_to(fresh_cache)
    assert (cached / "SHA256").read_text().strip() == upstream_schema.WHEEL_SHA256
    assert sorted(p.name for p in (cached / "schema").iterdir()) == ["schema.graphql", "types"]
    assert first.subscription_type is not None
    assert "jobsSubscribe" in first.subscription_type.fields
    # The wheel's Stash is newer than the shared copy: it has mutations the other lacks.
    assert "destroyFiles" in first.mutation_type.fields

    offline_pip(monkeypatch, tmp_path)
    upstream_schema.load_schema.cache_clear()
    again = upstream_schema.load_schema("pypi")
    assert set(again.type_map) == set(first.type_map)
