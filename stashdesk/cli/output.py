"""How commands speak: exit codes, JSON, tables, one-line errors (and the ``--scene``
option several of them take)."""

from __future__ import annotations

import argparse
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
    "add_scene_option",
    "print_json",
    "print_listing",
    "print_table",
    "yes",
]


def add_scene_option(parser: argparse.ArgumentParser, help: str, *, required: bool = False) -> None:
    """``--scene ID``, repeatable, into ``scene_ids``."""
    parser.add_argument(
        "--scene", action="append", dest="scene_ids", metavar="ID", required=required, help=help
    )


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
