"""Peewee models: every table StashDesk keeps.

All models bind to ``database``, a proxy initialised once per run by
:func:`stashdesk.store.db.open_database`, so each test gets its own file.

Times are stored as POSIX seconds (REAL, UTC by definition): compact, sortable,
and free of time-zone guessing. Stash's own timestamps are kept as the text
Stash wrote (see ``Scene.updated_at``) because the sync watermark must be sent
back to Stash exactly as Stash wrote it.
"""

from __future__ import annotations

import json
from typing import Any

import peewee as pw

database = pw.DatabaseProxy()


class JSONField(pw.TextField):
    """A text column holding JSON; ``None`` stays NULL."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)

    def python_value(self, value: str | None) -> Any:
        return None if value is None else json.loads(value)


class BaseModel(pw.Model):
    class Meta:
        database = database
        legacy_table_names = False


# --- engine -----------------------------------------------------------------


class Setting(BaseModel):
    """One user setting (non-secret values, and secrets when no keyring is usable)."""

    key = pw.CharField(primary_key=True)
    value = JSONField(null=True)


class Daemon(BaseModel):
    """A daemon's persistent state: configuration and the status last reported."""

    name = pw.CharField(primary_key=True)
    enabled = pw.BooleanField(default=False)
    auto_start = pw.BooleanField(default=True)
    config = JSONField(default=dict)
    state = pw.CharField(default="stopped")  # running | stopped | error
    started_at = pw.FloatField(null=True)
    last_heartbeat = pw.FloatField(null=True)
    current_status = pw.TextField(null=True)
    current_job_id = pw.CharField(null=True)
    current_job_type = pw.CharField(null=True)
    current_phase = pw.CharField(null=True)  # working | sleeping | waiting
    wake_at = pw.FloatField(null=True)
    status_updated_at = pw.FloatField(null=True)
    last_error = pw.TextField(null=True)


class DaemonStatus(BaseModel):
    """Append-only history of every status a daemon reported."""

    daemon = pw.CharField(index=True)
    message = pw.TextField()
    job_id = pw.CharField(null=True)
    job_type = pw.CharField(null=True)
    at = pw.FloatField(index=True)
    # working | sleeping | waiting (None: written before the column existed); History
    # folds runs of sleeping rows, and says when the daemon meant to wake
    phase = pw.CharField(null=True)
    wake_at = pw.FloatField(null=True)

    class Meta:
        indexes = ((("daemon", "at"), False),)


class DaemonLog(BaseModel):
    daemon = pw.CharField(index=True)
    level = pw.CharField()
    message = pw.TextField()
    at = pw.FloatField(index=True)


class DaemonJobAction(BaseModel):
    daemon = pw.CharField(index=True)
    job_id = pw.CharField(index=True)
    action = pw.CharField()  # LAUNCHED | FINISHED | FAILED | CANCELLED
    reason = pw.TextField(null=True)
    at = pw.FloatField(index=True)


class Job(BaseModel):
    """A job is a row before it is a task; the runner keeps it current."""

    id = pw.CharField(primary_key=True)  # UUID4 text
    type = pw.CharField(index=True)
    status = pw.CharField(index=True)
    progress = pw.FloatField(default=0.0)
    message = pw.TextField(null=True)
    metadata = JSONField(default=dict)
    result = JSONField(null=True)
    error = pw.TextField(null=True)
    created_by = pw.CharField(null=True, index=True)
    parent_id = pw.CharField(null=True, index=True)
    created_at = pw.FloatField(index=True)
    started_at = pw.FloatField(null=True)
    finished_at = pw.FloatField(null=True, index=True)


# --- local copy of Stash ----------------------------------------------------


class Studio(BaseModel):
    id = pw.CharField(primary_key=True)  # Stash id
    name = pw.CharField(index=True)
    aliases = JSONField(default=list)


class Performer(BaseModel):
    id = pw.CharField(primary_key=True)
    name = pw.CharField(index=True)
    aliases = JSONField(default=list)


class Tag(BaseModel):
    id = pw.CharField(primary_key=True)
    name = pw.CharField(index=True)
    aliases = JSONField(default=list)


