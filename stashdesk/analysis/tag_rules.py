"""Per-tag rules: when an AI tag becomes a scene tag, and its time spans markers.

A rule exists for every AI tag the user configured (the name the video-tag server
reports, case-insensitive) plus one default for all tags (key ``*``). A field left
unset (None) in a tag's rule falls back to the default rule, and one unset there
to the built-in value, which is today's behaviour:

==================  =========  ======================================================
field               built in   meaning
==================  =========  ======================================================
enabled             true       false: the tag and its markers are left out
min_confidence      (unset)    below it a tag or time span is left out; unset:
                               ``analysis.threshold``
min_on_screen       (unset)    "10s" or "5%" of the video: the tag is proposed only
                               when its time spans cover at least that much
min_marker_seconds  0          shorter markers are left out
merge_gap_seconds   (unset)    spans at most this far apart become one marker;
                               unset: never merged
max_markers         (unset)    at most this many markers per tag and scene (the
                               longest are kept); 0: no markers for the tag
==================  =========  ======================================================

Time is measured as the peers (and the video-tag server's own totals) measure
it: a span covers its frames, from its start to its end plus one frame interval.

Storage functions are synchronous Peewee code (call them through ``Store.write``
/ ``Store.read``) with JSON-able results; a bad value raises :class:`RuleError`
with a message saying what would fit (a CLI exits 2 on it).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from stashdesk.options import Option, OptionError
from stashdesk.store.analysis import delete_tag_rule, save_tag_rule, tag_rule, tag_rule_rows

DEFAULT_KEY = "*"


class RuleError(ValueError):
    """A rule field or value that does not fit; the message says what would."""


_ON_SCREEN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|seconds?|%)?\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class OnScreenMinimum:
    """A minimum time on screen: seconds, or a percentage of the video's duration."""

    value: float
    unit: str  # "s" | "%"

    def seconds(self, duration: float | None) -> float | None:
        """The minimum in seconds; None when it is a percentage of an unknown duration."""
        if self.unit == "s":
            return self.value
        if not duration or duration <= 0:
            return None
        return self.value / 100.0 * duration

    @property
    def text(self) -> str:
        return f"{self.value:g}{self.unit}"

    def describe(self) -> str:
        return f"{self.value:g} {self.unit}"


