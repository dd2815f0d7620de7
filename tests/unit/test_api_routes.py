"""The endpoint table agrees with the operations it calls, and the event log keeps order."""

from __future__ import annotations

import inspect
import json

from stashdesk.api.event_log import EventLog
from stashdesk.api.operations import Operations
from stashdesk.api.routes import ENDPOINTS
from stashdesk.events import DaemonLogged, EventBus


def test_every_endpoint_calls_an_operation_with_arguments_it_takes() -> None:
    for endpoint in ENDPOINTS:
        method = getattr(Operations, endpoint.operation)
        assert inspect.iscoroutinefunction(method), endpoint.operation
        params = set(inspect.signature(method).parameters) - {"self"}
        wire_to_arg = {v: k for k, v in endpoint.aliases.items()}
        given = (
            set(endpoint.path_params)
            | set(endpoint.fixed)
            | set(endpoint.body)
            | {wire_to_arg.get(q, q) for q in endpoint.query}
        )
        if endpoint.body_as:
            given.add(endpoint.body_as)
        assert given <= params, (endpoint.path, given - params)
        required = {
            name
            for name, p in inspect.signature(method).parameters.items()
            if p.default is inspect.Parameter.empty and name != "self"
        }
        assert required <= given, (endpoint.path, required - given)


def test_operation_ids_and_routes_are_unique() -> None:
    routes = [(e.method, e.path) for e in ENDPOINTS]
    assert len(routes) == len(set(routes))


def test_the_event_log_replays_in_order_and_says_when_it_cannot() -> None:
    bus = EventBus()
    log = EventLog(bus, capacity=5)
    for n in range(3):
        bus.publish(DaemonLogged(daemon="d", level="INFO", message=f"m{n}"))
    assert [json.loads(t)["message"] for t in log.read(0)] == ["m0", "m1", "m2"]
    assert log.can_replay(0) and json.loads(log.read(1)[0])["seq"] == 2
    for n in range(3, 9):
        bus.publish(DaemonLogged(daemon="d", level="INFO", message=f"m{n}"))
    assert log.last_seq == 9 and log.first_seq == 5
    assert not log.can_replay(3)  # events 4.. partly gone: reload instead
    assert log.can_replay(4) and [json.loads(t)["message"] for t in log.read(4)] == [
        "m4",
        "m5",
        "m6",
        "m7",
        "m8",
    ]
    assert not log.can_replay(10)  # from the future (another engine run)
    log.close()
    bus.publish(DaemonLogged(daemon="d", level="INFO", message="after"))
    assert log.last_seq == 9
