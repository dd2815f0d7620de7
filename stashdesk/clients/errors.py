"""Errors a user can meet when talking to a service; each message says what to do."""

from __future__ import annotations


class ServiceError(Exception):
    """A failure talking to Stash, qBittorrent or the video-tag server.

    ``str(error)`` is written for the user: what happened, and what to do.
    ``retryable`` tells whether trying again later may help.
    """

    retryable = True

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
    pass


class StashAuthRejected(StashError, ServiceAuthRejected):
    pass


class StashServerError(StashError, ServiceAnswerError):
    pass


class StashGraphQLError(StashError, ServiceAnswerError):
    """Stash answered with a GraphQL ``errors`` list."""

    def __init__(self, message: str, errors: list | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class StashMalformedAnswer(StashError, MalformedAnswer):
    pass


# qBittorrent
class QBittorrentError(ServiceError):
    pass


class QBittorrentUnreachable(QBittorrentError, ServiceUnreachable):
    pass


class QBittorrentLoginRejected(QBittorrentError, ServiceAuthRejected):
    pass


class QBittorrentAnswerError(QBittorrentError, ServiceAnswerError):
    pass


# Video-tag server
class VideoTagError(ServiceError):
    pass


class VideoTagUnreachable(VideoTagError, ServiceUnreachable):
    pass


class VideoTagTimeout(VideoTagUnreachable):
    """The server took the request but gave no answer in time. Unlike the other ways of
    being unreachable it concerns that video (too long for analysis.server_timeout), not
    the server as a whole: the analysis records it as that scene's failure."""


class VideoTagServerError(VideoTagError, ServiceAnswerError):
    pass


class VideoTagMalformedAnswer(VideoTagError, MalformedAnswer):
    pass


class StashJobFailed(StashError):
    """A job that talks to Stash (SYNC, STASH_SCAN, STASH_GENERATE) ended as failed; the
    message carries the job's own error."""
