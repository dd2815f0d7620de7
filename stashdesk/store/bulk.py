"""Writing many rows with one prepared statement.

Building SQL per row in Peewee costs about ten times what SQLite needs to store the
row, and that time is taken from the event loop (the writer thread holds the GIL
while it builds), so bulk writes - a sync page, an analysed scene's plan changes -
go through :func:`execute_many` instead of ``insert_many``.
"""

from __future__ import annotations

from typing import Any


def execute_many(
    model: Any, verb: str, columns: list[str], rows: list[tuple[Any, ...]], conflict: str = ""
) -> None:
    """``<verb> INTO <model's table> (columns) VALUES (?...) <conflict>`` for every row.

    Values go to SQLite as they are: encode JSON columns (``json_text``) yourself.
    """
    if not rows:
        return
    table = model._meta.table_name
    marks = ", ".join("?" * len(columns))
    sql = f'{verb} INTO "{table}" ({", ".join(columns)}) VALUES ({marks}) {conflict}'
    model._meta.database.cursor().executemany(sql, rows)