def parse_on_screen(value: Any) -> OnScreenMinimum | None:
    """``10`` / ``"10"`` / ``"10s"`` (seconds) or ``"5%"``; None or "" for unset."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RuleError(
            f'min_on_screen must be seconds (10 or "10s") or a percentage ("5%"), not {value!r}'
        )
    if isinstance(value, (int, float)):
        text = f"{float(value)}s"
    elif isinstance(value, str):
        text = value
    else:
        raise RuleError(
            f'min_on_screen must be seconds (10 or "10s") or a percentage ("5%"), not {value!r}'
        )
    match = _ON_SCREEN.match(text)
    if not match:
        raise RuleError(
            f'min_on_screen must be seconds (10 or "10s") or a percentage ("5%"), not {value!r}'
        )
    number, unit = float(match[1]), "%" if match[2] == "%" else "s"
    if unit == "%" and number > 100:
        raise RuleError(f"min_on_screen as a percentage must be at most 100 %, not {value!r}")
    return OnScreenMinimum(number, unit)


def _on_screen_validator(value: str) -> None:
    try:
        parse_on_screen(value)
    except RuleError as exc:
        raise OptionError(str(exc)) from None


# The fields of a rule, declared like settings so a window can build its form from them.
RULE_OPTIONS: list[Option] = [
    Option("enabled", "bool", True, "Propose this tag and its markers at all."),
    Option(
        "min_confidence",
        "float",
        None,
        "Leave out the tag, and its time spans, below this confidence (unset: analysis.threshold).",
        minimum=0,
        maximum=1,
    ),
    Option(
        "min_on_screen",
        "str",
        None,
        "Propose the tag only when it is on screen at "
        'least this long: seconds ("10s") or a share of the video ("5%").',
        validator=_on_screen_validator,
    ),
    Option("min_marker_seconds", "float", None, "Leave out markers shorter than this.", minimum=0),
    Option(
        "merge_gap_seconds",
        "float",
        None,
        "Merge time spans at most this many seconds apart into one marker (unset: never merge).",
        minimum=0,
    ),
    Option(
        "max_markers",
        "int",
        None,
        "At most this many markers per tag and scene, the longest first (0: no markers).",
        minimum=0,
        maximum=1000,
    ),
]
RULE_FIELDS = tuple(o.key for o in RULE_OPTIONS)
_OPTIONS = {o.key: o for o in RULE_OPTIONS}


@dataclass(frozen=True, slots=True)
class EffectiveRule:
    """A rule with every fallback applied: what the plan builder uses."""

    enabled: bool = True
    min_confidence: float | None = None  # None: the job's analysis.threshold
    min_on_screen: OnScreenMinimum | None = None
    min_marker_seconds: float = 0.0
    merge_gap_seconds: float | None = None
    max_markers: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "min_confidence": self.min_confidence,
            "min_on_screen": self.min_on_screen.text if self.min_on_screen else None,
            "min_marker_seconds": self.min_marker_seconds,
            "merge_gap_seconds": self.merge_gap_seconds,
            "max_markers": self.max_markers,
        }


def _fold(ai_tag: str) -> str:
    return ai_tag.strip().casefold()


def _stored_fields(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in RULE_FIELDS}


class RuleBook:
    """Every stored rule, read once (per ANALYSIS job); ``rule_for`` resolves fallbacks."""

    def __init__(self, rows: dict[str, dict[str, Any]] | None = None) -> None:
        self._rows = rows or {}
        self._default = self._rows.get(DEFAULT_KEY, {})

    def rule_for(self, ai_tag: str | None) -> EffectiveRule:
        """The rule for ``ai_tag`` (None: what the default rule alone gives)."""
        own = {} if ai_tag is None else self._rows.get(_fold(ai_tag), {})
        merged = {
            name: own.get(name) if own.get(name) is not None else self._default.get(name)
            for name in RULE_FIELDS
        }
        return EffectiveRule(
            enabled=True if merged["enabled"] is None else bool(merged["enabled"]),
            min_confidence=merged["min_confidence"],
            min_on_screen=parse_on_screen(merged["min_on_screen"]),
            min_marker_seconds=float(merged["min_marker_seconds"] or 0.0),
            merge_gap_seconds=merged["merge_gap_seconds"],
            max_markers=merged["max_markers"],
        )


def load_rulebook() -> RuleBook:
    return RuleBook({row.key: _stored_fields(row) for row in tag_rule_rows()})


def _rule_json(key: str, ai_tag: str, stored: dict[str, Any], book: RuleBook) -> dict[str, Any]:
    effective = book.rule_for(None if key == DEFAULT_KEY else ai_tag)
    return {
        "ai_tag": None if key == DEFAULT_KEY else ai_tag,
        "default": key == DEFAULT_KEY,
        "rule": stored,
        "effective": effective.as_json(),
    }


def list_rules() -> dict[str, Any]:
    """``{"default": rule, "tags": [rule, ...]}``; each rule has ``ai_tag``, ``rule`` (the
    stored fields, None = falls back) and ``effective`` (with the fallbacks applied)."""
    rows = tag_rule_rows()
    book = RuleBook({row.key: _stored_fields(row) for row in rows})
    default = next((r for r in rows if r.key == DEFAULT_KEY), None)
    default_fields = _stored_fields(default) if default else dict.fromkeys(RULE_FIELDS)
    return {
        "default": _rule_json(DEFAULT_KEY, DEFAULT_KEY, default_fields, book),
        "tags": [
            _rule_json(r.key, r.ai_tag, _stored_fields(r), book)
            for r in rows
            if r.key != DEFAULT_KEY
        ],
        "fields": [
            {"name": o.key, "type": o.type, "description": o.description} for o in RULE_OPTIONS
        ],
    }


def get_rule(ai_tag: str | None = None) -> dict[str, Any]:
    """One rule (None: the default rule), whether stored or not."""
    key = DEFAULT_KEY if ai_tag is None else _fold(ai_tag)
    row = tag_rule(key)
    stored = _stored_fields(row) if row else dict.fromkeys(RULE_FIELDS)
    book = load_rulebook()
    return _rule_json(key, row.ai_tag if row else (ai_tag or DEFAULT_KEY), stored, book)


def validate_rule_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Coerce and check ``fields`` (None clears a field); raises RuleError."""
    unknown = sorted(set(fields) - set(RULE_FIELDS))
    if unknown:
        raise RuleError(
            f"unknown rule field(s) {', '.join(unknown)}; a rule has {', '.join(RULE_FIELDS)}"
        )
    clean: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None or value == "":
            clean[name] = None
            continue
        try:
            if name == "min_on_screen":
                minimum = parse_on_screen(value)
                clean[name] = minimum.text if minimum else None
            else:
                clean[name] = _OPTIONS[name].validate(value)
        except OptionError as exc:
            raise RuleError(str(exc)) from None
    return clean


def set_rule(ai_tag: str | None, **fields: Any) -> dict[str, Any]:
    """Change some fields of a tag's rule (``ai_tag`` None: the default rule) and return
    it. A field set to None falls back again; fields not given keep their value."""
    if ai_tag is not None and not ai_tag.strip():
        raise RuleError("an AI tag name is needed (or none for the default rule)")
    clean = validate_rule_fields(fields)
    key = DEFAULT_KEY if ai_tag is None else _fold(ai_tag)
    name = DEFAULT_KEY if ai_tag is None else ai_tag.strip()
    save_tag_rule(key, name, clean, time.time())
    return get_rule(ai_tag)


def remove_rule(ai_tag: str | None) -> bool:
    """Forget a tag's rule (it follows the default again); None resets the default rule
    to the built-in values. True when there was one."""
    key = DEFAULT_KEY if ai_tag is None else _fold(ai_tag)
    return delete_tag_rule(key)
