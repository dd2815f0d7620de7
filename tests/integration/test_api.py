"""The engine API of a real headless engine, over real HTTP on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stashdesk.api.routes import API_PREFIX, ENDPOINTS
from tests.cli_helpers import HeadlessProcess, api_key, engine_info, free_port, run_cli

SECRETS = {"stash.api_key": "stash-SECRET-8d1f", "qbittorrent.password": "qbit-SECRET-77aa"}


class Api:
    """A started headless engine and an httpx client that sends its key."""

    def __init__(self, data_dir: Path, engine: HeadlessProcess, url: str, key: str) -> None:
        self.data_dir, self.engine, self.url, self.key = data_dir, engine, url, key
        self.http = httpx.Client(base_url=url + API_PREFIX, headers={"X-Api-Key": key}, timeout=10)

    def get(self, path: str, **params: Any) -> Any:
        answer = self.http.get(path, params=params)
        assert answer.status_code == 200, (path, answer.status_code, answer.text)
        return answer.json()

    def post(self, path: str, body: Any = None) -> httpx.Response:
        return self.http.post(path, json=body)


def start_engine(data_dir: Path, log: Path, port: int) -> HeadlessProcess:
    engine = HeadlessProcess(data_dir, log, "--listen", f"127.0.0.1:{port}")
    engine.wait_for(
        lambda: (engine_info(data_dir) or {}).get("port") == port, what="the engine API"
    )
    return engine


def _started_api(tmp_path: Path) -> Iterator[Api]:
    data_dir = tmp_path / "data"
    for key, value in SECRETS.items():
        assert run_cli(data_dir, "config", "set", key, value).returncode == 0
    run_cli(data_dir, "daemons", "enable", "test-tick")
    run_cli(data_dir, "daemons", "set", "test-tick", "job_steps", "3")
    run_cli(data_dir, "daemons", "set", "test-tick", "job_interval_seconds", "60")
    key = api_key(data_dir)
    port = free_port()
    engine = start_engine(data_dir, tmp_path / "engine.log", port)
    client = Api(data_dir, engine, f"http://127.0.0.1:{port}", key)
    try:
        yield client
    finally:
        client.http.close()
        assert engine.terminate() == 0


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """An engine of the test's own (for tests that change things)."""
    yield from _started_api(tmp_path)


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One engine for the tests that only read or are refused (nothing changes)."""
    yield from _started_api(tmp_path_factory.mktemp("shared"))


def test_every_request_needs_the_key(shared_api: Api) -> None:
    api = shared_api
    for endpoint in ENDPOINTS:
        path = endpoint.path
        for name in endpoint.path_params:
            path = path.replace("{" + name + "}", "1" if name.endswith("_id") else "x")
        for headers in ({}, {"X-Api-Key": "wrong"}, {"X-Api-Key": api.key[:-1]}):
            answer = httpx.request(
                endpoint.method, api.url + API_PREFIX + path, headers=headers, timeout=10
            )
            assert answer.status_code == 401, (endpoint.path, answer.text)
            assert answer.json() == {"error": "unauthorized"}  # no detail
            api.get("/stats")  # (a success forgets the failures: no slowing down here)
    assert httpx.get(api.url + API_PREFIX + "/openapi.json").status_code == 401
    # The query parameter is accepted for the event stream only.
    assert (
        httpx.get(api.url + API_PREFIX + "/daemons", params={"api_key": api.key}).status_code == 401
    )


def test_repeated_failures_from_one_address_are_slowed_down(api: Api) -> None:
    def wrong() -> float:
        started = time.monotonic()
        assert (
            httpx.get(
                api.url + API_PREFIX + "/stats", headers={"X-Api-Key": "no"}, timeout=30
            ).status_code
            == 401
        )
        return time.monotonic() - started

    for _ in range(3):
        wrong()
    assert wrong() >= 0.25 and wrong() >= 0.5  # each failure waits longer than the last
    assert api.get("/stats")["jobs"] is not None  # the right key still answers at once


def test_reads_answer_with_the_cli_json_fields(api: Api) -> None:
    status = api.engine.wait_for(
        lambda: next(
            (
                d
                for d in api.get("/daemons")
                if d["name"] == "test-tick" and "sleeping" in (d["current_status"] or "")
            ),
            None,
        ),
        what="test-tick asleep",
    )
    cli = json.loads(run_cli(api.data_dir, "status", "--json").stdout)
    assert {d["name"] for d in cli} == {d["name"] for d in api.get("/daemons")}
    assert set(status) >= set(next(d for d in cli if d["name"] == "test-tick"))
    jobs = api.get("/jobs", limit=5)
    assert jobs["total"] == 1 and jobs["items"][0]["created_by"] == "test-tick"
    assert api.get(f"/jobs/{jobs['items'][0]['id'][:8]}")["result"]["steps"] == 3
    assert json.loads(run_cli(api.data_dir, "jobs", "list", "--json").stdout) == jobs["items"]
    history = api.get("/history", daemon="test-tick", kinds="status", limit=3)
    assert [h["kind"] for h in history["items"]] == ["status"] * 3 and history["next"]
    older = api.get("/history", daemon="test-tick", kinds="status", limit=3, before=history["next"])
    assert older["items"][0]["at"] <= history["items"][-1]["at"]
    assert api.get("/stats")["jobs"] == {"completed": 1}
    config = api.get("/daemons/test-tick/config")
    assert config["config"]["job_steps"] == 3
    assert {o["key"] for o in config["options"]} >= {"job_steps", "job_interval_seconds"}
    openapi = api.get("/openapi.json")
    assert {API_PREFIX + e.path for e in ENDPOINTS} <= set(openapi["paths"])


def test_actions_change_the_engine(api: Api) -> None:
    assert api.post("/daemons/test-tick/stop").json() == {"name": "test-tick", "state": "stopped"}
    answer = api.http.patch("/daemons/test-tick/config", json={"job_steps": 5})
    assert answer.status_code == 200 and answer.json()["config"]["job_steps"] == 5
    assert api.post("/daemons/test-tick/start").json()["state"] == "running"
    submitted = api.post(
        "/jobs", {"type": "TEST_STEPS", "metadata": {"steps": 100000, "delay": 0.01}}
    )
    assert submitted.status_code == 200, submitted.text
    job_id = submitted.json()["job_id"]
    api.engine.wait_for(lambda: api.get(f"/jobs/{job_id}")["status"] == "running", what="running")
    assert api.post(f"/jobs/{job_id}/cancel").json()["status"] in ("cancelling", "cancelled")
    api.engine.wait_for(
        lambda: api.get(f"/jobs/{job_id}")["status"] == "cancelled", what="cancelled"
    )
    saved = api.http.patch("/settings", json={"stash.timeout": 12, "analysis.threshold": "0.5"})
    assert saved.json()["saved"] == {"stash.timeout": "12", "analysis.threshold": "0.5"}
    assert json.loads(run_cli(api.data_dir, "config", "get", "stash.timeout").stdout) == 12
    assert api.http.delete("/settings/stash.timeout").json()["value"] == "30"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "reason"),
    [
        ("POST", "/jobs", "{not json", 400, "malformed JSON"),
        ("POST", "/jobs", "[1, 2]", 400, "must be a JSON object"),
        ("POST", "/jobs", '{"type": 3}', 400, "unknown job type"),
        ("POST", "/jobs", '{"type": "TEST_STEPS", "metadata": "x"}', 400, "metadata must be"),
        ("POST", "/jobs", '{"typo": "SYNC"}', 400, "unknown field 'typo'"),
        ("GET", "/jobs?limit=abc", None, 400, "limit must be a whole number"),
        (
            "GET",
            "/jobs?limit=999999999999",
            None,
            400,
            "limit must be a whole number from 1 to 1000",
        ),
        ("GET", "/jobs?status=sleeping", None, 400, "unknown job status"),
        ("GET", "/jobs?sort=colour", None, 400, "cannot sort jobs by"),
        ("GET", "/jobs/0000", None, 404, "no job with an id starting with"),
        ("GET", "/plans/999999999999999999999", None, 404, "no plan"),
        ("GET", "/plans/abc", None, 404, "plan_id must be a whole number"),
        ("POST", "/plans/7/approve", '{"min_confidence": 3}', 400, "min_confidence must be"),
        ("POST", "/plans/7/approve", "{}", 404, "no plan with id 7"),
        ("GET", "/daemons/nope", None, 404, "unknown daemon 'nope'"),
        ("POST", "/daemons/test-tick/explode", None, 400, "unknown daemon action"),
        ("PATCH", "/settings", '{"stash.timeout": "soon"}', 400, "must be a number"),
        ("PATCH", "/settings", '{"no.such": 1}', 404, "unknown setting"),
        ("GET", "/history?before=yesterday", None, 400, "not a cursor from a previous page"),
        ("GET", "/history?after=yesterday", None, 400, "after must be a time"),
        ("GET", "/nowhere", None, 404, "no such endpoint"),
    ],
)
def test_bad_input_gets_a_one_line_reason(
    shared_api: Api, method: str, path: str, body: str | None, status: int, reason: str
) -> None:
    api = shared_api
    answer = api.http.request(
        method, path, content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert reason in error and "\n" not in error and "Traceback" not in error
    assert "Traceback" not in api.engine.log()


def test_a_body_over_the_limit_is_413(shared_api: Api) -> None:
    api = shared_api
    answer = api.http.patch(
        "/settings",
        content=b'{"x": "' + b"a" * (1024 * 1024) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 413 and "over" in answer.json()["error"]


def test_no_secret_in_any_answer(api: Api) -> None:
    secrets = [*SECRETS.values(), api.key]
    answers = [
        api.http.get(e.path).text for e in ENDPOINTS if e.method == "GET" and not e.path_params
    ]
    answers += [api.http.get(f"/settings/{key}").text for key in (*SECRETS, "api.key")]
    assert "********" in api.http.get("/settings/stash.api_key").text
    answers += [api.http.post("/settings/test", json={"group": "Stash"}).text]
    answers += [api.http.patch("/settings", json={"stash.api_key": "new-SECRET-0c0c"}).text]
    answers += [api.http.post("/api-key/rotate").text]
    secrets.append("new-SECRET-0c0c")
    joined = "\n".join(answers)
    assert all(secret not in joined for secret in secrets)


def test_an_idle_or_slow_client_is_disconnected(tmp_path: Path) -> None:
    import asyncio

    from stashdesk.api.event_log import EventLog
    from stashdesk.api.server import ApiServer
    from stashdesk.events import EventBus

    async def main() -> float:
        server = ApiServer(
            None,
            EventLog(EventBus()),
            lambda: "k" * 43,  # type: ignore[arg-type]
            idle_timeout=0.5,
        )
        await server.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /api/v1/stats HTTP/1.1\r\nHost: x\r\n")  # headers never end
            await writer.drain()
            started = time.monotonic()
            async with asyncio.timeout(10):
                while await reader.read(1024):
                    pass
            writer.close()
            return time.monotonic() - started
        finally:
            await server.stop()

    assert asyncio.run(main()) < 5


def test_a_leftover_engine_file_answered_by_another_process_gets_no_key(tmp_path: Path) -> None:
    """engine.json left by a killed engine; another program now answers on its port."""
    import http.server
    import os
    import threading

    data_dir = tmp_path / "data"
    key = api_key(data_dir)
    seen: list[tuple[str, dict[str, str], bytes]] = []

    class Impostor(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append((self.path, dict(self.headers), body))
            answer = json.dumps({"proof": "0" * 64, "instance": "x"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Impostor)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    (data_dir / "engine.json").write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "port": port,
                "host": "127.0.0.1",
                "tls": False,
                "url": f"http://127.0.0.1:{port}",
                "local_url": f"http://127.0.0.1:{port}",
                "instance": "x",
            }
        )
    )
    try:
        done = run_cli(data_dir, "daemons", "start", "test-tick")
        status = run_cli(data_dir, "status", "--json")
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 1
    assert "not this folder's StashDesk engine" in done.stderr
    assert "no StashDesk engine is running" in done.stderr
    assert status.returncode == 0 and "not running" in status.stderr
    assert seen and all(path == API_PREFIX + "/hello" for path, _h, _b in seen)
    for _path, headers, body in seen:
        assert key not in json.dumps(headers) + body.decode()
        assert "X-Api-Key" not in headers


def test_the_event_stream_resumes_across_a_drop_and_says_reset_after_a_restart(
    tmp_path: Path,
) -> None:
    import asyncio

    import aiohttp

    data_dir = tmp_path / "data"
    run_cli(data_dir, "daemons", "enable", "test-tick")
    run_cli(data_dir, "daemons", "set", "test-tick", "job_interval_seconds", "0.2")
    key = api_key(data_dir)
    port = free_port()
    url = f"http://127.0.0.1:{port}{API_PREFIX}/events"
    engine = start_engine(data_dir, tmp_path / "first.log", port)

    async def read_until(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[dict]:
        events: list[dict] = []
        async with asyncio.timeout(20):
            while len(events) < count:
                frame = json.loads((await ws.receive()).data)
                assert isinstance(frame, list)
                events += frame
        return events

    async def first_part() -> tuple[str, int, list[int]]:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url, params={"api_key": key}) as ws:
                hello = await ws.receive_json()
                assert hello["type"] == "hello"
                seen = await read_until(ws, 5)
            # disconnected: the engine goes on publishing; reconnect from the last seen
            last = seen[-1]["seq"]
            await asyncio.sleep(1.0)
            async with session.ws_connect(
                url, params={"api_key": key, "since": str(last), "instance": hello["instance"]}
            ) as ws:
                again = await ws.receive_json()
                assert again["type"] == "hello" and again["seq"] > last
                replayed = await read_until(ws, again["seq"] - last)
        seqs = [e["seq"] for e in seen + replayed]
        return hello["instance"], seqs[-1], seqs

    instance, last, seqs = asyncio.run(first_part())
    assert seqs == list(range(seqs[0], seqs[-1] + 1))  # nothing missed, nothing twice
    assert engine.terminate() == 0
    engine = start_engine(data_dir, tmp_path / "second.log", port)

    async def after_restart() -> dict:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(
                url, params={"api_key": key, "since": str(last), "instance": instance}
            ) as ws,
        ):
            return await ws.receive_json()

    try:
        reset = asyncio.run(after_restart())
        assert reset["type"] == "reset" and reset["instance"] != instance
    finally:
        assert engine.terminate() == 0


def test_the_cli_drives_a_remote_engine_over_tls(tmp_path: Path) -> None:
    engine_dir, client_dir = tmp_path / "server", tmp_path / "desktop"
    run_cli(engine_dir, "daemons", "enable", "test-tick")
    assert run_cli(engine_dir, "config", "set", "api.tls", "on").returncode == 0
    key = api_key(engine_dir)
    port = free_port()
    engine = start_engine(engine_dir, tmp_path / "engine.log", port)
    try:
        info = json.loads(run_cli(engine_dir, "api", "info", "--json").stdout)
        assert info["running"] and info["url"].startswith("https://")
        fingerprint = info["fingerprint"]
        url = f"https://127.0.0.1:{port}"

        def remote(*args: str, **env: str) -> Any:
            return run_cli(
                client_dir, "--engine", url, *args, STASHDESK_API_KEY=env.pop("key", key), **env
            )

        unknown = remote("status")
        assert unknown.returncode == 1 and fingerprint in unknown.stderr
        assert "never seen before" in unknown.stderr
        pinned = remote("status", "--json", "--fingerprint", fingerprint.replace(":", ""))
        assert pinned.returncode == 0, pinned.stderr
        assert any(d["name"] == "test-tick" for d in json.loads(pinned.stdout))
        assert (
            remote("daemons", "stop", "test-tick", "--fingerprint", fingerprint).stdout.strip()
            == "test-tick: stopped"
        )
        wrong_key = remote("status", "--fingerprint", fingerprint, key="nope" * 8)
        assert wrong_key.returncode == 1 and "refused the API key" in wrong_key.stderr
        changed = remote("status", "--fingerprint", "AB" * 32)
        assert changed.returncode == 1 and "has changed" in changed.stderr
        assert fingerprint in changed.stderr
        missing_key = run_cli(client_dir, "--engine", url, "status")
        assert missing_key.returncode == 2 and "STASHDESK_API_KEY" in missing_key.stderr
    finally:
        assert engine.terminate() == 0


def test_plain_http_is_refused_off_loopback_without_tls(tmp_path: Path) -> None:
    from stashdesk.app import api_address
    from stashdesk.settings import Settings
    from stashdesk.store.db import open_database

    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    open_database(data_dir)
    settings = Settings(data_dir, use_keyring=False)
    settings.reload()
    host, port, tls, cert = api_address(settings, data_dir, "0.0.0.0:0")
    assert (host, port) == ("0.0.0.0", 0) and tls is not None and cert is not None
    assert oct(cert.stat().st_mode & 0o777) == "0o600"
    assert api_address(settings, data_dir, "127.0.0.1:0")[2] is None
