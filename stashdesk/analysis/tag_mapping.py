"""Which Stash tag an AI tag becomes: the mapping table and ``analysis.tag_policy``.

Resolution of an AI tag (the name the video-tag server reports), first match wins:

1. the mapping table (AI tag -> a Stash tag, or -> ignore; case-insensitive), edited
   with :func:`set_mapping` / :func:`ignore_tag` / :func:`remove_mapping` or a CSV;
2. policy ``suffix`` (the default): ``<tag>_AI``;
3. policy ``map``: the Stash tag of the same name, else the one with that alias (the
   local copy of Stash's tags, kept by the SYNC job; any case); when there is none,
   ``<tag>_AI`` is created, or with ``analysis.create_missing_tags`` off the tag is
   left out (the plan says so).

CSV (``ai_tag,stash_tag,ignore``, one AI tag per line, ``ignore`` true/false) is what
:func:`export_mappings_csv` writes and :func:`import_mappings_csv` reads back
unchanged. The import also reads the peers' files: the AI Tagger plugin's
``tag_mappings.csv`` (``ServerTag,StashTag,...``) and the AI Overhaul's
``tag_settings.csv`` (``tag_name,...,stash_name,...``; rows without a ``stash_name``
are left out, they mean "the default name").

Storage functions are synchronous Peewee code (``Store.write``/``Store.read``) with
JSON-able results; bad input raises :class:`MappingError` (a CLI exits 2), and an
import changes nothing unless every line is good.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stashdesk.store.analysis import (
    delete_tag_mapping,
    delete_tag_mappings_except,
    put_tag_mapping,
    stash_tag_names,
    tag_mapping,
    tag_mapping_rows,
    tag_mapping_triples,
)

AI_SUFFIX = "_AI"
CSV_HEADER = ("ai_tag", "stash_tag", "ignore")
TAG_POLICIES = ("suffix", "map")

# Header names of our own CSV and of the peers' files.
_AI_COLUMNS = ("ai_tag", "servertag", "tag_name", "tag")
_STASH_COLUMNS = ("stash_tag", "stashtag", "stash_name")
_TRUE = ("true", "yes", "1", "y")
_FALSE = ("false", "no", "0", "n", "")


class MappingError(ValueError):
    """Bad mapping input; the message says what would fit (and on which CSV line)."""


def _fold(name: str) -> str:
    return name.strip().casefold()


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MappingError(f"{what} must be a non-empty name, not {value!r}")
    return value.strip()


def mapping_as_json(row: Any) -> dict[str, Any]:
    return {
        "ai_tag": row.ai_tag,
        "stash_tag": row.stash_tag,
        "ignore": bool(row.ignore),
        "updated_at": row.updated_at,
    }


def list_mappings() -> list[dict[str, Any]]:
    """Every mapping, by AI tag (case-insensitive order)."""
    return [mapping_as_json(r) for r in tag_mapping_rows()]


def _put(ai_tag: str, stash_tag: str | None, ignore: bool, now: float) -> str:
    """Insert or update one mapping; returns added, changed or unchanged."""
    key = _fold(ai_tag)
    row = tag_mapping(key)
    if row is not None and (row.ai_tag, row.stash_tag, bool(row.ignore)) == (
        ai_tag,
        stash_tag,
        ignore,
    ):
        return "unchanged"
    put_tag_mapping(key, ai_tag, stash_tag, ignore, now)
    return "added" if row is None else "changed"


def set_mapping(ai_tag: str, stash_tag: str) -> dict[str, Any]:
    """AI tag ``ai_tag`` becomes Stash tag ``stash_tag`` (created if Stash lacks it)."""
    ai_tag, stash_tag = _name(ai_tag, "the AI tag"), _name(stash_tag, "the Stash tag")
    _put(ai_tag, stash_tag, False, time.time())
    return mapping_as_json(tag_mapping(_fold(ai_tag)))


def ignore_tag(ai_tag: str) -> dict[str, Any]:
    """AI tag ``ai_tag`` is never proposed (no tag, no markers)."""
    ai_tag = _name(ai_tag, "the AI tag")
    _put(ai_tag, None, True, time.time())
    return mapping_as_json(tag_mapping(_fold(ai_tag)))


def remove_mapping(ai_tag: str) -> bool:
    """Forget the mapping of ``ai_tag`` (the policy decides again); True if there was one."""
    return delete_tag_mapping(_fold(_name(ai_tag, "the AI tag")))


# --- CSV --------------------------------------------------------------------------------


def export_mappings_csv() -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for item in list_mappings():
        writer.writerow(
            [item["ai_tag"], item["stash_tag"] or "", "true" if item["ignore"] else "false"]
        )
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class _CsvRow:
    line: int
    ai_tag: str
    stash_tag: str | None
    ignore: bool


def _columns(header: list[str]) -> tuple[int, int | None, int | None] | None:
    """(ai, stash, ignore) column indexes when ``header`` is a header row, else None."""
    names = [h.strip().casefold() for h in header]
    ai = next((names.index(n) for n in _AI_COLUMNS if n in names), None)
    if ai is None:
        return None
    stash = next((names.index(n) for n in _STASH_COLUMNS if n in names), None)
    ignore = names.index("ignore") if "ignore" in names else None
    return ai, stash, ignore


def parse_mappings_csv(text: str) -> list[_CsvRow]:
    """The rows of a mapping CSV (ours or a peer's); raises MappingError naming the line."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    rows: list[_CsvRow] = []
    seen: dict[str, int] = {}
    columns: tuple[int, int | None, int | None] = (0, 1, 2)
    for number, cells in enumerate(reader, 1):
        if not cells or not any(c.strip() for c in cells):
            continue
        if number == 1 and (found := _columns(cells)) is not None:
            columns = found
            continue
        ai_col, stash_col, ignore_col = columns

        def cell(index: int | None, cells: list[str] = cells) -> str:
            return cells[index].strip() if index is not None and index < len(cells) else ""

        ai_tag, stash_tag, flag = cell(ai_col), cell(stash_col), cell(ignore_col).casefold()
        if ai_tag.casefold() in ("", "*", "default", "__default__"):
            if ai_tag:
                continue  # a peer's "default" row holds rules, not a mapping
            raise MappingError(f"line {number}: the AI tag (first column) is empty")
        if flag not in _TRUE + _FALSE:
            raise MappingError(f"line {number}: ignore must be true or false, not {flag!r}")
        ignore = flag in _TRUE
        if ignore and stash_tag:
            raise MappingError(
                f"line {number}: {ai_tag} is both mapped to {stash_tag} and "
                f"ignored; leave stash_tag empty or set ignore to false"
            )
        if not ignore and not stash_tag:
            continue  # no mapping on this line (a peer's row keeping the default name)
        key = _fold(ai_tag)
        if key in seen:
            raise MappingError(f"line {number}: {ai_tag} appears twice (first on line {seen[key]})")
        seen[key] = number
        rows.append(_CsvRow(number, ai_tag, stash_tag or None, ignore))
    return rows


def import_mappings_csv(text: str, *, replace: bool = False) -> dict[str, int]:
    """Add or update the mappings of a CSV (``replace``: and forget every other one).

    Every line is checked before anything is written, so a bad file changes nothing.
    Returns counts: rows, added, changed, unchanged, removed.
    """
    rows = parse_mappings_csv(text)
    counts = {"rows": len(rows), "added": 0, "changed": 0, "unchanged": 0, "removed": 0}
    now = time.time()
    if replace:
        keep = [_fold(r.ai_tag) for r in rows]
        counts["removed"] = delete_tag_mappings_except(keep)
    for row in rows:
        counts[_put(row.ai_tag, row.stash_tag, row.ignore, now)] += 1
    return counts


def export_mappings_file(path: str | Path) -> dict[str, Any]:
    """Write the CSV to ``path`` (atomically: a crash leaves the old file). Blocking."""
    target = Path(path)
    text = export_mappings_csv()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return {"path": str(target), "rows": text.count("\n") - 1}


def import_mappings_file(path: str | Path, *, replace: bool = False) -> dict[str, Any]:
    """Read a mapping CSV from ``path`` (see :func:`import_mappings_csv`). Blocking."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise MappingError(f"{path} is not a UTF-8 text (CSV) file") from None
    return {"path": str(path), **import_mappings_csv(text, replace=replace)}


# --- resolving ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TagChoice:
    """What an AI tag becomes: ``stash_tag`` (None: left out) and why."""

    stash_tag: str | None
    source: str  # mapping | suffix | stash | created | ignored | missing
    note: str | None = None  # for a left-out tag: the sentence the plan records


class TagResolver:
    """Resolves AI tags by the mapping table and the policy (see the module docstring).

    Built once per ANALYSIS job from the database (:func:`load_tag_resolver`).
    """

    def __init__(
        self,
        *,
        policy: str = "suffix",
        create_missing: bool = True,
        mappings: Iterable[tuple[str, str | None, bool]] = (),
        known_tags: Iterable[tuple[str, Iterable[str]]] = (),
    ) -> None:
        if policy not in TAG_POLICIES:
            raise MappingError(f"analysis.tag_policy must be one of {', '.join(TAG_POLICIES)}")
        self.policy = policy
        self.create_missing = create_missing
        self._mappings = {_fold(ai): (stash, ignore) for ai, stash, ignore in mappings}
        self._by_name: dict[str, str] = {}
        self._by_alias: dict[str, str] = {}
        for name, aliases in known_tags:
            self._by_name.setdefault(_fold(name), name)
            for alias in aliases or ():
                if isinstance(alias, str) and alias.strip():
                    self._by_alias.setdefault(_fold(alias), name)

    def stash_tag_named(self, name: str) -> str | None:
        folded = _fold(name)
        return self._by_name.get(folded) or self._by_alias.get(folded)

    def resolve(self, ai_tag: str) -> TagChoice:
        mapped = self._mappings.get(_fold(ai_tag))
        if mapped is not None:
            stash_tag, ignore = mapped
            if ignore:
                return TagChoice(None, "ignored", f"{ai_tag}: ignored by the tag mapping")
            assert stash_tag is not None  # only an ignoring mapping has no Stash tag
            return TagChoice(self.stash_tag_named(stash_tag) or stash_tag, "mapping")
        suffixed = ai_tag + AI_SUFFIX
        if self.policy == "suffix":
            return TagChoice(suffixed, "suffix")
        existing = self.stash_tag_named(ai_tag)
        if existing is not None:
            return TagChoice(existing, "stash")
        if self.create_missing:
            return TagChoice(self.stash_tag_named(suffixed) or suffixed, "created")
        return TagChoice(
            None,
            "missing",
            f"{ai_tag}: Stash has no tag of that name or alias, "
            f"and analysis.create_missing_tags is off",
        )


def load_tag_resolver(policy: str, create_missing: bool) -> TagResolver:
    """A resolver over the stored mappings and the local copy of Stash's tags (blocking)."""
    mappings = tag_mapping_triples()
    known = (
        [
            (name, aliases if isinstance(aliases, list) else [])
            for name, aliases in stash_tag_names()
        ]
        if policy == "map" or mappings
        else []
    )
    return TagResolver(
        policy=policy, create_missing=create_missing, mappings=mappings, known_tags=known
    )
