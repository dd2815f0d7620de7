"""pytest plugin: the ``webhook_receiver`` fixture (a real HTTP server for Apprise targets).

Registered from tests/conftest.py through ``pytest_plugins``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.standins.webhook_receiver import WebhookReceiver


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()
