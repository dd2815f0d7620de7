"""Access to upstream Stash's GraphQL schema for compatibility tests.

The schema files live beside the checkout in ``../shared/stash-schema`` (reference
data, never copied into this repository). Tests that need them call
:func:`require_upstream_schema`: it skips when the folder is absent, except under
``CI=true`` where a missing schema is a failure, so CI can never go green by
silently skipping the compatibility checks.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
from graphql import GraphQLSchema, build_schema


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


@functools.lru_cache(maxsize=1)
def load_upstream_schema() -> GraphQLSchema:
    """Build a graphql-core schema from every ``*.graphql`` file of upstream Stash."""
    files = sorted(UPSTREAM_SCHEMA_DIR.glob("**/*.graphql"))
    if not files:
        raise FileNotFoundError(f"no *.graphql files under {UPSTREAM_SCHEMA_DIR}")
    sdl = "\n".join(path.read_text(encoding="utf-8") for path in files)
    return build_schema(sdl)


def require_upstream_schema() -> GraphQLSchema:
    """Return the upstream schema, or skip (fail under ``CI=true``) when it is absent."""
    if not UPSTREAM_SCHEMA_DIR.is_dir():
        message = f"upstream Stash schema not found at {UPSTREAM_SCHEMA_DIR}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (required when CI=true)")
        pytest.skip(message)
    return load_upstream_schema()