class Scene(BaseModel):
    """A scene as last synced from Stash."""

    id = pw.CharField(primary_key=True)  # Stash id
    title = pw.TextField(null=True)
    details = pw.TextField(null=True)
    date = pw.CharField(null=True)
    rating100 = pw.IntegerField(null=True)
    organized = pw.BooleanField(default=False)
    studio_id = pw.CharField(null=True, index=True)
    created_at = pw.CharField(null=True)  # Stash's text, as written by Stash
    updated_at = pw.CharField(null=True)  # Stash's text, as written by Stash
    updated_at_epoch = pw.FloatField(null=True, index=True)  # the same instant, for ordering
    content_hash = pw.CharField(null=True)  # detects edits within one second
    synced_at = pw.FloatField(null=True)
    removed = pw.BooleanField(default=False, index=True)
    removed_at = pw.FloatField(null=True)
    generated = pw.BooleanField(default=False, index=True)
    generated_at = pw.FloatField(null=True)
    screenshot = pw.TextField(null=True)  # Stash's paths.screenshot: the cover's URL


class SceneFile(BaseModel):
    id = pw.CharField(primary_key=True)  # Stash file id
    scene = pw.ForeignKeyField(Scene, backref="files", on_delete="CASCADE")
    path = pw.TextField(index=True)
    size = pw.BigIntegerField(null=True)
    duration = pw.FloatField(null=True)
    width = pw.IntegerField(null=True)
    height = pw.IntegerField(null=True)


class SceneTag(BaseModel):
    scene = pw.ForeignKeyField(Scene, on_delete="CASCADE")
    tag_id = pw.CharField(index=True)

    class Meta:
        primary_key = pw.CompositeKey("scene", "tag_id")


class ScenePerformer(BaseModel):
    scene = pw.ForeignKeyField(Scene, on_delete="CASCADE")
    performer_id = pw.CharField(index=True)

    class Meta:
        primary_key = pw.CompositeKey("scene", "performer_id")


class SceneMarker(BaseModel):
    id = pw.CharField(primary_key=True)  # Stash marker id
    scene = pw.ForeignKeyField(Scene, backref="markers", on_delete="CASCADE")
    title = pw.TextField()
    seconds = pw.FloatField()
    end_seconds = pw.FloatField(null=True)
    primary_tag_id = pw.CharField(null=True)


# --- analysis plans -----------------------------------------------------------


class Plan(BaseModel):
    """A named set of proposed changes to scenes."""

    id = pw.AutoField()
    name = pw.CharField(index=True)
    status = pw.CharField(index=True)  # pending | draft | reviewing | applied | cancelled
    job_id = pw.CharField(null=True, index=True)  # the ANALYSIS job that built it
    created_at = pw.FloatField()
    updated_at = pw.FloatField()
    applied_at = pw.FloatField(null=True)
    metadata = JSONField(default=dict)


class PlanChange(BaseModel):
    id = pw.AutoField()
    plan = pw.ForeignKeyField(Plan, backref="changes", on_delete="CASCADE")
    plan_id: int  # the foreign key's column, which peewee's accessor reads without a query
    scene_id = pw.CharField(index=True)
    field = pw.CharField()  # tags | performers | studio | title | details | markers
    action = pw.CharField()  # add | remove | set
    current_value = JSONField(null=True)
    proposed_value = JSONField(null=True)
    confidence = pw.FloatField(default=1.0)
    status = pw.CharField(index=True, default="pending")
    # pending | approved | rejected | applied | skipped | failed
    reason = pw.TextField(null=True)  # why a change was skipped or failed
    applied_at = pw.FloatField(null=True)
    created_at = pw.FloatField()


class SceneAnalysis(BaseModel):
    """Which analyser has looked at which scene, and how it went (for retries).

    For video tags it also records what produced the result - the server, the
    model identity it reported, the frame interval, threshold and VR flag sent -
    so a scene is analysed again when one of them changes. Rows written before
    this was recorded have them NULL: what produced them is unknown.
    """

    scene_id = pw.CharField()
    analyzer = pw.CharField()  # video_tags | path
    status = pw.CharField()  # analysed | errored
    attempts = pw.IntegerField(default=0)
    last_error = pw.TextField(null=True)
    last_attempt_at = pw.FloatField()
    job_id = pw.CharField(null=True)
    server_url = pw.TextField(null=True)
    model_key = pw.TextField(null=True)  # digest of ``models``; NULL: none reported
    models = JSONField(null=True)  # [{"name", "version", "identifier", "categories"}]
    frame_interval = pw.FloatField(null=True)
    threshold = pw.FloatField(null=True)
    vr_video = pw.BooleanField(null=True)

    class Meta:
        primary_key = pw.CompositeKey("scene_id", "analyzer")


class AnalysisRequest(BaseModel):
    """Someone asked for a scene to be analysed again ("Analyse again", ``--scene``).

    Deleted once the scene has been analysed after ``requested_at``.
    """

    scene_id = pw.CharField(primary_key=True)
    requested_at = pw.FloatField()
    requested_by = pw.CharField(null=True)


