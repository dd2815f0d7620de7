"""Keeping secret values out of every text StashDesk writes or shows.

One process-wide :data:`REDACTOR` knows every secret value currently set (API
keys, passwords, and the passwords inside URL settings; each ``Settings``
registers its own and they are dropped with it). ``redact`` replaces each of
them, in every form it may take in a message - as typed, URL-encoded (``p%40ss``,
either hex case), form-encoded, JSON- and repr-escaped - by the mask.

It is installed where everything passes: ``update_status`` and daemon log lines
(``Settings.redact``), job messages and errors (the job runner), and Python
logging through :class:`RedactingFilter` on StashDesk's handlers (message,
arguments, exception text and stack), so an exception from httpx or
qbittorrent-api that quotes a URL is masked too.

It is on the status path, so ``redact`` is a few substring searches: no regex,
no allocation when nothing matches.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import weakref
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote

MASK = "********"
_HEX_ESCAPE = re.compile(r"%[0-9A-F]{2}")


def secret_forms(value: str) -> set[str]:
    """Every way ``value`` may be written in a message."""
    if not value:
        return set()
    forms: set[str] = set()
    for text in {value, unquote(value)}:
        forms.add(text)
        # fully encoded, as a path, as a form, as URL userinfo and as a browser writes it
        for encoded in (
            quote(text, safe=""),
            quote(text),
            quote_plus(text),
            quote(text, safe=":!$&'()*+,;=~"),
            quote(text, safe="/:"),
        ):
            forms.add(encoded)
            forms.add(_HEX_ESCAPE.sub(lambda m: m[0].lower(), encoded))
        forms.add(json.dumps(text)[1:-1])
        forms.add(json.dumps(text, ensure_ascii=False)[1:-1])
        forms.add(repr(text)[1:-1])
    return {form for form in forms if form}


class Redactor:
    """The set of secret values, by owner; see the module docstring."""

    def __init__(self) -> None:
        self._by_owner: dict[int, frozenset[str]] = {}
        self._lock = threading.Lock()
        # longest first, so a secret containing another is masked whole
        self._forms: tuple[str, ...] = ()

    def set_secrets(self, owner: object, values: Iterable[str]) -> None:
        """Replace the secret values ``owner`` registered (dropped when it is collected)."""
        key = id(owner)
        forms = frozenset(form for value in values for form in secret_forms(value))
        with self._lock:
            if key not in self._by_owner:
                weakref.finalize(owner, self._drop, key)
            self._by_owner[key] = forms
            self._rebuild()

    def _drop(self, key: int) -> None:
        with self._lock:
            self._by_owner.pop(key, None)
            self._rebuild()

    def _rebuild(self) -> None:
        every = set().union(*self._by_owner.values()) if self._by_owner else set()
        self._forms = tuple(sorted(every, key=len, reverse=True))

    @property
    def active(self) -> bool:
        return bool(self._forms)

    def redact(self, text: str) -> str:
        """``text`` with every form of every secret replaced by the mask."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return text


REDACTOR = Redactor()


def redact(text: str) -> str:
    """``REDACTOR.redact``: mask every secret value known in this process."""
    return REDACTOR.redact(text)


class RedactingFilter(logging.Filter):
    """Masks secrets in a record before any handler formats it: the message with its
    arguments, the exception text and the stack. Attach it to handlers (a filter on
    a logger does not see records of its child loggers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not REDACTOR.active:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to logging to report
            return True
        record.msg, record.args = REDACTOR.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = REDACTOR.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = REDACTOR.redact(record.stack_info)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Put a RedactingFilter on every handler of ``logger`` (default: the root logger)
    that has none yet; call it after handlers are configured."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
