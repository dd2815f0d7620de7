"""STASH_IDENTIFY and STASH_AUTO_TAG: Stash's Identify and Auto Tag tasks, on given scenes.

STASH_IDENTIFY metadata
    ``scene_ids`` (or ``paths`` when the scenes are not known by id), ``sources``
    and ``field_strategies``. ``sources`` is an ordered list of stash-box endpoints
    (address or name, as configured in Stash) and ``builtin_autotag`` (Stash's
    built-in auto tagger); empty means what the Identify task in Stash's UI uses:
    the sources saved in Stash's identify defaults, else every configured stash-box
    endpoint, then the auto tagger. Field strategies are Stash's (the options saved
    in its identify defaults, else Stash's built-in MERGE) except the fields named in
    ``field_strategies``: ``{"title": "OVERWRITE", "performers": {"strategy": "MERGE",
    "createMissing": true}}``.
STASH_AUTO_TAG metadata
    ``paths``: Stash tags the scenes under those paths with every performer, studio
    and tag whose name appears in their paths (``"*"``, as Stash's Auto Tag task).

Both follow their Stash job like the other Stash tasks (:mod:`stashdesk.jobs.stash_tasks`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stashdesk.clients.stash import AUTO_TAG_SCRAPER
from stashdesk.jobs.base import JobContext, JobFailed, JobType, job_type
from stashdesk.jobs.stash_tasks import run_stash_task
from stashdesk.options import OptionError

if TYPE_CHECKING:
    from stashdesk.clients.stash import StashClient

FIELD_STRATEGIES = ("IGNORE", "MERGE", "OVERWRITE")
AUTO_TAG_NAMES = (AUTO_TAG_SCRAPER, "auto tag", "autotag", "auto tagger")


def check_field_strategies(key: str, value: dict[str, Any]) -> None:
    """Validator for a ``field_strategies`` dict; raises OptionError naming the fix."""
    for field, spec in value.items():
        strategy = spec.get("strategy") if isinstance(spec, dict) else spec
        if not isinstance(strategy, str) or strategy.upper() not in FIELD_STRATEGIES:
            raise OptionError(
                f"{key}: the strategy for {field!r} must be one of "
                f"{', '.join(FIELD_STRATEGIES)}, not {strategy!r}"
            )
        if isinstance(spec, dict) and not isinstance(spec.get("createMissing", False), bool):
            raise OptionError(f"{key}: createMissing for {field!r} must be true or false")


def _source_input(source: dict[str, Any]) -> dict[str, Any]:
    """A configured ``IdentifySource`` as the ``IdentifySourceInput`` to send back."""
    picked = {
        k: v
        for k, v in (source.get("source") or {}).items()
        if k in ("stash_box_endpoint", "scraper_id") and v
    }
    entry: dict[str, Any] = {"source": picked}
    if source.get("options"):
        entry["options"] = _options_input(source["options"])
    return entry


def _options_input(options: dict[str, Any]) -> dict[str, Any]:
    """Options as Stash returned them, without its nulls (unset means Stash's default)."""
    cleaned = {k: v for k, v in options.items() if v is not None}
    if cleaned.get("fieldOptions"):
        cleaned["fieldOptions"] = [
            {k: v for k, v in f.items() if v is not None} for f in cleaned["fieldOptions"]
        ]
    return cleaned


def identify_sources(configuration: dict[str, Any], wanted: list[str]) -> list[dict[str, Any]]:
    """The ``sources`` of a ``metadataIdentify`` input (see the module docstring)."""
    boxes = (configuration.get("general") or {}).get("stashBoxes") or []
    if not wanted:
        saved = ((configuration.get("defaults") or {}).get("identify") or {}).get("sources") or []
        chosen = [_source_input(s) for s in saved]
        if any(entry["source"] for entry in chosen):
            return [entry for entry in chosen if entry["source"]]
        return [{"source": {"stash_box_endpoint": b["endpoint"]}} for b in boxes] + [
            {"source": {"scraper_id": AUTO_TAG_SCRAPER}}
        ]
    sources = []
    for name in wanted:
        lowered = name.strip().lower()
        if lowered in AUTO_TAG_NAMES:
            sources.append({"source": {"scraper_id": AUTO_TAG_SCRAPER}})
            continue
        box = next(
            (
                b
                for b in boxes
                if lowered in (str(b.get("endpoint")).lower(), str(b.get("name")).lower())
            ),
            None,
        )
        if box is None:
            known = ", ".join(f"{b.get('name')} ({b.get('endpoint')})" for b in boxes) or "none"
            raise JobFailed(
                f"identify source {name!r} is not a stash-box endpoint configured "
                f"in Stash (Settings > Metadata Providers; configured: {known}) "
                f"nor {AUTO_TAG_SCRAPER}"
            )
        sources.append({"source": {"stash_box_endpoint": box["endpoint"]}})
    return sources


def identify_options(
    configuration: dict[str, Any], field_strategies: dict[str, Any]
) -> dict[str, Any] | None:
    """The ``options`` of a ``metadataIdentify`` input: Stash's saved defaults, with the
    given field strategies replacing theirs; None leaves everything to Stash."""
    saved = ((configuration.get("defaults") or {}).get("identify") or {}).get("options")
    options = _options_input(saved) if saved else {}
    if field_strategies:
        fields = {f["field"]: f for f in options.get("fieldOptions") or []}
        for field, spec in field_strategies.items():
            entry = dict(spec) if isinstance(spec, dict) else {"strategy": spec}
            entry["strategy"] = str(entry["strategy"]).upper()
            fields[field] = {"field": field, **_options_input(entry)}
        options["fieldOptions"] = list(fields.values())
    return options or None


@job_type(
    JobType.STASH_IDENTIFY,
    exclusive=True,
    resumable=True,
    description="Identify scenes in Stash (stash-box, auto tagger) and follow it",
)
async def stash_identify_job(ctx: JobContext) -> dict[str, Any]:
    scene_ids = [str(i) for i in ctx.metadata.get("scene_ids") or []]
    paths = [str(p) for p in ctx.metadata.get("paths") or []]
    if not scene_ids and not paths:
        raise JobFailed(
            "STASH_IDENTIFY needs scene_ids or paths (identifying the whole "
            "library is Stash's own Identify task)"
        )

    async def start(stash: StashClient) -> tuple[str, dict[str, Any]]:
        configuration = await stash.identify_configuration()
        fields: dict[str, Any] = {
            "sources": identify_sources(configuration, list(ctx.metadata.get("sources") or [])),
        }
        options = identify_options(configuration, dict(ctx.metadata.get("field_strategies") or {}))
        if options:
            fields["options"] = options
        if scene_ids:
            fields["sceneIDs"] = scene_ids
        else:
            fields["paths"] = paths
        return await stash.metadata_identify(fields), {"sent": fields}

    result = await run_stash_task(ctx, "identify", start, _outcome_unknown(ctx, "identify"))
    result.update(scene_ids=scene_ids or None, paths=paths or None)
    return result


@job_type(
    JobType.STASH_AUTO_TAG,
    exclusive=True,
    resumable=True,
    description="Auto-tag performers, studios and tags of given paths in Stash",
)
async def stash_auto_tag_job(ctx: JobContext) -> dict[str, Any]:
    paths = [str(p) for p in ctx.metadata.get("paths") or []]
    if not paths:
        raise JobFailed(
            "STASH_AUTO_TAG needs paths (auto-tagging the whole library is "
            "Stash's own Auto Tag task)"
        )

    async def start(stash: StashClient) -> tuple[str, dict[str, Any]]:
        fields = {"paths": paths, "performers": ["*"], "studios": ["*"], "tags": ["*"]}
        return await stash.metadata_auto_tag(fields), {}

    result = await run_stash_task(ctx, "auto tag", start, _outcome_unknown(ctx, "auto tag"))
    result["paths"] = paths
    return result


def _outcome_unknown(ctx: JobContext, what: str) -> Any:
    """Identify and auto tag change scenes in place and may be run again at no cost: one
    that ended unseen is taken as finished, saying so, rather than failed."""

    async def resolve(stash: StashClient) -> dict[str, Any]:
        await stash.version()  # Stash answers: it is there, it only forgot the job
        ctx.note(
            f"Stash's {what} ended while StashDesk was not looking; its outcome is "
            f"unknown (see Stash's logs) - taken as finished"
        )
        return {"outcome": "unknown"}

    return resolve
