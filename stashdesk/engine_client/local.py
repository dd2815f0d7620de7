"""The in-process transport: the engine runs in this process (the window's default).

Calls go straight to the engine's ``Operations`` and events come from its own bus,
so a status reaches a card without leaving the process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stashdesk.engine_client.base import EngineClient

if TYPE_CHECKING:
    from stashdesk.api.operations import Operations
    from stashdesk.app import Engine, Services

LOCAL_LABEL = "This computer"


class LocalClient(EngineClient):
    """A client of an engine running in this process.

    Attributes:
        engine: the Engine, when the client was made from one (None for a bare
            Operations, e.g. the CLI's view of a folder no engine runs on).
    """

    def __init__(
        self,
        ops: Operations,
        services: Services,
        engine: Engine | None = None,
        label: str = LOCAL_LABEL,
    ) -> None:
        super().__init__(ops, services.bus, label)
        self.engine = engine

    @classmethod
    def of(cls, engine: Engine) -> LocalClient:
        """The client of a started Engine."""
        assert engine.services is not None and engine.ops is not None
        return cls(engine.ops, engine.services, engine)
