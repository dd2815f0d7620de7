"""Scene covers for the review screen: fetched from Stash with the API key, kept on disk.

A cover's address is the scene's ``paths.screenshot`` as the sync stored it (Stash
adds ``?t=<time>``, which changes with the cover), else Stash's own route
``/scene/<id>/screenshot`` for a scene synced before the address was kept. The
file is cached under ``<data dir>/covers/<scene id>-<digest of the address>.<ext>``,
so a new cover gets a new file (and the old one of that scene is removed). Network
I/O is async; every disk access runs on a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stashdesk.clients.errors import ServiceError
from stashdesk.store.scenes import scene_screenshot

if TYPE_CHECKING:
    from stashdesk.app import Services

COVER_DIR = "covers"
_EXTENSIONS = {b"\x89PNG": ".png", b"\xff\xd8\xff": ".jpg", b"RIFF": ".webp", b"GIF8": ".gif"}


def cover_url(scene_id: str) -> str:
    """The cover's address from the local copy (blocking; run it through Store.read)."""
    screenshot = scene_screenshot(scene_id)
    if screenshot:
        return screenshot
    return f"/scene/{scene_id}/screenshot"


def cover_stem(scene_id: str, url: str) -> str:
    return f"{scene_id}-{hashlib.sha1(url.encode()).hexdigest()[:12]}"


def cached_cover(cover_dir: Path, scene_id: str, url: str) -> Path | None:
    """The cached file for this address, if any (blocking)."""
    stem = cover_stem(scene_id, url)
    return next((p for p in sorted(cover_dir.glob(f"{stem}.*")) if p.is_file()), None)


def _extension(content: bytes) -> str:
    return next((ext for magic, ext in _EXTENSIONS.items() if content.startswith(magic)), ".img")


def _store(cover_dir: Path, scene_id: str, url: str, content: bytes) -> Path:
    cover_dir.mkdir(parents=True, exist_ok=True)
    stem = cover_stem(scene_id, url)
    target = cover_dir / f"{stem}{_extension(content)}"
    fd, temp = tempfile.mkstemp(prefix=f".{stem}.", dir=cover_dir)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    for old in cover_dir.glob(f"{scene_id}-*"):
        if old != target and not old.name.startswith("."):
            old.unlink(missing_ok=True)  # the scene's previous cover
    return target


def cover_dir(services: Services) -> Path:
    return Path(services.data_dir) / COVER_DIR


async def scene_cover(
    services: Services, scene_id: str, *, refresh: bool = False
) -> dict[str, Any]:
    """The scene's cover on disk: {"scene_id", "path" (None on failure), "cached" (no
    download was needed), "error" (what went wrong, for people)}."""
    scene_id = str(scene_id)
    url = await services.store.read(lambda: cover_url(scene_id))
    folder = cover_dir(services)
    if not refresh:
        found = await asyncio.to_thread(cached_cover, folder, scene_id, url)
        if found is not None:
            return {"scene_id": scene_id, "path": str(found), "cached": True, "error": None}
    try:
        content, _type = await services.stash().get_media(url)
    except ServiceError as exc:
        return {"scene_id": scene_id, "path": None, "cached": False, "error": str(exc)}
    path = await asyncio.to_thread(_store, folder, scene_id, url, content)
    return {"scene_id": scene_id, "path": str(path), "cached": False, "error": None}


async def scene_covers(
    services: Services, scene_ids: list[str], *, concurrency: int = 4
) -> list[dict[str, Any]]:
    """Covers of several scenes, ``concurrency`` downloads at a time, in the given order."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(scene_id: str) -> dict[str, Any]:
        async with gate:
            return await scene_cover(services, scene_id)

    return list(await asyncio.gather(*(one(s) for s in scene_ids)))
