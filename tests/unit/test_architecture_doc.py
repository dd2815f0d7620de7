"""docs/architecture.md matches the code: every file it names exists, every arrow it draws
is a real import, and every import it says never exists does not."""

from __future__ import annotations

import re
from pathlib import Path

from tests.unit.test_layers import PACKAGE, in_package, modules

DOC = PACKAGE.parent / "docs" / "architecture.md"


def block(kind: str) -> list[tuple[str, str]]:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"```{kind}\n(.*?)```", text, re.S)
    assert match, f"docs/architecture.md has no ```{kind} block"
    pairs = []
    for line in match.group(1).splitlines():
        source, target = (part.strip() for part in line.split("->"))
        pairs.append(
            (f"stashdesk.{source.removesuffix('.py')}", f"stashdesk.{target.removesuffix('.py')}")
        )
    return pairs


def imports_between(graph: dict[str, set[str]], source: str, target: str) -> list[str]:
    return [
        f"{module} imports {name}"
        for module, imported in graph.items()
        if in_package(module, source)
        for name in imported
        if in_package(name, target)
    ]


def test_every_file_the_doc_names_exists() -> None:
    named = set(
        re.findall(
            r"`(stashdesk/[\w/]+\.py|stashdesk/[\w/]+/|benchmarks/\w+\.py|"
            r"tests/[\w/]+\.py)`",
            DOC.read_text(encoding="utf-8"),
        )
    )
    assert len(named) > 10
    missing = [path for path in sorted(named) if not (PACKAGE.parent / path).exists()]
    assert missing == []


def test_every_arrow_is_a_real_import() -> None:
    graph = modules()
    missing = [f"{a} -> {b}" for a, b in block("arrows") if not imports_between(graph, a, b)]
    assert missing == []


def test_the_imports_it_rules_out_do_not_exist() -> None:
    graph = modules()
    found = [line for a, b in block("never") for line in imports_between(graph, a, b)]
    assert found == []


def test_the_doc_is_linked_from_the_readme_and_contributing() -> None:
    for name in ("README.md", "CONTRIBUTING.md"):
        assert "docs/architecture.md" in (PACKAGE.parent / name).read_text(encoding="utf-8")


def test_blocks_name_real_packages() -> None:
    for a, b in block("arrows") + block("never"):
        for name in (a, b):
            path = Path(PACKAGE.parent, *name.split("."))
            assert path.is_dir() or path.with_suffix(".py").exists(), name
