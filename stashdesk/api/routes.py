"""The engine API's endpoints, declared once.

Each ``Endpoint`` names the ``Operations`` method it calls, its HTTP method and path
under ``/api/v1``, and where each argument comes from: the path, the query string
(typed) or the JSON body. The server builds its routes from this table, the remote
client its calls, and the OpenAPI description its paths, so the three cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

API_PREFIX = "/api/v1"

# Query-string types: how text from a URL becomes an argument.
QUERY_TYPES = ("str", "int", "float", "bool", "list")


@dataclass(frozen=True)
class Endpoint:
    """Attributes:
    operation: the Operations method called.
    method, path: HTTP method and path below API_PREFIX (``{name}`` for path parts).
    summary: one line for the OpenAPI description.
    path_types: the type of each path part (str unless said).
    query: query-string arguments and their types (GET).
    body: JSON body fields passed as arguments of the same name.
    body_as: the argument that receives the whole JSON object instead.
    fixed: arguments the endpoint always passes (``review_plan``'s verdict).
    aliases: argument name -> field name on the wire (``job_type`` is ``type``).
    """

    operation: str
    method: str
    path: str
    summary: str
    path_types: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: tuple[str, ...] = ()
    body_as: str | None = None
    fixed: dict[str, Any] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    @property
    def path_params(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]


PAGING = {"limit": "int", "before": "str", "after": "str"}

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("engine_info", "GET", "/engine", "What the engine is: version, pid, mode, URLs"),
    Endpoint("stats", "GET", "/stats", "Counts of scenes, plans, changes, jobs, downloads"),
    Endpoint(
        "health",
        "GET",
        "/health",
        "Health checks with their remedies (refresh: run now)",
        query={"refresh": "bool"},
    ),
    Endpoint("window_status", "GET", "/window", "The hosting window: visible, title, tray"),
    Endpoint("window_show", "POST", "/window/show", "Bring the hosting window to the front"),
    # daemons (the specific paths first: they would also match the patterns below)
    Endpoint("list_daemons", "GET", "/daemons", "Every daemon with its status (status --json)"),
    Endpoint(
        "daemon_action",
        "POST",
        "/daemons/all/{action}",
        "Start, stop or restart every daemon",
        fixed={"name": None},
    ),
    Endpoint("get_daemon", "GET", "/daemons/{name}", "One daemon with its status"),
    Endpoint(
        "run_daemon_now",
        "POST",
        "/daemons/{name}/run",
        "Run now: a running daemon checks at once, whatever its processing windows",
    ),
    Endpoint(
        "daemon_action",
        "POST",
        "/daemons/{name}/{action}",
        "Start, stop or restart a daemon (action: start, stop, restart)",
    ),
    Endpoint(
        "set_daemon_enabled",
        "PUT",
        "/daemons/{name}/enabled",
        "Enable (it starts with the engine) or disable a daemon",
        body=("enabled", "auto_start"),
    ),
    Endpoint(
        "daemon_config",
        "GET",
        "/daemons/{name}/config",
        "A daemon's configuration and its declared options",
    ),
    Endpoint(
        "set_daemon_config",
        "PATCH",
        "/daemons/{name}/config",
        "Change configuration values (the body: an object of values by key)",
        body_as="updates",
    ),
    Endpoint(
        "reset_daemon_config",
        "DELETE",
        "/daemons/{name}/config",
        "Reset a daemon's configuration to its defaults",
    ),
    # jobs
    Endpoint(
        "list_jobs",
        "GET",
        "/jobs",
        "A page of jobs, filtered and sorted",
        query={
            "status": "list",
            "type": "list",
            "limit": "int",
            "cursor": "str",
            "sort": "str",
            "created_by": "str",
            "count": "bool",
        },
        aliases={"job_type": "type"},
    ),
    Endpoint("active_jobs", "GET", "/jobs/active", "Jobs pending or running"),
    Endpoint(
        "submit_job",
        "POST",
        "/jobs",
        "Start a job (type, metadata)",
        body=("job_type", "metadata", "created_by"),
        aliases={"job_type": "type"},
    ),
    Endpoint("get_job", "GET", "/jobs/{job_id}", "One job by id (or a unique id prefix)"),
    Endpoint("cancel_job", "POST", "/jobs/{job_id}/cancel", "Cancel a pending or running job"),
    # plans
    Endpoint(
        "list_plans",
        "GET",
        "/plans",
        "Analysis plans with their change counts",
        query={"status": "str"},
    ),
    Endpoint(
        "get_plan",
        "GET",
        "/plans/{plan_id}",
        "A plan with its changes (paged)",
        path_types={"plan_id": "int"},
        query={"offset": "int", "limit": "int"},
    ),
    *(
        Endpoint(
            "review_plan",
            "POST",
            f"/plans/{{plan_id}}/{verdict}",
            f"{verdict.capitalize()} the selected changes (selectors combine with AND; none: all)",
            path_types={"plan_id": "int"},
            body=("change_ids", "field", "min_confidence", "scene_ids", "tag"),
            fixed={"verdict": verdict},
        )
        for verdict in ("approve", "reject")
    ),
    Endpoint(
        "edit_change",
        "PATCH",
        "/plans/{plan_id}/changes/{change_id}",
        "Edit the value a change proposes",
        path_types={"plan_id": "int", "change_id": "int"},
        body=("proposed_value",),
    ),
    Endpoint(
        "apply_plan",
        "POST",
        "/plans/{plan_id}/apply",
        "Apply the approved changes (starts an APPLY_PLAN job)",
        path_types={"plan_id": "int"},
        body=("change_ids", "auto_approve", "created_by"),
    ),
    Endpoint(
        "cancel_plan",
        "POST",
        "/plans/{plan_id}/cancel",
        "Cancel a plan",
        path_types={"plan_id": "int"},
    ),
    Endpoint(
        "plan_review",
        "GET",
        "/plans/{plan_id}/review",
        "A plan by scene for review: covers, durations, tags, marker spans, notes",
        path_types={"plan_id": "int"},
        query={"scene_ids": "list", "offset": "int", "limit": "int"},
    ),
    # AI tagging
    Endpoint("list_tag_mappings", "GET", "/analysis/mappings", "AI tag -> Stash tag mappings"),
    Endpoint(
        "export_tag_mappings",
        "GET",
        "/analysis/mappings/csv",
        "The mappings as CSV text (ai_tag,stash_tag,ignore)",
    ),
    Endpoint(
        "import_tag_mappings",
        "POST",
        "/analysis/mappings/csv",
        "Import mappings from CSV text (all or nothing)",
        body=("csv", "replace"),
    ),
    Endpoint(
        "set_tag_mapping",
        "PUT",
        "/analysis/mappings/{ai_tag}",
        "Map an AI tag to a Stash tag",
        body=("stash_tag",),
    ),
    Endpoint(
        "ignore_ai_tag", "POST", "/analysis/mappings/{ai_tag}/ignore", "Never propose this AI tag"
    ),
    Endpoint(
        "remove_tag_mapping", "DELETE", "/analysis/mappings/{ai_tag}", "Forget an AI tag's mapping"
    ),
    Endpoint("list_tag_rules", "GET", "/analysis/rules", "Per-tag rules and the default"),
    Endpoint(
        "set_tag_rule",
        "PATCH",
        "/analysis/rules",
        "Change a tag's rule (ai_tag; none: the default rule)",
        body=("ai_tag", "fields"),
    ),
    Endpoint(
        "remove_tag_rule",
        "POST",
        "/analysis/rules/reset",
        "Forget a tag's rule (none: reset the default)",
        body=("ai_tag",),
    ),
    Endpoint(
        "analyse_again",
        "POST",
        "/analysis/again",
        "Analyse some scenes again",
        body=("scene_ids", "requested_by"),
    ),
    Endpoint(
        "video_servers",
        "GET",
        "/analysis/servers",
        "The video-tag servers: busy slots, set aside, model",
    ),
    Endpoint(
        "scene_cover",
        "GET",
        "/scenes/{scene_id}/cover",
        "A scene's cover (base64 in data), fetched from Stash and cached",
    ),
    # history
    Endpoint(
        "history",
        "GET",
        "/history",
        "Status changes, job actions and errors, newest first (idle: fold runs of "
        "sleeping statuses, the default, or show every row)",
        query={"daemon": "str", "kinds": "list", "idle": "str", **PAGING},
    ),
    Endpoint(
        "logs",
        "GET",
        "/logs",
        "Daemon log lines, newest first",
        query={"daemon": "str", "levels": "list", **PAGING},
    ),
    Endpoint(
        "daemon_statuses",
        "GET",
        "/daemons/{name}/statuses",
        "Every status a daemon reported, newest first",
        query={"before": "str", "limit": "int"},
    ),
    Endpoint(
        "daemon_job_actions",
        "GET",
        "/daemons/{name}/job-actions",
        "The jobs a daemon launched and how they ended, newest first",
        query={"before": "str", "limit": "int"},
    ),
    # notification targets
    Endpoint(
        "notification_events",
        "GET",
        "/notifications/events",
        "Events a notification target can ask for",
    ),
    Endpoint(
        "list_notification_targets",
        "GET",
        "/notifications",
        "Notification targets (URLs masked) and their last delivery",
    ),
    Endpoint(
        "add_notification_target",
        "POST",
        "/notifications",
        "Add an Apprise target (name, url, events)",
        body=("name", "url", "events"),
    ),
    Endpoint(
        "test_notification_targets",
        "POST",
        "/notifications/test",
        "Send a test message (to one target by name, or to all)",
        body=("name",),
    ),
    Endpoint(
        "edit_notification_target",
        "PATCH",
        "/notifications/{name}",
        "Change a target's name, URL, events or switch it off",
        body=("new_name", "url", "events", "enabled"),
    ),
    Endpoint("remove_notification_target", "DELETE", "/notifications/{name}", "Remove a target"),
    # settings
    Endpoint("list_settings", "GET", "/settings", "Every setting (secrets masked)"),
    Endpoint(
        "set_settings",
        "PATCH",
        "/settings",
        "Save settings (the body: an object of values by key; all or none)",
        body_as="values",
    ),
    Endpoint(
        "test_connection",
        "POST",
        "/settings/test",
        "Test the connection of a settings group (Stash, qBittorrent, Analysis)",
        body=("group", "values"),
    ),
    Endpoint(
        "rotate_api_key",
        "POST",
        "/api-key/rotate",
        "Replace the API key (the new one is not in the answer)",
    ),
    Endpoint("get_setting", "GET", "/settings/{key}", "One setting (masked if secret)"),
    Endpoint("unset_setting", "DELETE", "/settings/{key}", "Reset a setting to its default"),
)


def endpoints_of(operation: str) -> list[Endpoint]:
    return [e for e in ENDPOINTS if e.operation == operation]


def convert_query(value: str, kind: str) -> Any:
    """Text from a query string as the type the endpoint declares (ValueError if not)."""
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes"):
            return True
        if lowered in ("0", "false", "no"):
            return False
        raise ValueError(f"not true or false: {value!r}")
    return value  # str, and list (comma-separated: the operations split it)


def query_text(value: Any) -> str:
    """An argument as query-string text (the reverse of ``convert_query``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)
