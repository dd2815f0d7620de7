"""The arrows of docs/architecture.md are the real imports: checked over the import graph
of every module under stashdesk/ (parsed, not imported)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "stashdesk"


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    here = list(parts[:-1])  # the package a relative import starts from
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                found.add(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules() -> dict[str, set[str]]:
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        graph[name.removesuffix(".__init__")] = imports_of(path)
    return graph


def in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_graph_is_found() -> None:
    graph = modules()
    assert len(graph) > 100 and "stashdesk.api.server" in graph


def test_no_engine_package_imports_the_cli_or_the_window() -> None:
    problems = []
    for module, imported in modules().items():
        for target, allowed in (
            ("stashdesk.cli", ("stashdesk.cli", "stashdesk.__main__")),
            ("stashdesk.ui", ("stashdesk.ui", "stashdesk.cli", "stashdesk.selfcheck")),
        ):
            if any(in_package(module, a) for a in allowed):
                continue
            problems += [
                f"{module} imports {name}" for name in imported if in_package(name, target)
            ]
    assert problems == []


def test_nothing_but_the_window_imports_qt() -> None:
    problems = [
        f"{module} imports {name}"
        for module, imported in modules().items()
        if not in_package(module, "stashdesk.ui")
        for name in imported
        if name.split(".")[0] in ("PySide6", "qasync")
    ]
    assert problems == []


def test_the_client_interface_knows_no_window_and_no_command() -> None:
    problems = [
        f"{module} imports {name}"
        for module, imported in modules().items()
        if in_package(module, "stashdesk.engine_client")
        for name in imported
        if in_package(name, "stashdesk.ui") or in_package(name, "stashdesk.cli")
    ]
    assert problems == []


# The window's pages reach the engine only through the client interface, so they work the
# same against an engine on another machine. Only the modules that host an engine in the
# window's process (start it, stop it, check it) may import it.
ENGINE_HOSTS = ("stashdesk.ui.main", "stashdesk.ui.selfcheck_support")
ENGINE_INSIDES = (
    "peewee",
    "stashdesk.store",
    "stashdesk.app",
    "stashdesk.daemons",
    "stashdesk.jobs",
    "stashdesk.clients",
    "stashdesk.analysis",
    "stashdesk.downloads",
    "stashdesk.notifications",
    "stashdesk.api.operations",
)


def test_the_window_talks_to_the_engine_only_through_the_client() -> None:
    problems = [
        f"{module} imports {name}"
        for module, imported in modules().items()
        if in_package(module, "stashdesk.ui") and module not in ENGINE_HOSTS
        for name in imported
        if any(in_package(name, inside) for inside in ENGINE_INSIDES)
    ]
    assert problems == []


DAEMON_SHARED = (
    "stashdesk.daemons.base",
    "stashdesk.daemons.manager",
    "stashdesk.daemons.schedule",
    "stashdesk.daemons.registry",
    "stashdesk.daemons",
)


def test_daemons_do_not_import_each_other() -> None:
    """They share what they need through jobs/ and analysis/, not through each other."""
    problems = [
        f"{module} imports {name}"
        for module, imported in modules().items()
        if in_package(module, "stashdesk.daemons") and module not in DAEMON_SHARED
        for name in imported
        if in_package(name, "stashdesk.daemons")
        and not any(in_package(name, shared) for shared in DAEMON_SHARED[:-1])
        and name != "stashdesk.daemons"
    ]
    assert problems == []


# Data access lives in stashdesk/store/ as named queries: no other module builds Peewee
# queries or SQL, so none needs Peewee, its extensions or the models.
STORE_INSIDES = ("peewee", "playhouse", "stashdesk.store.models")
SQL_MARKERS = ("execute_sql", "executemany", ".cursor(", "import sqlite3")


def test_nothing_outside_the_store_imports_peewee() -> None:
    problems = [
        f"{module} imports {name}"
        for module, imported in modules().items()
        if not in_package(module, "stashdesk.store")
        for name in imported
        if any(in_package(name, inside) for inside in STORE_INSIDES)
    ]
    assert problems == []


def test_nothing_outside_the_store_runs_sql() -> None:
    problems = [
        f"{path.relative_to(PACKAGE.parent)} has {marker}"
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0] != "store"
        for marker in SQL_MARKERS
        if marker in path.read_text(encoding="utf-8")
    ]
    assert problems == []
