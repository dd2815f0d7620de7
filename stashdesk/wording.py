"""Counts that read naturally: "1 scene", "2 scenes", "12,000 jobs"."""

from __future__ import annotations


def plural(n: int, noun: str, plural_noun: str | None = None) -> str:
    word = noun if n == 1 else (plural_noun or noun + "s")
    return f"{n:,} {word}"
