"""Declared, typed options: the common ground of settings and daemon configs.

An ``Option`` says what a value is (type, default, limits, description) so the
CLI, the settings dialog and the daemon config form can all be built from the
same declaration, and every value is validated the same way before it is saved.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

OPTION_TYPES = ("str", "url", "path", "int", "float", "bool", "list", "dict")


class OptionError(ValueError):
    """A value that does not fit its option; the message says what would."""


@dataclass(frozen=True)
class Option:
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

    def __post_init__(self) -> None:
        if self.type not in OPTION_TYPES:
            raise ValueError(f"unknown option type {self.type!r} for {self.key}")

    @property
    def title(self) -> str:
        return self.label or self.key.rsplit(".", 1)[-1].replace("_", " ").capitalize()

    def parse(self, text: str) -> Any:
        """Parse a command-line string by this option's type (JSON for lists/objects)."""
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
                raise OptionError(f"{self.key} must be at least {self.minimum:g}, not {value:g}")
            if self.maximum is not None and value > self.maximum:
                raise OptionError(f"{self.key} must be at most {self.maximum:g}, not {value:g}")
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(map(str, self.choices))
            raise OptionError(f"{self.key} must be one of {allowed}, not {value!r}")
        if self.type == "url" and value:
            parsed = urlparse(value)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise OptionError(
                    f"{self.key} must be an http:// or https:// address such as "
                    f"{self.default or 'http://localhost:8080'}, not {value!r}"
                )
            value = value.rstrip("/")
        if self.validator is not None:
            self.validator(value)
        return value

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
                raise OptionError(f"{self.key} must be a list, such as [\"a\", \"b\"]")
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


def list_of_strings(option_key: str) -> Callable[[Any], None]:
    def check(value: list) -> None:
        if not all(isinstance(item, str) for item in value):
            raise OptionError(f"{option_key} must be a list of strings")

    return check
