"""What can go wrong when a client asks the engine for something.

One hierarchy for both transports: the engine's operations raise these, the API
turns them into an HTTP status with a one-line reason, and the remote client turns
that status back into the same class. The CLI maps them to its exit codes (``code``:
1 could not be done, 2 bad input).
"""

from __future__ import annotations

EXIT_FAILED, EXIT_USAGE = 1, 2


class ClientError(Exception):
    """Attributes:
    code: the CLI's exit code for it.
    http_status: the HTTP status the API answers with.
    """

    code = EXIT_FAILED
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadRequest(ClientError):
    """Malformed or invalid input; nothing was changed."""

    code = EXIT_USAGE
    http_status = 400


class NotFound(BadRequest):
    """No such daemon, job, plan, change or setting."""

    http_status = 404


class PayloadTooLarge(BadRequest):
    http_status = 413


class Conflict(ClientError):
    """The thing exists but its state does not allow this (a plan already applied)."""

    http_status = 409


class EngineNotRunning(ClientError):
    """The action needs a running engine and none runs (for the data folder asked)."""

    http_status = 503


class EngineUnreachable(ClientError):
    """The engine asked for could not be reached, or stopped answering."""

    http_status = 502


class AuthRejected(ClientError):
    """The engine refused the API key (HTTP 401)."""

    http_status = 401


class UntrustedEngine(ClientError):
    """A TLS engine whose certificate is not the one trusted (or not yet trusted).

    Attributes:
        fingerprint: the SHA-256 fingerprint the engine presented.
        expected: the one that was trusted, when it changed (None: never seen).
    """

    def __init__(self, message: str, fingerprint: str, expected: str | None = None) -> None:
        super().__init__(message)
        self.fingerprint = fingerprint
        self.expected = expected


# The class the remote client raises for an HTTP status (each says its own status).
ERRORS_BY_STATUS: dict[int, type[ClientError]] = {
    error.http_status: error
    for error in (
        BadRequest,
        NotFound,
        Conflict,
        PayloadTooLarge,
        AuthRejected,
        EngineNotRunning,
        EngineUnreachable,
    )
}
