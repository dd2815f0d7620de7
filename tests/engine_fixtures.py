"""Fixtures for the engine: a fresh data directory and a started Engine per test."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from stashdesk.app import Engine, Services
from stashdesk.daemons.schedule import Clock

os.environ["STASHDESK_NO_KEYRING"] = "1"  # never touch a developer's real keyring


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


class EngineFactory:
    """Starts engines on one data directory; stops whatever is still running."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.engines: list[Engine] = []

    async def start(
        self, *, auto_start: bool = False, control: bool = True, settings: dict | None = None
    ) -> Services:
        engine = Engine(self.data_dir, use_keyring=False)
        self.engines.append(engine)
        # The health checks run when a test asks: on their own they would notify about
        # the default Stash address in every test.
        services = await engine.start(auto_start=False, control=control, health_checks=False)
        if settings:
            for key, value in settings.items():
                await services.store.write(lambda k=key, v=value: services.settings.set(k, v))
        if auto_start:
            await services.manager.auto_start()
        return services

    @property
    def engine(self) -> Engine:
        return self.engines[-1]

    async def stop(self) -> None:
        for engine in reversed(self.engines):
            await engine.stop()


@pytest.fixture
async def engines(data_dir: Path):
    factory = EngineFactory(data_dir)
    yield factory
    await factory.stop()


@pytest.fixture
async def services(engines: EngineFactory) -> Services:
    return await engines.start()


async def wait_until(
    predicate: Callable[[], object], timeout: float = 5.0, message: str = "condition"
) -> object:
    """Wait (bounded) until ``predicate()`` is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        await asyncio.sleep(0.01)


class ManualClock(Clock):
    """A clock whose wall time tests set and jump, as a suspend or a clock change would;
    its monotonic time is the real one (it does not count a suspend)."""

    def __init__(self, at: float | None = None, check_interval: float = 0.05) -> None:
        self.offset = 0.0 if at is None else at - time.time()
        self.check_interval = check_interval

    def time(self) -> float:
        return time.time() + self.offset

    def jump(self, seconds: float) -> None:
        self.offset += seconds

    def set(self, at: float) -> None:
        self.offset = at - time.time()
