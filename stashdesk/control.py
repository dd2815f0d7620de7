"""The control socket: how the CLI acts on a running engine.

A running engine listens on 127.0.0.1 (a random port) and writes
``engine.json`` (pid, port, a random token; owner-only) in the data directory.
A CLI command reads that file, connects, sends one JSON line with the token and
reads one JSON line back. A stale file (the engine was killed) is recognised
because nothing answers on its port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stashdesk import __version__

if TYPE_CHECKING:
    from stashdesk.app import Services

ENGINE_FILE = "engine.json"
CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 30.0


class NoEngineRunning(RuntimeError):
    def __init__(self, data_dir: Path) -> None:
        super().__init__(
            f"no StashDesk engine is running for {data_dir} - start one with `stashdesk` "
            f"or `stashdesk --headless`"
        )


class ControlError(RuntimeError):
    pass


def _read_engine_file(data_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(data_dir) / ENGINE_FILE).read_text())
    except (OSError, ValueError):
        return None


def send_command(data_dir: Path, command: str, timeout: float = COMMAND_TIMEOUT,
                 **args: Any) -> dict[str, Any]:
    """Send one command to the engine running on ``data_dir``; return its answer.

    Raises NoEngineRunning when none answers, ControlError when it refused.
    """
    info = _read_engine_file(data_dir)
    if info is None:
        raise NoEngineRunning(data_dir)
    try:
        with socket.create_connection(("127.0.0.1", int(info["port"])),
                                      timeout=CONNECT_TIMEOUT) as sock:
            sock.settimeout(timeout)
            request = {"token": info["token"], "command": command, "args": args}
            sock.sendall(json.dumps(request).encode() + b"\n")
            with sock.makefile("rb") as stream:
                line = stream.readline()
    except (OSError, KeyError, ValueError):
        raise NoEngineRunning(data_dir) from None
    if not line:
        raise NoEngineRunning(data_dir)
    answer = json.loads(line)
    if not answer.get("ok"):
        raise ControlError(answer.get("error", "the engine refused the command"))
    return answer


class ControlServer:
    """Serves commands from ``send_command`` for one engine."""

    def __init__(self, services: Services, data_dir: Path, mode: str = "headless") -> None:
        self.services = services
        self.data_dir = Path(data_dir)
        self.mode = mode
        self.token = secrets.token_hex(16)
        self._server: asyncio.base_events.Server | None = None
        self._handlers = {
            "ping": self._ping,
            "daemon.start": self._daemon_action,
            "daemon.stop": self._daemon_action,
            "daemon.restart": self._daemon_action,
            "daemon.reload": self._daemon_reload,
            "settings.reload": self._settings_reload,
            "job.cancel": self._job_cancel,
            "job.submit": self._job_submit,
        }
        self.extra_handlers: dict[str, Any] = {}  # the window adds "window.show"

    @staticmethod
    def find_running(data_dir: Path) -> dict[str, Any] | None:
        """The engine file of a live engine on ``data_dir``, or None."""
        try:
            answer = send_command(data_dir, "ping", timeout=CONNECT_TIMEOUT)
        except (NoEngineRunning, ControlError):
            return None
        return answer

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        path = self.data_dir / ENGINE_FILE
        content = json.dumps({"pid": os.getpid(), "port": port, "token": self.token,
                              "mode": self.mode, "version": __version__,
                              "started_at": time.time()})
        fd = os.open(path.with_suffix(".tmp"), os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as stream:
            stream.write(content)
        os.replace(path.with_suffix(".tmp"), path)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        info = _read_engine_file(self.data_dir)
        if info is not None and info.get("token") == self.token:
            with contextlib.suppress(OSError):
                (self.data_dir / ENGINE_FILE).unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), COMMAND_TIMEOUT)
            answer = await self._dispatch(line)
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _dispatch(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except ValueError:
            return {"ok": False, "error": "malformed request"}
        if not secrets.compare_digest(str(request.get("token", "")), self.token):
            return {"ok": False, "error": "wrong token"}
        command = request.get("command")
        handler = self._handlers.get(command) or self.extra_handlers.get(command)
        if handler is None:
            return {"ok": False, "error": f"unknown command {command!r}"}
        try:
            result = await handler(command, **(request.get("args") or {}))
        except (LookupError, ValueError, RuntimeError) as exc:
            return {"ok": False, "error": str(exc).strip("'\"")}
        return {"ok": True, **(result or {})}

    async def _ping(self, _command: str) -> dict[str, Any]:
        return {"pid": os.getpid(), "mode": self.mode, "version": __version__}

    async def _daemon_action(self, command: str, name: str) -> dict[str, Any]:
        manager = self.services.manager
        action = command.split(".", 1)[1]
        await getattr(manager, action)(name)
        return {"state": manager.handle(name).state}

    async def _daemon_reload(self, _command: str, name: str) -> dict[str, Any]:
        await self.services.manager.reload(name)
        return {}

    async def _settings_reload(self, _command: str) -> dict[str, Any]:
        await self.services.store.write(self.services.settings.reload)
        return {}

    async def _job_cancel(self, _command: str, job_id: str) -> dict[str, Any]:
        info = await self.services.runner.cancel(job_id)
        return {"status": info.status}

    async def _job_submit(self, _command: str, job_type: str, metadata: dict | None = None,
                          created_by: str | None = None) -> dict[str, Any]:
        info = await self.services.runner.submit(job_type, metadata or {},
                                                 created_by=created_by or "cli")
        return {"job_id": info.id}
