"""Declared, typed options: the common ground of settings and daemon configs.

An ``Option`` says what a value is (type, default, limits, description) so the
CLI, the settings dialog and the daemon config form can all be built from the
same declaration, and every value is validated the same way before it is saved.
"""

from __future__ import annotations

import json
import math
import ntpath
import os
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stashdesk.urls import BadURL, check_service_url

OPTION_TYPES = ("str", "url", "path", "int", "float", "bool", "list", "dict")
# what SQLite (and so a stored job or row id) can hold; every int option stays inside
INT_LIMIT = 2**63 - 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class OptionError(ValueError):
    """A value that does not fit its option; the message says what would."""


@dataclass(frozen=True)
class Option:
    """One declared value.

    Attributes:
        key, type, default, description: what it is (``type`` one of OPTION_TYPES).
        secret: kept in the secret store, masked and redacted.
        minimum, maximum: bounds of a number (every number option declares both
            ends it needs; ``maximum`` always).
        choices: the allowed values, when it is one of a few.
        validator: further checks; raises OptionError.
        label: the title when the key's last part does not make a good one.
        restart_required: takes effect after StashDesk restarts.
        foreign_path: a ``path`` as another machine sees it (Stash in Docker, on a
            NAS): absolute in POSIX or Windows form, never expanded here.
    """

    key: str
    type: str
    default: Any
    description: str
    secret: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    validator: Callable[[Any], None] | None = None  # raises OptionError
    label: str | None = None
    restart_required: bool = False
    foreign_path: bool = False

    def __post_init__(self) -> None:
        if self.type not in OPTION_TYPES:
            raise ValueError(f"unknown option type {self.type!r} for {self.key}")

    def to_spec(self) -> dict[str, Any]:
        """The declaration as JSON (without the validator, which stays with the engine)."""
        return {
            "key": self.key,
            "type": self.type,
            "default": self.default,
            "description": self.description,
            "secret": self.secret,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "choices": list(self.choices) if self.choices is not None else None,
            "label": self.label,
            "title": self.title,
            "restart_required": self.restart_required,
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Option:
        """An Option rebuilt from ``to_spec`` (a remote engine's declaration)."""
        choices = spec.get("choices")
        return cls(
            key=spec["key"],
            type=spec["type"],
            default=spec.get("default"),
            description=spec.get("description", ""),
            secret=bool(spec.get("secret")),
            minimum=spec.get("minimum"),
            maximum=spec.get("maximum"),
            choices=tuple(choices) if choices is not None else None,
            label=spec.get("label"),
            restart_required=bool(spec.get("restart_required")),
        )

    @property
    def title(self) -> str:
        return self.label or self.key.rsplit(".", 1)[-1].replace("_", " ").capitalize()

    def parse(self, text: str) -> Any:
        """Parse a command-line string by this option's type (JSON for objects; a list as
        JSON or as items separated by commas)."""
        if self.type == "int":
            try:
                return int(text)
            except ValueError:
                raise OptionError(f"{self.key} must be a whole number, not {text!r}") from None
        if self.type == "float":
            try:
                return float(text)
            except ValueError:
                raise OptionError(f"{self.key} must be a number, not {text!r}") from None
        if self.type == "bool":
            lowered = text.strip().lower()
            if lowered in ("true", "yes", "on", "1"):
                return True
            if lowered in ("false", "no", "off", "0"):
                return False
            raise OptionError(f"{self.key} must be true or false, not {text!r}")
        if self.type == "list" and not text.lstrip().startswith(("[", "{", '"')):
            # The plain form people type: /data=/mnt/media, /x=/y (empty: no items).
            return [item.strip() for item in text.split(",") if item.strip()]
        if self.type in ("list", "dict"):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                kind = "a JSON list" if self.type == "list" else "a JSON object"
                raise OptionError(f"{self.key} must be {kind} ({exc.msg})") from None
        return text

    def validate(self, value: Any) -> Any:
        """Return the value normalised to this option's type, or raise OptionError."""
        value = self._coerce(value)
        if self.type in ("int", "float"):
            if self.minimum is not None and value < self.minimum:
                raise OptionError(
                    f"{self.key} must be at least {_number(self.minimum)}, not {_number(value)}"
                )
            maximum = INT_LIMIT if self.maximum is None else self.maximum
            if value > maximum or value < -INT_LIMIT:
                raise OptionError(
                    f"{self.key} must be at most {_number(maximum)}, not {_number(value)}"
                )
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(map(str, self.choices))
            raise OptionError(f"{self.key} must be one of {allowed}, not {value!r}")
        if self.type in ("str", "url", "path"):
            value = self._checked_text(value)
        if self.validator is not None:
            self.validator(value)
        return value

    def _checked_text(self, value: str) -> str:
        if value == "" and self.type == "str" and self.default not in ("", None):
            raise OptionError(
                f"{self.key} cannot be empty - `stashdesk config unset "
                f"{self.key}` restores its default ({self.default})"
            )
        if self.type == "url":
            if not value:
                return value
            try:
                return check_service_url(value, self.default or "http://localhost:8080")
            except BadURL as exc:
                raise OptionError(f"{self.key} {exc}") from None
        if _CONTROL.search(value):
            shown = "the value" if self.secret else repr(value)
            raise OptionError(
                f"{self.key} must not contain control characters such as a newline or tab ({shown})"
            )
        if self.type == "path" and value:
            return self._checked_path(value)
        return value

    def _checked_path(self, value: str) -> str:
        if self.foreign_path:
            if not (posixpath.isabs(value) or ntpath.isabs(value)):
                raise OptionError(
                    f"{self.key} must be an absolute path (such as /data/library "
                    f"or D:\\Library), not {value!r}"
                )
            return value
        expanded = os.path.expanduser(value)
        if not os.path.isabs(expanded):
            raise OptionError(
                f"{self.key} must be an absolute path (such as "
                f"{os.path.join(os.path.expanduser('~'), 'Library')}), not "
                f"{value!r}"
            )
        return os.path.normpath(expanded)

    def _coerce(self, value: Any) -> Any:
        kind = self.type
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str):
                return self.parse(value)
            raise OptionError(f"{self.key} must be true or false, not {value!r}")
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise OptionError(f"{self.key} must be a whole number, not {value!r}")
            if isinstance(value, str):
                return self.parse(value)
            if isinstance(value, float) and not value.is_integer():
                raise OptionError(f"{self.key} must be a whole number, not {value!r}")
            return int(value)
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise OptionError(f"{self.key} must be a number, not {value!r}")
            number = self.parse(value) if isinstance(value, str) else float(value)
            if not math.isfinite(number):
                raise OptionError(f"{self.key} must be a finite number")
            return number
        if kind == "list":
            if isinstance(value, str):
                value = self.parse(value)
            if not isinstance(value, list):
                raise OptionError(f'{self.key} must be a list, such as ["a", "b"]')
            return value
        if kind == "dict":
            if isinstance(value, str):
                value = self.parse(value)
            if not isinstance(value, dict):
                raise OptionError(f"{self.key} must be a JSON object")
            return value
        if value is None:
            return ""
        if not isinstance(value, str):
            raise OptionError(f"{self.key} must be text, not {value!r}")
        return value.strip()


def _number(value: float) -> str:
    """A bound or a value as people read it: 3600 and 0.5, not 3600.0 or 9.22337e+18;
    huge numbers stay short (1e+308)."""
    if isinstance(value, int):
        if abs(value) < 10**16:
            return str(value)
        digits = str(abs(value))  # too large for a float: write it as 1.2e+400
        return f"{'-' if value < 0 else ''}{digits[0]}.{digits[1:3]}e+{len(digits) - 1}"
    if abs(value) < 1e16 and value.is_integer():
        return str(int(value))
    return f"{value:.6g}"


def list_of_strings(option_key: str) -> Callable[[Any], None]:
    def check(value: list[object]) -> None:
        if not all(isinstance(item, str) for item in value):
            raise OptionError(f"{option_key} must be a list of strings")

    return check
