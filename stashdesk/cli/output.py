"""How commands speak: exit codes, JSON, tables, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

from stashdesk.engine_client.errors import EXIT_FAILED, EXIT_USAGE

EXIT_OK = 0

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandError",
    "print_json",
    "print_table",
    "yes",
]


class CommandError(Exception):
    """A command could not do what was asked; ``code`` is its exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def print_table(headers: list[str], rows: Iterable[list[Any]]) -> None:
    cells = [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def print_listing(as_json: bool, value: Any, headers: list[str], rows: Iterable[list[Any]]) -> None:
    """``value`` as JSON (``--json``), or else the table of ``rows`` (read only then: pass
    a generator, so that JSON output never depends on the table's cells)."""
    if as_json:
        print_json(value)
    else:
        print_table(headers, rows)


def yes(flag: Any) -> str:
    return "yes" if flag else "no"


def note(text: str) -> None:
    """A remark for people, on stderr (so ``--json`` output stays parseable)."""
    print(f"stashdesk: {text}", file=sys.stderr)
