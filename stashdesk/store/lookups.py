"""Finding rows from what a person typed: ids, id prefixes, limits.

What comes from a command line or an API request is checked here before it
reaches SQLite, so a bad value is an error that says what would do
(:class:`ValueOutOfRange`, :class:`JobIdError`, both ``ValueError``/``LookupError``
with a one-line message) instead of an ``OverflowError`` from the driver or a
prefix that silently matches some job.
"""

from __future__ import annotations

import re
from typing import Any

import peewee as pw

from stashdesk.store.models import Job

SQLITE_INT_MAX = 2**63 - 1
CANDIDATES_SHOWN = 10
_JOB_ID_CHARS = re.compile(r"[0-9a-f-]+")
_DECIMAL = re.compile(r"\s*[+-]?[0-9]+\s*")  # ASCII digits only: int() takes any script's


class ValueOutOfRange(ValueError):
    """A number outside what the field (or SQLite's 64-bit integers) can hold."""


def check_int(value: Any, what: str, *, minimum: int = 0, maximum: int = SQLITE_INT_MAX) -> int:
    """``value`` as an int within [minimum, maximum], or ValueOutOfRange.

    ``what`` names the value in the message ("plan id", "--limit"). Accepts ints and
    strings of digits; refuses bools, floats with a fraction, and anything else.
    """
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif (
        isinstance(value, float)
        and value.is_integer()
        or isinstance(value, str)
        and _DECIMAL.fullmatch(value)
    ):
        number = int(value)
    if number is None or not minimum <= number <= maximum:
        raise ValueOutOfRange(
            f"{what} must be a whole number from {minimum} to {maximum}, not {value!r}"
        )
    return number


class JobIdError(LookupError):
    """A job id (or prefix) that names no job, or more than one.

    Attributes:
        prefix: what was given.
        candidates: the jobs it could mean (JSON-able dicts, newest first; at most
            ``CANDIDATES_SHOWN``), empty when it matches none.
        total: how many jobs it matches in all.
    """

    def __init__(
        self, message: str, prefix: str, candidates: list[dict[str, Any]], total: int
    ) -> None:
        super().__init__(message)
        self.prefix = prefix
        self.candidates = candidates
        self.total = total

    def __str__(self) -> str:
        return str(self.args[0])


def _candidate(row: Job) -> dict[str, Any]:
    return {"id": row.id, "type": row.type, "status": row.status, "created_at": row.created_at}


def find_job(prefix: str) -> Job:
    """The one job whose id is ``prefix`` or starts with it (read; any thread with a
    connection). Raises JobIdError for an empty or malformed prefix, for none, and for
    several (listing them)."""
    given = prefix
    prefix = (prefix or "").strip().lower()
    if not prefix:
        raise JobIdError(
            "give a job id, or its first characters (`stashdesk jobs list` shows them)",
            given,
            [],
            0,
        )
    if not _JOB_ID_CHARS.fullmatch(prefix):
        raise JobIdError(
            f"{given!r} is not a job id: job ids are made of 0-9, a-f and '-' (e.g. 3f2a9c1e-...)",
            given,
            [],
            0,
        )
    matching = Job.select().where(pw.fn.substr(Job.id, 1, len(prefix)) == prefix)
    rows = list(matching.order_by(Job.created_at.desc()).limit(CANDIDATES_SHOWN + 1))
    if len(rows) == 1:
        return rows[0]
    if not rows:
        raise JobIdError(f"no job with an id starting with {prefix!r}", given, [], 0)
    total = matching.count()
    candidates = [_candidate(row) for row in rows[:CANDIDATES_SHOWN]]
    listing = ", ".join(f"{c['id']} ({c['type']}, {c['status']})" for c in candidates)
    more = f" and {total - len(candidates)} more" if total > len(candidates) else ""
    raise JobIdError(
        f"{prefix!r} matches {total} jobs - give more of the id: {listing}{more}",
        given,
        candidates,
        total,
    )
