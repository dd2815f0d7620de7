"""What each event says: a short title, a body that names what happened and what to
do, the job id, and a link to the scene in Stash's web UI where one applies.

The builders are pure functions of what they are given; :func:`messages_for_job`
gathers what a finished job's messages need (its metadata, its plan) from the
database, off the loop, and returns the messages it calls for.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from stashdesk.events import JobFinished
from stashdesk.jobs.outcomes import describe, job_title
from stashdesk.notifications.catalog import EVENTS
from stashdesk.wording import plural

if TYPE_CHECKING:
    from stashdesk.app import Services

NAMES_SHOWN = 10  # downloads named in one message; the rest are counted


@dataclass(frozen=True)
class Message:
    """One thing to tell people.

    Attributes:
        event: its event name (``job_failed``; ``test`` for a test message).
        title: a few words ("SYNC job failed").
        body: what happened and what to do.
        job_id: the job it is about, if any.
        links: pages in Stash's web UI it is about (``<stash.url>/scenes/<id>``).
        more: how many identical messages were folded into this one.
        failure: for events outside the catalog (old callers): a failure or not.
        tray_switch: for such events: the setting that governs them in the tray.
    """

    event: str
    title: str
    body: str
    job_id: str | None = None
    links: tuple[str, ...] = ()
    more: int = 0
    failure: bool | None = None
    tray_switch: str | None = None

    @property
    def level(self) -> str:
        kind = EVENTS.get(self.event)
        if kind is not None:
            return kind.level
        return "failure" if self.failure else "info"

    @property
    def is_failure(self) -> bool:
        kind = EVENTS.get(self.event)
        return kind.failure if kind is not None else bool(self.failure)

    @property
    def fold_key(self) -> tuple[str, str, str]:
        """Messages with the same key within the folding window are one message."""
        return self.event, self.title, self.body

    def folded(self, more: int, window_seconds: float, latest: Message) -> Message:
        """This message standing for ``more`` identical ones (``latest`` the newest)."""
        minutes = max(1, round(window_seconds / 60))
        return replace(
            latest,
            title=f"{self.title} ({more} more like this)",
            body=f"{self.body}\n\n{more} more like this in the last {minutes} "
            f"minute{'s' if minutes != 1 else ''}.",
            more=more,
        )

    def text(self) -> str:
        """The body as sent to a target: with the job and the links."""
        lines = [self.body]
        extra = []
        if self.job_id:
            extra.append(f"Job: {self.job_id} (details: stashdesk jobs show {self.job_id})")
        extra += [f"Scene: {link}" for link in self.links]
        if extra:
            lines += ["", *extra]
        return "\n".join(lines)


def scene_link(stash_url: str, scene_id: Any) -> str:
    return f"{str(stash_url).rstrip('/')}/scenes/{scene_id}"


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else f"{text}."


# --- daemons, health, the engine ----------------------------------------------------------------


def daemon_crashed(display_name: str, error: str, restart_in: float) -> Message:
    return Message(
        "daemon_crashed",
        f"{display_name} crashed",
        f"{error}. StashDesk restarts it in {restart_in:g} seconds; if it keeps "
        f"crashing, its log on the Daemons page says why.",
    )


def daemon_recovered(display_name: str, crashes: int) -> Message:
    return Message(
        "daemon_recovered",
        f"{display_name} recovered",
        f"Running again after {plural(crashes, 'crash', 'crashes')}.",
    )


def health_failed(check: str, message: str, remedy: str | None) -> Message:
    body = message if not remedy else f"{message} - {remedy}"
    return Message("health_failed", f"Health check failing: {check}", body)


def health_recovered(check: str) -> Message:
    return Message(
        "health_recovered",
        f"Health check passes again: {check}",
        f"{check} is healthy again; nothing to do.",
    )


def engine_started(version: str, host: str) -> Message:
    return Message(
        "started",
        "StashDesk started",
        f"StashDesk {version} is running on {host}; its enabled daemons start now.",
    )


def engine_stopped(host: str) -> Message:
    return Message(
        "stopped",
        "StashDesk stopped",
        f"StashDesk on {host} stopped: no daemon runs until it is started again.",
    )


def target_test_message(target: str) -> Message:
    return Message(
        "test",
        "StashDesk test notification",
        f"This is a test for the notification target {target!r}. It works: nothing to do.",
    )


# --- jobs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobContext:
    """What a finished job's messages need beyond the event itself.

    Attributes:
        stash_url: for links to scenes.
        metadata: the job's metadata (scene ids...).
        plan: for ANALYSIS and APPLY_PLAN: ``{"id", "name", "scene_ids"}`` (at most two
            scene ids: one is enough to know a link applies).
        auto_applied: an ANALYSIS whose plan its daemon applies at once (no review).
        scan_follows: a PROCESS_DOWNLOADS whose daemon has Stash scan what it placed.
    """

    stash_url: str
    metadata: dict[str, Any]
    plan: dict[str, Any] | None = None
    auto_applied: bool = False
    scan_follows: bool = False


def _scene_links(context: JobContext) -> tuple[str, ...]:
    scenes: list[Any] = []
    if context.plan is not None:
        scenes = list(context.plan.get("scene_ids") or [])
    elif context.metadata.get("scene_id") is not None:
        scenes = [context.metadata["scene_id"]]
    elif isinstance(context.metadata.get("scene_ids"), list):
        scenes = context.metadata["scene_ids"]
    return (scene_link(context.stash_url, scenes[0]),) if len(scenes) == 1 else ()


def job_messages(event: JobFinished, context: JobContext) -> list[Message]:
    """The messages a finished job calls for (none for most successful jobs)."""
    result = event.result if isinstance(event.result, dict) else {}
    links = _scene_links(context)
    title = job_title(event.job_type)
    if event.status == "failed":
        return [
            Message(
                "job_failed",
                f"{title} failed",
                event.error or "It failed without giving a reason: see its log.",
                event.job_id,
                links,
            )
        ]
    if event.status != "completed":
        return []
    messages: list[Message] = []
    described = describe(event.job_type, event.status, result, event.error)
    failures = described["failures"]
    if failures > 0:
        items = described["failed_items"]
        first = f" First: {items[0]['item']} - {items[0]['reason']}." if items else ""
        messages.append(
            Message(
                "job_failures",
                f"{title} finished with {plural(failures, 'failure')}",
                f"{_sentence(described['failure_summary'])}{first} "
                "The job's details give each reason.",
                event.job_id,
                links,
            )
        )
    if event.job_type == "PROCESS_DOWNLOADS":
        messages += _downloads_placed(event, result, context)
    elif event.job_type == "ANALYSIS":
        messages += _plan_ready(event, result, context)
    elif event.job_type == "APPLY_PLAN":
        messages.append(_plan_applied(event, result, context, links))
    return messages


def _downloads_placed(
    event: JobFinished, result: dict[str, Any], context: JobContext
) -> list[Message]:
    files = int(result.get("files_linked") or 0) + int(result.get("files_copied") or 0)
    if not files:
        return []
    names = [
        str(t.get("name"))
        for t in result.get("torrents") or []
        if t.get("status") == "processed" and (t.get("linked") or t.get("copied"))
    ]
    count = len(names) or int(result.get("torrents_processed") or 0)
    shown = ", ".join(names[:NAMES_SHOWN])
    if len(names) > NAMES_SHOWN:
        shown += f" and {len(names) - NAMES_SHOWN} more"
    then = (
        "Stash is asked to scan them now."
        if context.scan_follows
        else "Run a Stash scan (stashdesk stash scan) to see them in Stash."
    )
    body = f"{plural(files, 'file')} from {plural(count, 'download')}"
    body += f": {shown}. {then}" if shown else f". {then}"
    return [Message("downloads_placed", "Downloads placed in the library", body, event.job_id)]


def _plan_words(plan: dict[str, Any] | None, plan_id: Any) -> str:
    if plan and plan.get("name"):
        return f'Plan {plan.get("id", plan_id)} "{plan["name"]}"'
    return f"Plan {plan_id}"


def _plan_ready(event: JobFinished, result: dict[str, Any], context: JobContext) -> list[Message]:
    plan_id = result.get("plan_id")
    changes = int(result.get("changes") or 0)
    if (
        plan_id is None
        or context.auto_applied
        or changes <= 0
        or result.get("plan_status") not in ("draft", "reviewing")
    ):
        return []
    scenes = int(result.get("analysed") or 0) + int(result.get("errored") or 0)
    body = (
        f"{_plan_words(context.plan, plan_id)} proposes {plural(changes, 'change')} "
        f"for {plural(scenes, 'scene')}. Review it on the Plans page (or stashdesk plans "
        f"show {plan_id}), approve what is right, then apply it."
    )
    return [
        Message(
            "plan_ready",
            "Analysis plan ready for review",
            body,
            event.job_id,
            _scene_links(context),
        )
    ]


def _plan_applied(
    event: JobFinished, result: dict[str, Any], context: JobContext, links: tuple[str, ...]
) -> Message:
    plan_id = result.get("plan_id", context.metadata.get("plan_id"))
    applied, skipped = int(result.get("applied") or 0), int(result.get("skipped") or 0)
    failed = int(result.get("failed") or 0)
    body = (
        f"{_plan_words(context.plan, plan_id)}: {applied} change(s) applied, "
        f"{skipped} skipped, {failed} failed."
    )
    if failed:
        body += f" The plan (stashdesk plans show {plan_id}) says why each failed."
    return Message("plan_applied", "Plan applied", body, event.job_id, links)


# --- gathering (blocking parts run on a reader thread) -------------------------------------------


def _daemon_config(services: Services, name: str | None) -> dict[str, Any]:
    handle = services.manager.handles.get(name or "")
    return dict(handle.config) if handle is not None and handle.running else {}


async def messages_for_job(services: Services, event: JobFinished) -> list[Message]:
    """Gather what ``event``'s messages need, then build them."""
    if event.status not in ("failed", "completed"):
        return []
    from stashdesk.store.jobs import job_metadata
    from stashdesk.store.plans import plan_summary

    store = services.store
    metadata = await store.read(lambda: job_metadata(event.job_id))
    result = event.result if isinstance(event.result, dict) else {}
    plan = None
    if event.status == "completed" and event.job_type in ("ANALYSIS", "APPLY_PLAN"):
        plan_id = result.get("plan_id", metadata.get("plan_id"))
        if plan_id is not None:
            plan = await store.read(lambda: plan_summary(int(plan_id)))
    config = _daemon_config(services, event.created_by)
    context = JobContext(
        stash_url=str(services.settings.get("stash.url")),
        metadata=metadata,
        plan=plan,
        auto_applied=(
            event.created_by == "video-analysis" and bool(config.get("auto_apply_plans"))
        ),
        scan_follows=(
            event.created_by == "download-processor" and bool(config.get("scan_after_processing"))
        ),
    )
    return job_messages(event, context)
