"""Every GraphQL document StashDesk sends is valid for upstream Stash (and the stand-in)."""

from __future__ import annotations

import pytest
from graphql import OperationDefinitionNode, parse, validate

from stashdesk.clients.stash_documents import DOCUMENTS
from tests.standins.stash_server import stash_schema


def test_the_documents_are_collected() -> None:
    assert {
        "FIND_SCENES",
        "COUNT_SCENES",
        "FIND_JOB",
        "JOB_QUEUE",
        "METADATA_SCAN",
        "METADATA_GENERATE",
        "STOP_JOB",
        "JOBS_SUBSCRIBE",
        "METADATA_IDENTIFY",
        "METADATA_AUTO_TAG",
        "IDENTIFY_CONFIGURATION",
    } <= set(DOCUMENTS)


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_is_valid_for_upstream_stash(name: str, upstream_schema) -> None:
    # once per Stash version: the PyPI wheel's (newer) and ../shared/stash-schema
    document = parse(DOCUMENTS[name])
    assert validate(upstream_schema, document) == []
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    assert len(operations) == 1 and operations[0].name is not None  # named, for the logs


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_is_valid_for_the_stand_in(name: str) -> None:
    # the stand-in must understand everything StashDesk sends, or tests would only see 422s
    assert validate(stash_schema(), parse(DOCUMENTS[name])) == []