class PlanNote(BaseModel):
    """Why an analysis left something out of a plan ("Kitchen: 3 s on screen, under the
    10 s minimum"), per scene, for the review screen."""

    id = pw.AutoField()
    plan = pw.ForeignKeyField(Plan, backref="notes", on_delete="CASCADE")
    scene_id = pw.CharField(index=True)
    ai_tag = pw.TextField(null=True)
    rule = pw.CharField()  # enabled | min_confidence | min_on_screen | ... | mapping
    message = pw.TextField()
    data = JSONField(null=True)
    created_at = pw.FloatField()


class TagMapping(BaseModel):
    """An AI tag the video-tag server reports -> the Stash tag to propose, or ignore it."""

    key = pw.CharField(primary_key=True)  # the AI tag, case-folded
    ai_tag = pw.TextField()  # as the user or the server wrote it
    stash_tag = pw.TextField(null=True)  # NULL when ignored
    ignore = pw.BooleanField(default=False)
    updated_at = pw.FloatField()


class TagRule(BaseModel):
    """When an AI tag becomes a tag or markers; key ``*`` is the default for all tags.

    A NULL field means "as the default rule says" (and for the default: built in).
    """

    key = pw.CharField(primary_key=True)  # the AI tag, case-folded, or "*"
    ai_tag = pw.TextField()
    enabled = pw.BooleanField(null=True)
    min_confidence = pw.FloatField(null=True)
    min_on_screen = pw.CharField(null=True)  # "10s" or "5%"
    min_marker_seconds = pw.FloatField(null=True)
    merge_gap_seconds = pw.FloatField(null=True)
    max_markers = pw.IntegerField(null=True)
    updated_at = pw.FloatField()


# --- downloads ------------------------------------------------------------------


class HandledDownload(BaseModel):
    """One file placed in the library from a qBittorrent download."""

    id = pw.AutoField()
    torrent_hash = pw.CharField(index=True)
    torrent_name = pw.TextField()
    source = pw.TextField()
    destination = pw.TextField(unique=True)
    method = pw.CharField()  # linked | copied | existing
    size = pw.BigIntegerField()
    job_id = pw.CharField(null=True)
    at = pw.FloatField()


class DownloadJournal(BaseModel):
    """A torrent whose files are being placed right now.

    Written before the first file operation of a torrent and deleted once the
    torrent is tagged, so a run after a crash knows which destination folders
    may hold a half-copied temporary file to clean up, even when that torrent
    is no longer in qBittorrent.
    """

    torrent_hash = pw.CharField(primary_key=True)
    torrent_name = pw.TextField()
    destination = pw.TextField()  # the torrent's folder in the library, or its single file
    job_id = pw.CharField(null=True)
    started_at = pw.FloatField()


# --- notifications ------------------------------------------------------------------


class NotificationTarget(BaseModel):
    """An Apprise target and the events it wants.

    Its URL is a secret: it lives in the SecretStore (keyring or the owner-only
    database) under ``notification_target.<id>``, never in this row. The
    ``last_*`` columns are the outcome of its latest delivery.
    """

    id = pw.AutoField()
    name = pw.CharField(unique=True)
    events = JSONField(default=list)
    enabled = pw.BooleanField(default=True)
    created_at = pw.FloatField()
    updated_at = pw.FloatField()
    last_attempt_at = pw.FloatField(null=True)
    last_success_at = pw.FloatField(null=True)
    last_failure_at = pw.FloatField(null=True)
    last_error = pw.TextField(null=True)  # None once a delivery succeeded again
    last_event = pw.CharField(null=True)


# Created by their own migration (store/db.py), not by step 1: step 1 must keep
# creating what it created when it was released.
NOTIFICATION_MODELS = [NotificationTarget]

ENGINE_MODELS = [Setting, Daemon, DaemonStatus, DaemonLog, DaemonJobAction, Job]
STASH_MODELS = [Studio, Performer, Tag, Scene, SceneFile, SceneTag, ScenePerformer, SceneMarker]
PLAN_MODELS = [Plan, PlanChange, SceneAnalysis]
ANALYSIS_MODELS = [AnalysisRequest, PlanNote, TagMapping, TagRule]
DOWNLOAD_MODELS = [HandledDownload, DownloadJournal]
ALL_MODELS = ENGINE_MODELS + STASH_MODELS + PLAN_MODELS + DOWNLOAD_MODELS + ANALYSIS_MODELS
