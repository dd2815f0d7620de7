"""The analysis-rules migration upgrades a database written before it, keeping its rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from stashdesk.store import Store
from stashdesk.store import db as store_db
from stashdesk.store.models import SceneAnalysis, TagRule

NEW_TABLES = ("analysis_request", "plan_note", "tag_mapping", "tag_rule")
NEW_ANALYSIS_COLUMNS = (
    "server_url",
    "model_key",
    "models",
    "frame_interval",
    "threshold",
    "vr_video",
)


def _as_before_the_migration(path: Path) -> int:
    """Turn a current database into one as the previous schema version left it."""
    version = store_db.MIGRATIONS.index(store_db._migration_analysis_rules)
    conn = sqlite3.connect(path)
    for table in NEW_TABLES:
        conn.execute(f'DROP TABLE "{table}"')
    for column in NEW_ANALYSIS_COLUMNS:
        conn.execute(f'ALTER TABLE scene_analysis DROP COLUMN "{column}"')
    conn.execute('ALTER TABLE scene DROP COLUMN "screenshot"')
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()
    return version


def test_an_older_database_gains_the_tables_and_columns(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.writer.submit(
        lambda: SceneAnalysis.create(
            scene_id="1", analyzer="video_tags", status="analysed", attempts=1, last_attempt_at=1.0
        )
    ).result()
    store.close()
    old = _as_before_the_migration(tmp_path / "stashdesk.db")

    store = Store(tmp_path)
    try:
        assert store_db.read_schema_version(store.path) == store_db.SCHEMA_VERSION
        assert list(tmp_path.glob(f"stashdesk.db.v{old}-*.bak"))
        row = store.writer.submit(lambda: SceneAnalysis.get(SceneAnalysis.scene_id == "1")).result()
        # analysed before the record of what produced it existed: unknown, not stale
        assert (row.status, row.frame_interval, row.model_key) == ("analysed", None, None)
        store.writer.submit(lambda: TagRule.create(key="*", ai_tag="*", updated_at=1.0)).result()
        columns = {c.name for c in store.db.get_columns("scene")}
        assert "screenshot" in columns
    finally:
        store.close()


def test_a_new_database_runs_the_migration_harmlessly(tmp_path: Path) -> None:
    store = Store(tmp_path)
    try:
        store_db._migration_analysis_rules(store.db)  # again: nothing to add, no error
        tables = set(store.db.get_tables())
        assert set(NEW_TABLES) <= tables
    finally:
        store.close()
