"""The local copy of Stash's scenes: the queries the SYNC job and its idle check run.

Every function here is blocking and runs on the store's threads: the writes on the
writer thread (``Store.write``, inside its transaction), the reads through
``Store.read``. The page writes use prepared statements with ``executemany``:
building SQL per row in Peewee costs ten times what SQLite needs to store the
rows, and that time would be taken from the event loop (the writer thread holds
the GIL while Python builds; SQLite itself runs with the GIL released).

Attributes:
    SCENE_COLUMNS: the scene columns a synced scene writes, in the order of the
        tuples :class:`ScenePage` carries.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from stashdesk.store.models import Scene, SceneFile, Setting, database
from stashdesk.store.typed import rows_changed, tuples

T = TypeVar("T")

SCENE_COLUMNS = (
    "id",
    "title",
    "details",
    "date",
    "rating100",
    "organized",
    "studio_id",
    "created_at",
    "updated_at",
    "updated_at_epoch",
    "content_hash",
    "screenshot",
)
_IN_CHUNK = 500  # ids per IN (...): well below SQLite's variable limit
_NAMED_TABLES = {"tag": "tag", "performer": "performer", "studio": "studio"}

_UPSERT_SCENE = (
    f"INSERT INTO scene ({', '.join(SCENE_COLUMNS)}, synced_at, removed, removed_at, "
    f"generated) VALUES ({', '.join('?' * len(SCENE_COLUMNS))}, ?, 0, NULL, 0) "
    "ON CONFLICT(id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in SCENE_COLUMNS[1:])
    + ", synced_at = excluded.synced_at, removed = 0, removed_at = NULL"
)  # an existing scene keeps its generated flag: reset below only when its files changed


@dataclass(slots=True)
class ScenePage:
    """One page of scenes shaped as rows (built by ``jobs.sync_scenes``).

    Attributes:
        scenes: one tuple per scene, in ``SCENE_COLUMNS`` order.
        files: (file id, scene id, path, size, duration, width, height).
        tags, performers: (scene id, tag or performer id).
        markers: (marker id, scene id, title, seconds, end seconds, primary tag id).
        names: kind ("tag", "performer", "studio") -> {id: name} the scenes mention.
        file_keys: scene id -> sorted (file id, path, size): a change means the
            scene's media must be generated again.
    """

    scenes: list[tuple[Any, ...]] = field(default_factory=list)
    files: list[tuple[Any, ...]] = field(default_factory=list)
    tags: list[tuple[Any, ...]] = field(default_factory=list)
    performers: list[tuple[Any, ...]] = field(default_factory=list)
    markers: list[tuple[Any, ...]] = field(default_factory=list)
    names: dict[str, dict[str, str]] = field(
        default_factory=lambda: {"tag": {}, "performer": {}, "studio": {}}
    )
    file_keys: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)


def _chunks(items: Sequence[T], size: int = _IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _cursor() -> Any:
    return database.obj.cursor()


def _select_in(sql: str, ids: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """Rows of ``sql`` (with one ``{marks}`` for the IN list) for ``ids``, in chunks."""
    cursor = _cursor()
    for chunk in _chunks(ids):
        yield from cursor.execute(sql.format(marks=", ".join("?" * len(chunk))), chunk)


def scene_hashes(ids: Sequence[str]) -> dict[str, tuple[str | None, bool]]:
    """id -> (content hash, removed) of the scenes among ``ids`` that are stored."""
    return {
        row[0]: (row[1], bool(row[2]))
        for row in _select_in(
            "SELECT id, content_hash, removed FROM scene WHERE id IN ({marks})", ids
        )
    }


def _file_keys(ids: Sequence[str]) -> dict[str, list[tuple[Any, ...]]]:
    keys: dict[str, list[tuple[Any, ...]]] = {}
    for scene_id, file_id, path, size in _select_in(
        "SELECT scene_id, id, path, size FROM scene_file WHERE scene_id IN ({marks})", ids
    ):
        keys.setdefault(scene_id, []).append((file_id, path, size))
    return {scene_id: sorted(files) for scene_id, files in keys.items()}


def write_scene_page(page: ScenePage, write: set[str], existing: set[str], now: float) -> None:
    """Store the scenes of ``page`` whose ids are in ``write`` (new or changed ones).

    ``existing`` are the ids among them already stored: their files, tags,
    performers and markers are replaced, and they must be generated again when
    their files changed. The names the page mentions are upserted in any case.
    """
    cursor = _cursor()
    if write:
        old_files = _file_keys(sorted(existing)) if existing else {}
        cursor.executemany(_UPSERT_SCENE, [(*row, now) for row in page.scenes if row[0] in write])
        regenerate = [(i,) for i in existing if old_files.get(i, []) != page.file_keys[i]]
        cursor.executemany(
            "UPDATE scene SET generated = 0, generated_at = NULL WHERE id = ?", regenerate
        )
        if existing:
            replaced = [(i,) for i in existing]
            for table in ("scene_file", "scene_tag", "scene_performer", "scene_marker"):
                cursor.executemany(f"DELETE FROM {table} WHERE scene_id = ?", replaced)
        all_new = len(write) == len(page.scenes)
        children = (
            (
                "INSERT OR REPLACE INTO scene_file (id, scene_id, path, size, duration, width, "
                "height) VALUES (?, ?, ?, ?, ?, ?, ?)",
                page.files,
            ),
            ("INSERT OR IGNORE INTO scene_tag (scene_id, tag_id) VALUES (?, ?)", page.tags),
            (
                "INSERT OR IGNORE INTO scene_performer (scene_id, performer_id) VALUES (?, ?)",
                page.performers,
            ),
            (
                "INSERT OR REPLACE INTO scene_marker (id, scene_id, title, seconds, end_seconds, "
                "primary_tag_id) VALUES (?, ?, ?, ?, ?, ?)",
                page.markers,
            ),
        )
        for sql, rows in children:
            # a marker row leads with its own id: the scene id is always the second field
            scene_at = 0 if rows is page.tags or rows is page.performers else 1
            cursor.executemany(sql, rows if all_new else [r for r in rows if r[scene_at] in write])
    for kind, names in page.names.items():
        if names:
            cursor.executemany(
                f"INSERT INTO {_NAMED_TABLES[kind]} (id, name, aliases) VALUES (?, ?, '[]') "
                "ON CONFLICT(id) DO UPDATE SET name = excluded.name "
                "WHERE name IS NOT excluded.name",
                list(names.items()),
            )


def mark_scenes_removed_except(seen: set[str], now: float) -> int:
    """After a full resync: scenes Stash no longer has are marked removed."""
    cursor = _cursor()
    gone = [
        (row[0],)
        for row in cursor.execute("SELECT id FROM scene WHERE NOT removed")
        if row[0] not in seen
    ]
    cursor.executemany(
        "UPDATE scene SET removed = 1, removed_at = ? WHERE id = ?", [(now, i) for (i,) in gone]
    )
    return len(gone)


def store_named_entities(kind: str, rows: Iterable[tuple[str, str, str]]) -> int:
    """Upsert (id, name, aliases JSON) of Stash's tags, performers or studios."""
    rows = list(rows)
    _cursor().executemany(
        f"INSERT INTO {_NAMED_TABLES[kind]} (id, name, aliases) VALUES (?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET name = excluded.name, aliases = excluded.aliases",
        rows,
    )
    return len(rows)


