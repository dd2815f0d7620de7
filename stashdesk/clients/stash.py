"""StashClient: Stash's GraphQL API over httpx, with errors a user can act on.

Every request has a total deadline, ``stash.timeout``: connecting, sending and
reading the whole answer together (httpx's own timeouts bound each read only, so
a server sending a byte every few seconds would hold a request for ever).

Reads may be retried with back-off when Stash is unreachable or answers 5xx, but
not after the deadline passed. Mutations are sent once: a retried ``tagCreate``
or ``sceneMarkerCreate`` could create a duplicate, so their callers decide what
is safe to repeat.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import logging
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

import httpx
import orjson

from stashdesk import __version__
from stashdesk.clients import stash_documents as docs
from stashdesk.clients.errors import (
    StashAuthRejected,
    StashGraphQLError,
    StashMalformedAnswer,
    StashServerError,
    StashTimedOut,
    StashUnreachable,
)
from stashdesk.clients.stash_feed import StashJobFeed
from stashdesk.urls import basic_auth, mask_url

log = logging.getLogger(__name__)

PAGE_SIZE = 250
AUTO_TAG_SCRAPER = "builtin_autotag"  # Stash's built-in auto tagger as an identify source

Found = tuple[int, list[dict[str, Any]]]  # how many match, and the page of them


class NamedQuery(TypedDict, total=False):
    """The page of a search by name, and whether aliases count (``find_tags``...)."""

    page: int  # 1 unless given
    per_page: int  # 1000 unless given
    aliases: bool  # False unless given


@dataclass(frozen=True, slots=True)
class NamedKind:
    """What Stash calls a kind of named object (tag, performer, studio) in its queries."""

    document: str
    root: str  # the query's field: "findTags"
    items: str  # the list in its answer: "tags"
    filter_arg: str  # the variable that filters by name: "tag_filter"


TAGS = NamedKind(docs.FIND_TAGS, "findTags", "tags", "tag_filter")
PERFORMERS = NamedKind(docs.FIND_PERFORMERS, "findPerformers", "performers", "performer_filter")
STUDIOS = NamedKind(docs.FIND_STUDIOS, "findStudios", "studios", "studio_filter")


def websocket_url(endpoint: str) -> str:
    """``http(s)://host/graphql`` as the ``ws(s)://`` address Stash upgrades."""
    if endpoint.startswith("https://"):
        return "wss://" + endpoint[len("https://") :]
    if endpoint.startswith("http://"):
        return "ws://" + endpoint[len("http://") :]
    return endpoint


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def describe_transport_error(exc: Exception) -> str:
    """A short, human reason for a connection failure ("connection refused")."""
    chain = _causes(exc)
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused"
    text = " ".join(str(e) for e in chain) or type(exc).__name__
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "unknown host name"
    if "timed out" in lowered or isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if "reset" in lowered:
        return "connection reset"
    return str(exc) or type(exc).__name__


