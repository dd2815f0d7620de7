"""Typed doors into Peewee where its bundled stubs say too little.

Peewee's stubs type models, fields and ``Model.select()`` well, but a few calls the
store relies on are untyped or typed as something they are not:

- ``.tuples()``, ``.dicts()`` and ``.namedtuples()`` return the query itself, so
  iterating one seems to yield model instances;
- ``execute()`` of an UPDATE or DELETE returns Any (it is the number of rows changed);
- ``Database.execute_sql``, ``Database.cursor`` and ``Model.get_or_create`` are untyped.

These helpers only call Peewee; they say what comes back, so their callers are checked.
Every database StashDesk opens is SQLite, so cursors are ``sqlite3.Cursor``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar, cast

import peewee as pw

M = TypeVar("M", bound=pw.Model)


def tuples(query: pw.BaseQuery) -> Iterator[tuple[Any, ...]]:
    """The rows of ``query`` as tuples, in the order of its selected columns."""
    return cast(Iterator[tuple[Any, ...]], iter(query.tuples()))  # stubs: the model


def dicts(query: pw.BaseQuery) -> Iterator[dict[str, Any]]:
    """The rows of ``query`` as dicts keyed by column name (or alias)."""
    return cast(Iterator[dict[str, Any]], iter(query.dicts()))  # stubs: the model


def namedtuples(query: pw.BaseQuery) -> Iterator[Any]:
    """The rows of ``query`` as named tuples (their fields are the column names)."""
    return cast(Iterator[Any], iter(query.namedtuples()))  # stubs: the model


def rows_changed(query: pw.Update | pw.Delete) -> int:
    """Run an UPDATE or DELETE; returns how many rows it changed."""
    count: int = query.execute()
    return count


def execute_sql(db: pw.Database, sql: str, params: Sequence[Any] | None = None) -> sqlite3.Cursor:
    """``db.execute_sql(sql, params)``: the SQLite cursor it ran on."""
    # untyped in peewee's stubs
    cursor: sqlite3.Cursor = db.execute_sql(sql, params)  # type: ignore[no-untyped-call]
    return cursor


def cursor(db: pw.Database) -> sqlite3.Cursor:
    """A cursor on ``db``'s connection (opened if needed)."""
    # untyped in peewee's stubs
    result: sqlite3.Cursor = db.cursor()  # type: ignore[no-untyped-call]
    return result


def get_or_create(model: type[M], **kwargs: Any) -> tuple[M, bool]:
    """``model.get_or_create(**kwargs)``: the row, and whether it was created."""
    # untyped in peewee's stubs
    row, created = model.get_or_create(**kwargs)  # type: ignore[no-untyped-call]
    return row, created
