"""Errors a user can meet when talking to a service; each message says what to do."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A failure talking to Stash, qBittorrent or the video-tag server.

    ``str(error)`` is written for the user: what happened, and what to do.
    ``retryable`` tells whether trying again later may help; ``setting`` names the
    setting that fixes it, when one does.
    """

    retryable = True
    # The setting a user changes to fix it (the window offers to open it), if one does.
    setting: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ServiceUnreachable(ServiceError):
    """Nothing answered: connection refused, DNS failure or timeout."""


class ServiceAuthRejected(ServiceError):
    """The service refused our credentials; retrying will not help until they change."""


class ServiceAnswerError(ServiceError):
    """The service answered, but with an error (HTTP 5xx, an error body)."""


class MalformedAnswer(ServiceError):
    """The service answered something we cannot read."""


# Stash
class StashError(ServiceError):
    pass


class StashUnreachable(StashError, ServiceUnreachable):
    setting = "stash.url"


class StashTimedOut(StashUnreachable):
    """Stash did not send its whole answer within ``stash.timeout`` (connect, send and
    answer together). Not retried: the request has had its time."""


class StashAuthRejected(StashError, ServiceAuthRejected):
    setting = "stash.api_key"


class StashServerError(StashError, ServiceAnswerError):
    pass


class StashGraphQLError(StashError, ServiceAnswerError):
    """Stash answered with a GraphQL ``errors`` list."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class StashMalformedAnswer(StashError, MalformedAnswer):
    pass


# qBittorrent
class QBittorrentError(ServiceError):
    pass


class QBittorrentUnreachable(QBittorrentError, ServiceUnreachable):
    setting = "qbittorrent.url"


class QBittorrentLoginRejected(QBittorrentError, ServiceAuthRejected):
    setting = "qbittorrent.password"


class QBittorrentAnswerError(QBittorrentError, ServiceAnswerError):
    pass


# Video-tag server
class VideoTagError(ServiceError):
    pass


class VideoTagUnreachable(VideoTagError, ServiceUnreachable):
    setting = "analysis.video_server_url"


class VideoTagTimeout(VideoTagUnreachable):
    """The server took the request but gave no answer in time. Unlike the other ways of
    being unreachable it concerns that video (too long for analysis.server_timeout), not
    the server as a whole: the analysis records it as that scene's failure."""

    setting = "analysis.server_timeout"


class VideoTagServerError(VideoTagError, ServiceAnswerError):
    """The server answered with an HTTP error; ``status`` tells a server in trouble (5xx)
    from one refusing this video (4xx)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class VideoTagMalformedAnswer(VideoTagError, MalformedAnswer):
    pass


class StashJobFailed(StashError):
    """A job that talks to Stash (SYNC, STASH_SCAN, STASH_GENERATE) ended as failed; the
    message carries the job's own error."""
