"""A job's metadata and result written for people: labelled "Key: value" rows.

Jobs keep what they ran with and what they did as JSON objects whose keys
differ by job type. These functions turn any such object into rows a person
reads without knowing JSON: ``torrents_processed`` becomes "Torrents
processed", times become dates, nested objects become one line, and the items
a job failed on are listed one per line. No Qt here, so it is easy to test.
"""

from __future__ import annotations

from typing import Any

from stashdesk.timestamps import from_iso
from stashdesk.ui import humanize

# Keys under which job results list the items they failed on (PROCESS_DOWNLOADS:
# ``failures``; APPLY_PLAN and the post-import actions: ``errors``).
FAILURE_KEYS = ("failures", "errors", "failed_items", "failed")
# What names a failed item, best first, and what says why it failed.
ITEM_NAME_KEYS = ("name", "title", "path", "file", "scene_title", "hash")
ITEM_REASON_KEYS = ("reason", "error", "message")
LIST_SHOWN = 10  # items of a plain list written out before "… N more"
NOTHING = "—"


def key_label(key: str) -> str:
    """``torrents_processed`` -> "Torrents processed"; ``plan_id`` -> "Plan id"."""
    words = str(key).replace("-", "_").replace(".", "_").split("_")
    text = " ".join(word for word in words if word)
    return text[:1].upper() + text[1:] if text else str(key)


def _is_time_key(key: str) -> bool:
    return key.endswith("_at") or key in ("at", "since", "until")


def _is_duration_key(key: str) -> bool:
    return key in ("duration", "elapsed", "took") or key.endswith(("_seconds", "_duration"))


def value_text(key: str, value: Any) -> str:
    """One value of a job's metadata or result, as a person reads it."""
    if value is None or value == "":
        return NOTHING
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, (int, float)):
        if _is_time_key(key) and value > 1e8:  # POSIX seconds
            return humanize.full_timestamp(float(value))
        if _is_duration_key(key):
            return humanize.duration(float(value))
        if isinstance(value, int):
            return str(value) if key.endswith(("id", "ids")) else f"{value:,}"
        return f"{value:,.6g}" if abs(value) >= 1000 else f"{value:.6g}"
    if isinstance(value, str):
        if _is_time_key(key):
            try:
                return humanize.full_timestamp(from_iso(value)) or value
            except ValueError:
                return value
        return value
    if isinstance(value, dict):
        if not value:
            return NOTHING
        return "; ".join(f"{key_label(k)}: {value_text(str(k), v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        if not value:
            return "none"
        if all(isinstance(item, dict) for item in value):
            return humanize.count(len(value), "item")
        shown = ", ".join(value_text(key, item) for item in value[:LIST_SHOWN])
        more = len(value) - LIST_SHOWN
        return shown + (f", … {more:,} more" if more > 0 else "")
    return str(value)


def failure_key(result: Any) -> str | None:
    """The key of ``result`` that lists the items the job failed on (None: none does)."""
    if not isinstance(result, dict):
        return None
    return next(
        (key for key in FAILURE_KEYS if isinstance(result.get(key), list) and result[key]), None
    )


def _item_part(key: str, value: Any) -> str:
    if key.endswith("_id") and not isinstance(value, (dict, list)):
        return f"{key_label(key[:-3])} {value}"  # "Scene 7", not "Scene id: 7"
    return f"{key_label(key)} {value_text(key, value)}"


def failed_item_text(item: Any) -> str:
    """One failed item: "Some.Torrent: disk full", "Change 3 (Scene 7, Field tags): …"."""
    if not isinstance(item, dict):
        return value_text("", item)
    name_key = next((k for k in ITEM_NAME_KEYS if item.get(k) not in (None, "")), None)
    if name_key is None:
        name_key = next((k for k in item if str(k).endswith("_id")), None)
    reason_key = next((k for k in ITEM_REASON_KEYS if item.get(k) not in (None, "")), None)
    if name_key is None:
        name = ""
    elif name_key in ITEM_NAME_KEYS:
        name = str(item[name_key])
    else:
        name = _item_part(name_key, item[name_key])
    rest = ", ".join(
        _item_part(str(k), v)
        for k, v in item.items()
        if k not in (name_key, reason_key) and v not in (None, "", [], {})
    )
    text = " ".join(part for part in (name, f"({rest})" if rest and name else rest) if part)
    if reason_key is not None:
        text = f"{text}: {item[reason_key]}" if text else str(item[reason_key])
    return text or NOTHING


def failed_items(result: Any) -> list[str]:
    """The items a job's result says it failed on, one line each (empty: none)."""
    key = failure_key(result)
    return [failed_item_text(item) for item in result[key]] if key is not None else []


def rows(data: Any) -> list[tuple[str, str]]:
    """(label, value) for each key of a job's metadata or result, in the job's order;
    the list of failed items is only counted here (it is listed on its own)."""
    if not isinstance(data, dict):
        return [] if data in (None, "") else [("Value", value_text("", data))]
    failures = failure_key(data)
    out: list[tuple[str, str]] = []
    for key, value in data.items():
        if key == failures:
            out.append((key_label(key), f"{humanize.count(len(value), 'item')} (listed below)"))
        else:
            out.append((key_label(str(key)), value_text(str(key), value)))
    return out


def lines(data: Any) -> list[str]:
    """``rows`` as "Key: value" lines."""
    return [f"{label}: {value}" for label, value in rows(data)]
