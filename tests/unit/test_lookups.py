"""Ids, id prefixes and numbers from people: clear errors, never a wrong match."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from stashdesk.store import Store
from stashdesk.store.lookups import (
    SQLITE_INT_MAX,
    JobIdError,
    ValueOutOfRange,
    check_int,
    find_job,
)
from stashdesk.store.models import Job, Plan


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path)
    ids = [
        "3f2a0000-0000-4000-8000-000000000001",
        "3f2a0000-0000-4000-8000-000000000002",
        "9b1c0000-0000-4000-8000-000000000003",
        "a%_x",
    ]
    now = time.time()
    s.writer.submit(
        lambda: [
            Job.create(id=job_id, type="SYNC", status="completed", created_at=now + i)
            for i, job_id in enumerate(ids)
        ]
    ).result()
    yield s
    s.close()


def read(store: Store, fn):
    with store.db.connection_context():
        return fn()


def test_a_unique_prefix_finds_its_job(store: Store) -> None:
    assert read(store, lambda: find_job("9b1c").id) == "9b1c0000-0000-4000-8000-000000000003"
    assert read(store, lambda: find_job(" 9B1C ").id) == "9b1c0000-0000-4000-8000-000000000003"
    full = "3f2a0000-0000-4000-8000-000000000001"
    assert read(store, lambda: find_job(full).id) == full


@pytest.mark.parametrize("prefix", ["", "   "])
def test_an_empty_prefix_matches_nothing(store: Store, prefix: str) -> None:
    with pytest.raises(JobIdError, match="give a job id") as caught:
        read(store, lambda: find_job(prefix))
    assert caught.value.candidates == []


def test_an_ambiguous_prefix_lists_the_candidates(store: Store) -> None:
    with pytest.raises(JobIdError) as caught:
        read(store, lambda: find_job("3f2a"))
    error = caught.value
    assert error.total == 2
    assert [c["id"] for c in error.candidates] == [
        "3f2a0000-0000-4000-8000-000000000002",
        "3f2a0000-0000-4000-8000-000000000001",
    ]
    assert str(error).startswith("'3f2a' matches 2 jobs - give more of the id: ")
    assert "3f2a0000-0000-4000-8000-000000000001 (SYNC, completed)" in str(error)


@pytest.mark.parametrize("prefix", ["%", "_", "a%", "3f2a'--", "\u0660"])
def test_like_wildcards_and_other_characters_are_not_job_ids(store: Store, prefix: str) -> None:
    with pytest.raises(JobIdError, match="is not a job id"):
        read(store, lambda: find_job(prefix))


def test_an_unknown_prefix_says_so(store: Store) -> None:
    with pytest.raises(JobIdError, match="no job with an id starting with 'ffff'"):
        read(store, lambda: find_job("ffff"))


def test_many_candidates_are_capped(tmp_path: Path) -> None:
    s = Store(tmp_path)
    try:
        now = time.time()
        s.writer.submit(
            lambda: [
                Job.create(id=f"abcd{i:04d}-x", type="SYNC", status="failed", created_at=now + i)
                for i in range(25)
            ]
        ).result()
        with pytest.raises(JobIdError) as caught:
            read(s, lambda: find_job("abcd"))
        assert caught.value.total == 25 and len(caught.value.candidates) == 10
        assert str(caught.value).endswith("and 15 more")
    finally:
        s.close()


@pytest.mark.parametrize(
    "value",
    [
        SQLITE_INT_MAX + 1,
        10**30,
        -1,
        "1e3",
        1.5,
        True,
        None,
        "12abc",
        "",
        "999999999999999999999",
        "\u0661\u0662",
    ],
)
def test_numbers_out_of_range_are_a_clear_error(value) -> None:
    with pytest.raises(ValueOutOfRange, match=r"^plan id must be a whole number from 1 to "):
        check_int(value, "plan id", minimum=1)


@pytest.mark.parametrize(
    ("value", "expected"), [(1, 1), ("42", 42), (7.0, 7), (SQLITE_INT_MAX, SQLITE_INT_MAX)]
)
def test_numbers_in_range_pass(value, expected) -> None:
    assert check_int(value, "plan id", minimum=1) == expected


def test_the_checked_bound_is_what_sqlite_can_take(store: Store) -> None:
    """Beyond the bound the driver raises OverflowError; at the bound the query runs."""
    limit = check_int(SQLITE_INT_MAX, "--limit")
    assert read(store, lambda: Plan.get_or_none(Plan.id == limit)) is None
    assert len(read(store, lambda: list(Job.select().limit(limit)))) == 4
    conn = sqlite3.connect(":memory:")
    with pytest.raises(OverflowError):
        conn.execute("SELECT ?", (SQLITE_INT_MAX + 1,))
    conn.close()
