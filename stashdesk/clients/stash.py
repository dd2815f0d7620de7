"""StashClient: Stash's GraphQL API over httpx, with errors a user can act on.

Reads may be retried with back-off when Stash is unreachable or answers 5xx.
Mutations are sent once: a retried ``tagCreate`` or ``sceneMarkerCreate`` could
create a duplicate, so their callers decide what is safe to repeat.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx

from stashdesk import __version__
from stashdesk.clients import stash_documents as docs
from stashdesk.clients.errors import (
    StashAuthRejected,
    StashGraphQLError,
    StashMalformedAnswer,
    StashServerError,
    StashUnreachable,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 250


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    while exc is not None and exc not in chain and len(chain) < 10:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
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
    """

    def __init__(
        self,
        url: str,
        api_key: str = "",
        timeout: float = 30.0,
        retries: int = 2,
        retry_delay: float = 0.5,
    ) -> None:
        self.url = url.rstrip("/")
        self.endpoint = f"{self.url}/graphql"
        self._has_key = bool(api_key)
        self.timeout = timeout
        self.retries = retries
        self.retry_delay = retry_delay
        headers = {"User-Agent": f"StashDesk/{__version__}", "Accept": "application/json"}
        if api_key:
            headers["ApiKey"] = api_key
        self._http = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=True,
        )

    async def aclose(self) -> None:
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
                if attempt == attempts:
                    raise
                log.info("Stash read failed (%s); retry %d in %.1f s", exc, attempt, delay)
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    async def _post(self, document: str, variables: dict[str, Any] | None) -> dict[str, Any]:
        payload = {"query": document, "variables": variables or {}}
        try:
            response = await self._http.post(self.endpoint, json=payload)
        except httpx.TimeoutException:
            raise StashUnreachable(
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
            body = response.json()
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

    def _field(self, data: dict[str, Any], name: str) -> Any:
        if name not in data:
            raise StashMalformedAnswer(f"Stash's answer lacks the field {name!r}")
        return data[name]

    # --- reads ---------------------------------------------------------------------

    async def version(self) -> str:
        data = await self.execute(docs.VERSION)
        version = self._field(data, "version") or {}
        return version.get("version") or version.get("hash") or "unknown"

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

    async def find_scene_ids(self, *, page: int, per_page: int = 1000) -> tuple[int, list[str]]:
        variables = {"filter": {"page": page, "per_page": per_page, "sort": "id",
                                "direction": "ASC"}}
        result = self._field(await self.execute(docs.FIND_SCENE_IDS, variables), "findScenes")
        return int(result["count"]), [s["id"] for s in result["scenes"]]

    async def find_scene(self, scene_id: str) -> dict[str, Any] | None:
        return self._field(await self.execute(docs.FIND_SCENE, {"id": scene_id}), "findScene")

    async def _find_named(
        self, document: str, root: str, items: str, filter_arg: str, name: str | None,
        page: int, per_page: int, aliases: bool = False,
    ) -> tuple[int, list[dict[str, Any]]]:
        variables: dict[str, Any] = {"filter": {"page": page, "per_page": per_page,
                                                "sort": "name", "direction": "ASC"}}
        if name is not None:
            # EQUALS is case-insensitive in Stash; OR means "name matches, or an alias does".
            criterion = {"value": name, "modifier": "EQUALS"}
            variables[filter_arg] = {"name": criterion}
            if aliases:
                variables[filter_arg]["OR"] = {"aliases": criterion}
        result = self._field(await self.execute(document, variables), root)
        return int(result["count"]), list(result[items])

    async def find_tags(self, name: str | None = None, *, page: int = 1,
                        per_page: int = 1000, aliases: bool = False,
                        ) -> tuple[int, list[dict[str, Any]]]:
        """Tags; with ``name``, those so named (any case), or also so aliased (``aliases``)."""
        return await self._find_named(docs.FIND_TAGS, "findTags", "tags", "tag_filter",
                                      name, page, per_page, aliases)

    async def find_performers(self, name: str | None = None, *, page: int = 1,
                              per_page: int = 1000, aliases: bool = False,
                              ) -> tuple[int, list[dict[str, Any]]]:
        return await self._find_named(docs.FIND_PERFORMERS, "findPerformers", "performers",
                                      "performer_filter", name, page, per_page, aliases)

    async def find_studios(self, name: str | None = None, *, page: int = 1,
                           per_page: int = 1000, aliases: bool = False,
                           ) -> tuple[int, list[dict[str, Any]]]:
        return await self._find_named(docs.FIND_STUDIOS, "findStudios", "studios",
                                      "studio_filter", name, page, per_page, aliases)

    async def find_job(self, job_id: str) -> dict[str, Any] | None:
        return self._field(await self.execute(docs.FIND_JOB, {"input": {"id": job_id}}),
                           "findJob")

    async def job_queue(self) -> list[dict[str, Any]]:
        return list(self._field(await self.execute(docs.JOB_QUEUE), "jobQueue") or [])

    # --- writes (never retried) --------------------------------------------------------

    async def create_tag(self, name: str) -> dict[str, Any]:
        data = await self.execute(docs.TAG_CREATE, {"input": {"name": name}}, mutation=True)
        return self._field(data, "tagCreate")

    async def create_performer(self, name: str) -> dict[str, Any]:
        data = await self.execute(docs.PERFORMER_CREATE, {"input": {"name": name}},
                                  mutation=True)
        return self._field(data, "performerCreate")

    async def create_studio(self, name: str) -> dict[str, Any]:
        data = await self.execute(docs.STUDIO_CREATE, {"input": {"name": name}}, mutation=True)
        return self._field(data, "studioCreate")

    async def update_scene(self, fields: dict[str, Any]) -> dict[str, Any]:
        data = await self.execute(docs.SCENE_UPDATE, {"input": fields}, mutation=True)
        return self._field(data, "sceneUpdate")

    async def bulk_update_scenes(self, fields: dict[str, Any]) -> list[dict[str, Any]]:
        data = await self.execute(docs.BULK_SCENE_UPDATE, {"input": fields}, mutation=True)
        return list(self._field(data, "bulkSceneUpdate") or [])

    async def create_marker(self, fields: dict[str, Any]) -> dict[str, Any]:
        data = await self.execute(docs.SCENE_MARKER_CREATE, {"input": fields}, mutation=True)
        return self._field(data, "sceneMarkerCreate")

    async def metadata_scan(self, paths: list[str], **options: Any) -> str:
        data = await self.execute(docs.METADATA_SCAN, {"input": {"paths": paths, **options}},
                                  mutation=True)
        return str(self._field(data, "metadataScan"))

    async def metadata_generate(self, options: dict[str, Any]) -> str:
        data = await self.execute(docs.METADATA_GENERATE, {"input": options}, mutation=True)
        return str(self._field(data, "metadataGenerate"))

    async def stop_job(self, job_id: str) -> bool:
        data = await self.execute(docs.STOP_JOB, {"job_id": job_id}, mutation=True)
        return bool(self._field(data, "stopJob"))


def _snippet(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