def delete_named_entities_except(kind: str, seen: set[str]) -> int:
    cursor = _cursor()
    table = _NAMED_TABLES[kind]
    gone = [(row[0],) for row in cursor.execute(f"SELECT id FROM {table}") if row[0] not in seen]
    cursor.executemany(f"DELETE FROM {table} WHERE id = ?", gone)
    return len(gone)


def read_json_setting(key: str) -> Any:
    """The JSON value of an engine setting row (the sync watermark), or None."""
    row = Setting.get_or_none(Setting.key == key)
    return row.value if row is not None else None


def write_json_setting(key: str, value: Any) -> None:
    Setting.insert(key=key, value=value).on_conflict_replace().execute()


def sample_scene_paths(prefixes: Iterable[str]) -> list[str]:
    """One file path of a present scene under each prefix (for checking path maps)."""
    found = []
    for prefix in prefixes:
        row = (
            SceneFile.select(SceneFile.path)
            .join(Scene)
            .where(SceneFile.path.startswith(prefix) & ~Scene.removed)
            .first()
        )
        if row is not None:
            found.append(row.path)
    return found


def scene_screenshot(scene_id: str) -> str | None:
    """The scene's stored cover address (``paths.screenshot``), or None."""
    row = Scene.select(Scene.screenshot).where(Scene.id == str(scene_id)).first()
    return row.screenshot if row is not None else None


def scenes_needing_generation() -> list[str]:
    """Synced, not removed, not yet covered by a completed generation (reader thread)."""
    query = Scene.select(Scene.id).where(~Scene.removed & ~Scene.generated)
    return [row[0] for row in tuples(query)]


def mark_generated(scene_ids: list[str] | None, started_at: float, now: float) -> int:
    """Scenes a completed generation covered become generated (writer thread)."""
    if scene_ids is None:
        return rows_changed(
            Scene.update(generated=True, generated_at=now).where(
                ~Scene.removed & (Scene.synced_at <= started_at)
            )
        )
    count = 0
    for start in range(0, len(scene_ids), 500):
        chunk = scene_ids[start : start + 500]
        count += rows_changed(
            Scene.update(generated=True, generated_at=now).where(
                ~Scene.removed & Scene.id.in_(chunk)
            )
        )
    return count