class StashClient:
    """Async client for one Stash server.

    Attributes:
        url: the server's base address (``stash.url``).
        retries: how often a read is retried after a transient failure.
        server_clock: the latest time an answer's ``Date`` header showed (POSIX
            seconds; None before the first dated answer): Stash's own clock, to
            the second, which the sync uses to tell a second that is over.
    """

    def __init__(
        self,
        url: str,
        api_key: str = "",
        timeout: float = 30.0,
        retries: int = 2,
        retry_delay: float = 0.5,
        *,
        websocket: bool = True,
    ) -> None:
        address, auth = basic_auth(url.rstrip("/"))
        self.url = mask_url(url.rstrip("/"))  # for messages: never the password
        self.endpoint = f"{address}/graphql"
        self._has_key = bool(api_key)
        self.timeout = timeout
        self.retries = retries
        self.retry_delay = retry_delay
        self.server_clock: float | None = None
        headers = {"User-Agent": f"StashDesk/{__version__}", "Accept": "application/json"}
        if api_key:
            headers["ApiKey"] = api_key
        self._http = httpx.AsyncClient(
            headers=headers,
            auth=httpx.BasicAuth(*auth) if auth else None,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=True,
        )
        ws_headers = {k: v for k, v in headers.items() if k != "Accept"}
        if auth:  # a reverse proxy's basic auth guards the WebSocket too
            user, password = auth
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            ws_headers["Authorization"] = f"Basic {token}"
        self.job_feed = StashJobFeed(websocket_url(self.endpoint), ws_headers, enabled=websocket)

    async def aclose(self) -> None:
        await self.job_feed.aclose()
        await self._http.aclose()

    # --- transport -----------------------------------------------------------------

    async def execute(
        self, document: str, variables: dict[str, Any] | None = None, *, mutation: bool = False
    ) -> dict[str, Any]:
        """Send one document; return its ``data`` or raise a StashError."""
        attempts = 1 if mutation else 1 + self.retries
        delay = self.retry_delay
        for attempt in range(1, attempts + 1):
            try:
                return await self._post(document, variables)
            except (StashUnreachable, StashServerError) as exc:
                if attempt == attempts or isinstance(exc, StashTimedOut):
                    raise
                log.info("Stash read failed (%s); retry %d in %.1f s", exc, attempt, delay)
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    async def _post(self, document: str, variables: dict[str, Any] | None) -> dict[str, Any]:
        payload = {"query": document, "variables": variables or {}}
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._http.post(self.endpoint, json=payload)
        except (httpx.TimeoutException, TimeoutError):
            raise StashTimedOut(
                f"Stash at {self.url} did not answer within {self.timeout:g} s - check that "
                f"Stash is running and not overloaded, or raise stash.timeout"
            ) from None
        except httpx.TransportError as exc:
            raise StashUnreachable(
                f"Stash unreachable at {self.url}: {describe_transport_error(exc)}"
            ) from None
        return self._read_answer(response)

    def _read_answer(self, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        self._note_date(response.headers.get("date"))
        if status in (401, 403):
            if self._has_key:
                raise StashAuthRejected(
                    f"Stash rejected the API key (HTTP {status}) - set stash.api_key to the key "
                    f"shown in Stash under Settings > Security"
                )
            raise StashAuthRejected(
                f"Stash requires an API key (HTTP {status}) - set stash.api_key"
            )
        try:
            body = _parse_json(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if status >= 500:
            raise StashServerError(
                f"Stash at {self.url} answered HTTP {status}: {_snippet(response.text)}"
            )
        if not isinstance(body, dict):
            raise StashMalformedAnswer(
                f"Stash at {self.url} sent an answer that is not GraphQL JSON (HTTP {status}: "
                f"{_snippet(response.text)}) - check that stash.url points at Stash"
            )
        errors = body.get("errors")
        if errors:
            messages = "; ".join(
                str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
            )
            raise StashGraphQLError(f"Stash reported an error: {messages}", errors)
        if status >= 400:
            raise StashServerError(
                f"Stash at {self.url} answered HTTP {status}: {_snippet(response.text)}"
            )
        data = body.get("data")
        if not isinstance(data, dict):
            raise StashMalformedAnswer(
                f"Stash at {self.url} answered without data - check that stash.url points at Stash"
            )
        return data

    def _note_date(self, header: str | None) -> None:
        if not header:
            return
        try:
            moment = email.utils.parsedate_to_datetime(header).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        if self.server_clock is None or moment > self.server_clock:
            self.server_clock = moment

    def _field(self, data: dict[str, Any], name: str) -> Any:
        if name not in data:
            raise StashMalformedAnswer(f"Stash's answer lacks the field {name!r}")
        return data[name]

    def _object(self, data: dict[str, Any], name: str) -> dict[str, Any]:
        """A field the schema declares a (non-null) object."""
        value: dict[str, Any] = self._field(data, name)
        return value

    def _object_or_none(self, data: dict[str, Any], name: str) -> dict[str, Any] | None:
        """A field the schema declares an object or null."""
        value: dict[str, Any] | None = self._field(data, name)
        return value

    # --- reads ---------------------------------------------------------------------

    async def version(self) -> str:
        data = await self.execute(docs.VERSION)
        version = self._field(data, "version") or {}
        return version.get("version") or version.get("hash") or "unknown"

    async def library_paths(self) -> list[str]:
        """The folders Stash scans for videos (its Library settings)."""
        data = await self.execute(docs.LIBRARY_PATHS)
        stashes = ((self._field(data, "configuration") or {}).get("general") or {}).get(
            "stashes"
        ) or []
        return [s["path"] for s in stashes if s.get("path") and not s.get("excludeVideo")]

    async def count_scenes(self, scene_filter: dict[str, Any] | None = None) -> int:
        data = await self.execute(docs.COUNT_SCENES, {"scene_filter": scene_filter})
        return int(self._field(data, "findScenes")["count"])

    async def find_scenes(
        self,
        scene_filter: dict[str, Any] | None = None,
        *,
        page: int = 1,
        per_page: int = PAGE_SIZE,
        sort: str = "updated_at",
        direction: str = "ASC",
        ids: list[str] | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """One page of scenes with every field the local copy keeps: (count, scenes)."""
        variables = {
            "filter": {"page": page, "per_page": per_page, "sort": sort, "direction": direction},
            "scene_filter": scene_filter,
            "ids": ids,
        }
        result = self._field(await self.execute(docs.FIND_SCENES, variables), "findScenes")
        return int(result["count"]), list(result["scenes"])

    async def find_scene(self, scene_id: str) -> dict[str, Any] | None:
        return self._object_or_none(
            await self.execute(docs.FIND_SCENE, {"id": scene_id}), "findScene"
        )

    async def _find_named(
        self, kind: NamedKind, name: str | None, **query: Unpack[NamedQuery]
    ) -> Found:
        variables: dict[str, Any] = {
            "filter": {
                "page": query.get("page", 1),
                "per_page": query.get("per_page", 1000),
                "sort": "name",
                "direction": "ASC",
            }
        }
        if name is not None:
            # EQUALS is case-insensitive in Stash; OR means "name matches, or an alias does".
            criterion = {"value": name, "modifier": "EQUALS"}
            variables[kind.filter_arg] = {"name": criterion}
            if query.get("aliases"):
                variables[kind.filter_arg]["OR"] = {"aliases": criterion}
        result = self._field(await self.execute(kind.document, variables), kind.root)
        return int(result["count"]), list(result[kind.items])

    async def find_tags(self, name: str | None = None, **query: Unpack[NamedQuery]) -> Found:
        """Tags; with ``name``, those so named (any case), or also so aliased (``aliases``)."""
        return await self._find_named(TAGS, name, **query)

    async def find_performers(self, name: str | None = None, **query: Unpack[NamedQuery]) -> Found:
        return await self._find_named(PERFORMERS, name, **query)

    async def find_studios(self, name: str | None = None, **query: Unpack[NamedQuery]) -> Found:
        return await self._find_named(STUDIOS, name, **query)

    async def find_job(self, job_id: str) -> dict[str, Any] | None:
        return self._object_or_none(
            await self.execute(docs.FIND_JOB, {"input": {"id": job_id}}), "findJob"
        )

    async def job_queue(self) -> list[dict[str, Any]]:
        return list(self._field(await self.execute(docs.JOB_QUEUE), "jobQueue") or [])

    async def scene_ids_for_paths(self, paths: list[str]) -> dict[str, str]:
        """The scenes Stash has for these file paths: {path: scene id}; unknown ones left out.

        One exact (EQUALS) ``path`` lookup per file: Stash compares folder + basename
        with LIKE, so ``_`` and ``%`` in a name may also match others; only a scene
        with a file of exactly that path counts.
        """
        found: dict[str, str] = {}
        for path in paths:
            variables = {
                "filter": {"per_page": 25},
                "scene_filter": {"path": {"value": path, "modifier": "EQUALS"}},
            }
            data = await self.execute(docs.FIND_SCENE_PATHS, variables)
            for scene in self._field(data, "findScenes")["scenes"]:
                if any(f.get("path") == path for f in scene.get("files") or []):
                    found[path] = str(scene["id"])
                    break
        return found

    async def identify_configuration(self) -> dict[str, Any]:
        """Stash's stash-box endpoints and saved identify defaults (``configuration``)."""
        return self._object(await self.execute(docs.IDENTIFY_CONFIGURATION), "configuration")

    async def ui_configuration(self) -> dict[str, Any]:
        """Stash's UI settings (``configuration { ui }``: ``vrTag`` and the like)."""
        config = self._field(await self.execute(docs.UI_CONFIGURATION), "configuration") or {}
        ui = config.get("ui")
        return ui if isinstance(ui, dict) else {}

    async def get_media(self, url: str, *, max_bytes: int = 20_000_000) -> tuple[bytes, str]:
        """Fetch a file Stash serves (a cover) with the API key: (content, content type).

        Only the path and query of ``url`` are used, against ``stash.url``: the key never
        goes to another host, and an address Stash built for itself (a Docker name) works.
        """
        parts = httpx.URL(url)
        target = httpx.URL(self.endpoint).copy_with(path=parts.path, query=parts.query or None)
        try:
            async with asyncio.timeout(self.timeout):  # the whole answer, not each read
                response = await self._http.get(target)
        except (httpx.TimeoutException, TimeoutError):
            raise StashUnreachable(
                f"Stash at {self.url} did not send {parts.path} within {self.timeout:g} s"
            ) from None
        except httpx.TransportError as exc:
            raise StashUnreachable(
                f"Stash unreachable at {self.url}: {describe_transport_error(exc)}"
            ) from None
        if response.status_code in (401, 403):
            raise StashAuthRejected(
                f"Stash refused {parts.path} (HTTP {response.status_code}) - check stash.api_key"
            )
        if response.status_code >= 400:
            raise StashServerError(f"Stash answered HTTP {response.status_code} for {parts.path}")
        if len(response.content) > max_bytes:
            raise StashMalformedAnswer(f"{parts.path} is larger than {max_bytes} bytes")
        return response.content, response.headers.get("content-type", "")

    # --- writes (never retried) --------------------------------------------------------

    async def create_tag(
        self, name: str, *, ignore_auto_tag: bool | None = None, parent_ids: list[str] | None = None
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"name": name}
        if ignore_auto_tag is not None:
            fields["ignore_auto_tag"] = ignore_auto_tag
        if parent_ids:
            fields["parent_ids"] = parent_ids
        data = await self.execute(docs.TAG_CREATE, {"input": fields}, mutation=True)
        return self._object(data, "tagCreate")

    async def create_performer(self, name: str) -> dict[str, Any]:
        data = await self.execute(docs.PERFORMER_CREATE, {"input": {"name": name}}, mutation=True)
        return self._object(data, "performerCreate")

    async def create_studio(self, name: str) -> dict[str, Any]:
        data = await self.execute(docs.STUDIO_CREATE, {"input": {"name": name}}, mutation=True)
        return self._object(data, "studioCreate")

    async def update_scene(self, fields: dict[str, Any]) -> dict[str, Any]:
        data = await self.execute(docs.SCENE_UPDATE, {"input": fields}, mutation=True)
        return self._object(data, "sceneUpdate")

    async def bulk_update_scenes(self, fields: dict[str, Any]) -> list[dict[str, Any]]:
        data = await self.execute(docs.BULK_SCENE_UPDATE, {"input": fields}, mutation=True)
        return list(self._field(data, "bulkSceneUpdate") or [])

    async def create_marker(self, fields: dict[str, Any]) -> dict[str, Any]:
        data = await self.execute(docs.SCENE_MARKER_CREATE, {"input": fields}, mutation=True)
        return self._object(data, "sceneMarkerCreate")

    async def metadata_scan(self, paths: list[str], **options: Any) -> str:
        data = await self.execute(
            docs.METADATA_SCAN, {"input": {"paths": paths, **options}}, mutation=True
        )
        return str(self._field(data, "metadataScan"))

    async def metadata_generate(self, options: dict[str, Any]) -> str:
        data = await self.execute(docs.METADATA_GENERATE, {"input": options}, mutation=True)
        return str(self._field(data, "metadataGenerate"))

    async def metadata_identify(self, fields: dict[str, Any]) -> str:
        data = await self.execute(docs.METADATA_IDENTIFY, {"input": fields}, mutation=True)
        return str(self._field(data, "metadataIdentify"))

    async def metadata_auto_tag(self, fields: dict[str, Any]) -> str:
        data = await self.execute(docs.METADATA_AUTO_TAG, {"input": fields}, mutation=True)
        return str(self._field(data, "metadataAutoTag"))

    async def stop_job(self, job_id: str) -> bool:
        data = await self.execute(docs.STOP_JOB, {"job_id": job_id}, mutation=True)
        return bool(self._field(data, "stopJob"))


def _parse_json(content: bytes) -> Any:
    """Stash's answer as JSON: orjson takes half the time json needs for a page of
    scenes, and that time is the event loop's; json still reads what orjson refuses
    (integers beyond 64 bits)."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


def _snippet(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
