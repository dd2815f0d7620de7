"""Pre-built ``findScenes`` answers for the Stash stand-in: a server that is never the bottleneck.

:class:`StashStandin` validates and executes every document with graphql-core, which
serves about 3,000 scenes a second: slower than StashDesk ingests them, so a sync
benchmark against it measures the stand-in. :class:`PrebuiltScenePages` renders each
scene's JSON *once*, through the stand-in's own execution of StashDesk's own
``FindScenes`` document (so the bytes are exactly what the validated stand-in would
send), keeps them ordered as Stash orders ``sort: updated_at`` (text, then id), and
answers the filter shapes the SYNC job sends by bisecting and joining bytes:

* no filter, ``updated_at > W``, ``updated_at > W OR updated_at = W`` (sort updated_at);
* ``updated_at = W AND id > N`` (sort id);
* any of them as a ``CountScenes`` (``per_page: 0``).

Anything else (another filter, sort or document, or faults, API key checks) goes to
the stand-in as usual. Attach it with ``standin.prebuilt = pages``; after editing a
scene in the stand-in, call :meth:`refresh` with its id.
"""

from __future__ import annotations

import bisect
import json
import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.standins.stash_server import StashStandin

_CACHE_FORMAT = 1


class PrebuiltScenePages:
    """Every scene's ``findScenes`` JSON, ordered by (updated_at text, id).

    Attributes:
        document: the query text the bytes were rendered for (requests for another
            selection of fields fall through to the stand-in).
        served: requests answered from the pre-built bytes.
    """

    def __init__(self, document: str, entries: Iterable[tuple[str, int, bytes]]) -> None:
        self.document = document
        ordered = sorted(entries, key=lambda e: (e[0], e[1]))
        self._texts = [e[0] for e in ordered]
        self._ids = [e[1] for e in ordered]
        self._json = [e[2] for e in ordered]
        self.served = 0

    def __len__(self) -> int:
        return len(self._json)

    # --- building -------------------------------------------------------------------------

    @staticmethod
    def _render(
        standin: StashStandin, document: str, ids: list[str], batch: int = 1000
    ) -> list[tuple[str, int, bytes]]:
        entries = []
        for start in range(0, len(ids), batch):
            chunk = ids[start : start + batch]
            status, body = standin.execute(document, {"ids": chunk})
            if status != 200 or body.get("errors"):
                raise RuntimeError(f"stand-in could not render scenes: {body.get('errors')}")
            for scene in body["data"]["findScenes"]["scenes"]:
                entries.append(
                    (
                        scene["updated_at"],
                        int(scene["id"]),
                        json.dumps(scene, separators=(",", ":")).encode(),
                    )
                )
        return entries

    @classmethod
    def render(cls, standin: StashStandin, document: str) -> PrebuiltScenePages:
        """Render every scene of ``standin`` through ``document`` (a FindScenes query)."""
        return cls(document, cls._render(standin, document, list(standin.scenes)))

    def refresh(self, standin: StashStandin, scene_ids: Iterable[str]) -> None:
        """Render these scenes again (after an edit), keeping the order right."""
        ids = {int(i) for i in scene_ids}
        keep = [
            (t, i, j)
            for t, i, j in zip(self._texts, self._ids, self._json, strict=True)
            if i not in ids
        ]
        fresh = self._render(
            standin, self.document, [str(i) for i in sorted(ids) if str(i) in standin.scenes]
        )
        self.__init__(self.document, keep + fresh)  # type: ignore[misc]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            pickle.dump(
                (
                    _CACHE_FORMAT,
                    self.document,
                    list(zip(self._texts, self._ids, self._json, strict=True)),
                ),
                out,
            )

    @classmethod
    def load(cls, path: Path, document: str) -> PrebuiltScenePages | None:
        """The pages saved at ``path`` for ``document``, or None (missing, stale format)."""
        try:
            with path.open("rb") as src:
                version, saved_document, entries = pickle.load(src)
        except (OSError, EOFError, pickle.UnpicklingError, ValueError):
            return None
        if version != _CACHE_FORMAT or saved_document != document:
            return None
        return cls(document, entries)

    # --- answering --------------------------------------------------------------------------

    def _range(self, scene_filter: dict[str, Any] | None, sort: str) -> tuple[int, int] | None:
        """[start, end) of the matching scenes in order, or None for a shape not handled."""
        if not scene_filter:
            return (0, len(self._texts)) if sort == "updated_at" else None
        updated = scene_filter.get("updated_at") or {}
        keys = set(scene_filter)
        text = updated.get("value")
        if not isinstance(text, str) or updated.get("value2") is not None:
            return None
        if (
            keys == {"updated_at"}
            and updated.get("modifier") == "GREATER_THAN"
            and sort == "updated_at"
        ):
            return bisect.bisect_right(self._texts, text), len(self._texts)
        if (
            keys == {"updated_at", "OR"}
            and updated.get("modifier") == "GREATER_THAN"
            and scene_filter["OR"] == {"updated_at": {"value": text, "modifier": "EQUALS"}}
            and sort == "updated_at"
        ):
            return bisect.bisect_left(self._texts, text), len(self._texts)
        if updated.get("modifier") == "EQUALS" and keys <= {"updated_at", "id"}:
            low = bisect.bisect_left(self._texts, text)
            high = bisect.bisect_right(self._texts, text)
            after = scene_filter.get("id") or {"value": 0, "modifier": "GREATER_THAN"}
            if after.get("modifier") != "GREATER_THAN" or sort not in ("id", "updated_at"):
                return None
            return bisect.bisect_right(self._ids, int(after["value"]), low, high), high
        return None

    def answer(
        self, operation: str | None, query: str | None, variables: dict[str, Any] | None
    ) -> bytes | None:
        """The JSON body for a request the pages can answer, else None."""
        variables = variables or {}
        if operation == "FindScenes" and query == self.document:
            if variables.get("ids"):
                return None
            find = variables.get("filter") or {}
            if find.get("direction", "ASC") != "ASC" or (find.get("page") or 1) != 1:
                return None
            found = self._range(variables.get("scene_filter"), find.get("sort") or "title")
            if found is None:
                return None
            start, end = found
            per_page = find.get("per_page")
            per_page = 25 if per_page is None else per_page
            stop = end if per_page < 0 else min(end, start + per_page)
            self.served += 1
            return (
                b'{"data":{"findScenes":{"count":%d,"scenes":[' % (end - start)
                + b",".join(self._json[start:stop])
                + b"]}}}"
            )
        if operation == "CountScenes":
            found = self._range(variables.get("scene_filter"), "updated_at")
            if found is None:
                return None
            self.served += 1
            return b'{"data":{"findScenes":{"count":%d}}}' % (found[1] - found[0])
        return None
