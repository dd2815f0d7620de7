"""Upstream Stash's GraphQL schema, in two versions, for the compatibility tests.

``pypi``
    The ``stash-graphql-client`` wheel on PyPI ships upstream's ``graphql/schema/``
    folder (a newer Stash than the shared copy). It is fetched with pip (``pip
    download``, pinned by :data:`WHEEL_VERSION` and :data:`WHEEL_SHA256`, never
    installed: it wants Python 3.12), checked against the hash, and only its
    ``schema/*.graphql`` files are unpacked into a cache folder outside the checkout
    (:func:`cache_dir`: ``$STASHDESK_TEST_CACHE``, else the user's cache folder), so
    later runs work offline. ``$STASHDESK_STASH_SCHEMA_WHEEL`` may name a copy of the
    wheel instead (it is checked against the same hash).
``shared``
    ``../shared/stash-schema`` beside the checkout (``$STASHDESK_UPSTREAM_SCHEMA``
    overrides it): reference data CI lays beside the clone, never copied in here.

Tests take the ``upstream_schema`` fixture, which runs them once per version. A
version that cannot be had is skipped with the way to get it, except under
``CI=true``, where it fails: CI always checks two Stash versions.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from graphql import GraphQLSchema, build_schema

WHEEL_NAME = "stash-graphql-client"
WHEEL_VERSION = "0.12.12"
WHEEL_FILE = f"stash_graphql_client-{WHEEL_VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "bc8a57d844cf812c5d8352617a12bf3649677d35d38f8851a9867ae2a93df233"
WHEEL_SCHEMA_PREFIX = "stash_graphql_client/schema/"
PIP_TIMEOUT = 180.0

SOURCES = ("pypi", "shared")
ENABLE_PYPI = (
    f"run the tests once while PyPI is reachable (the schema is then cached in "
    f"{{cache}}), or download {WHEEL_FILE} elsewhere and point "
    f"STASHDESK_STASH_SCHEMA_WHEEL at it"
)


class SchemaUnavailable(RuntimeError):
    """This version of the schema cannot be had here; the message says how to get it."""


def _find_schema_dir() -> Path:
    """``$STASHDESK_UPSTREAM_SCHEMA``, else ``shared/stash-schema`` beside the checkout or
    beside one of its ancestors (a git worktree such as ``/work/wt/stash`` sits one level
    deeper than the main checkout)."""
    override = os.environ.get("STASHDESK_UPSTREAM_SCHEMA")
    if override:
        return Path(override)
    checkout = Path(__file__).resolve().parents[1]
    candidates = [ancestor / "shared" / "stash-schema" for ancestor in checkout.parents]
    return next((c for c in candidates if c.is_dir()), candidates[0])


UPSTREAM_SCHEMA_DIR = _find_schema_dir()


def cache_dir() -> Path:
    override = os.environ.get("STASHDESK_TEST_CACHE")
    if override:
        return Path(override) / "stash-schema" / f"{WHEEL_NAME}-{WHEEL_VERSION}"
    import platformdirs

    return (
        Path(platformdirs.user_cache_dir("stashdesk"))
        / "test-schemas"
        / f"{WHEEL_NAME}-{WHEEL_VERSION}"
    )


def build_schema_from(folder: Path) -> GraphQLSchema:
    files = sorted(folder.glob("**/*.graphql"))
    if not files:
        raise SchemaUnavailable(f"no *.graphql files under {folder}")
    return build_schema("\n".join(path.read_text(encoding="utf-8") for path in files))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _download_wheel(into: Path) -> Path:
    """``pip download`` the pinned wheel (hash-checked by pip too) into ``into``."""
    requirements = into / "requirements.txt"
    requirements.write_text(f"{WHEEL_NAME}=={WHEEL_VERSION} --hash=sha256:{WHEEL_SHA256}\n")
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.12",
        "--require-hashes",
        "--quiet",
        "--dest",
        str(into),
        "-r",
        str(requirements),
    ]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SchemaUnavailable(f"pip could not fetch {WHEEL_FILE}: {exc}") from None
    wheel = into / WHEEL_FILE
    if done.returncode != 0 or not wheel.is_file():
        said = (done.stderr or done.stdout).strip().splitlines()
        raise SchemaUnavailable(
            f"pip could not fetch {WHEEL_FILE} from PyPI "
            f"({said[-1] if said else f'exit {done.returncode}'})"
        )
    return wheel


def fetch_pypi_schema_dir() -> Path:
    """The cached ``schema/`` folder of the pinned wheel, fetched and unpacked if needed."""
    target = cache_dir()
    marker = target / "SHA256"
    if marker.is_file() and marker.read_text().strip() == WHEEL_SHA256:
        return target / "schema"
    with tempfile.TemporaryDirectory(prefix="stashdesk-schema-") as scratch:
        given = os.environ.get("STASHDESK_STASH_SCHEMA_WHEEL")
        wheel = Path(given) if given else _download_wheel(Path(scratch))
        if not wheel.is_file():
            raise SchemaUnavailable(f"STASHDESK_STASH_SCHEMA_WHEEL={given} does not exist")
        digest = _sha256(wheel)
        if digest != WHEEL_SHA256:
            raise SchemaUnavailable(
                f"{wheel} has sha256 {digest}, not the pinned {WHEEL_SHA256} of {WHEEL_FILE}"
            )
        staging = Path(scratch) / "unpacked"
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                if name.startswith(WHEEL_SCHEMA_PREFIX) and name.endswith(".graphql"):
                    relative = Path("schema") / name[len(WHEEL_SCHEMA_PREFIX) :]
                    if ".." in relative.parts:
                        continue
                    (staging / relative).parent.mkdir(parents=True, exist_ok=True)
                    (staging / relative).write_bytes(archive.read(name))
        build_schema_from(staging / "schema")  # a broken download never reaches the cache
        (staging / "SHA256").write_text(WHEEL_SHA256 + "\n")
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(staging, target)
    return target / "schema"


@functools.cache
def load_schema(source: str) -> GraphQLSchema:
    """The schema of one version (raises SchemaUnavailable with the remedy)."""
    if source == "pypi":
        try:
            return build_schema_from(fetch_pypi_schema_dir())
        except SchemaUnavailable as exc:
            raise SchemaUnavailable(
                f"{exc} - to check against it, {ENABLE_PYPI.format(cache=cache_dir())}"
            ) from None
    if source == "shared":
        if not UPSTREAM_SCHEMA_DIR.is_dir():
            raise SchemaUnavailable(
                f"upstream Stash schema not found at {UPSTREAM_SCHEMA_DIR} "
                f"(set STASHDESK_UPSTREAM_SCHEMA to a copy of Stash's "
                f"graphql/schema folder)"
            )
        return build_schema_from(UPSTREAM_SCHEMA_DIR)
    raise ValueError(source)


def require_schema(source: str) -> GraphQLSchema:
    """The schema of ``source``, or skip saying how to get it (fail under ``CI=true``)."""
    try:
        return load_schema(source)
    except SchemaUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc} (required when CI=true)", pytrace=False)
        pytest.skip(str(exc))


def require_upstream_schema() -> GraphQLSchema:
    """The shared copy's schema (kept for callers that check one version)."""
    return require_schema("shared")


@pytest.fixture(params=SOURCES)
def upstream_schema(request: pytest.FixtureRequest) -> GraphQLSchema:
    """Upstream Stash's schema; the test runs once per version (``pypi``, ``shared``)."""
    return require_schema(request.param)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "upstream_schema" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.upstream_schema)
