"""The Stash stand-in's GraphQL-over-WebSocket endpoint (``jobsSubscribe``), as Stash serves it.

Stash (gqlgen's ``transport.Websocket`` with gorilla's upgrader) upgrades ``GET
/graphql`` after its HTTP middleware accepted the API key (``ApiKey`` header or
``?apikey=``), picks the first subprotocol the client offers among
``graphql-ws`` and ``graphql-transport-ws`` (none offered: ``graphql-ws``), ignores
the ``connection_init`` payload, and sends ``ka`` keep-alives every 10 s on
``graphql-ws`` only; on ``graphql-transport-ws`` it answers ``ping`` with ``pong``.

This module speaks RFC 6455 over the request's own socket (no extra library, so the
stand-in stays a plain ``http.server``) and runs each subscription with graphql-core's
``subscribe`` on a small event loop of the connection's handler thread; the events come
from :meth:`StashStandin._publish_job` through :class:`JobEvents`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import socket
import struct
import threading
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, parse, subscribe, validate

if TYPE_CHECKING:
    from tests.standins.stash_server import StashStandin

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SUBPROTOCOLS = ("graphql-ws", "graphql-transport-ws")


class JobEvents:
    """Fan-out of job updates to every live subscription (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = []

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._queues)

    def publish(self, event: dict[str, Any]) -> None:
        with self._lock:
            targets = list(self._queues)
        for loop, queue in targets:
            with contextlib.suppress(RuntimeError):  # that connection's loop has closed
                loop.call_soon_threadsafe(queue.put_nowait, event)

    async def stream(self) -> AsyncIterator[dict[str, Any]]:
        entry = (asyncio.get_running_loop(), asyncio.Queue())
        with self._lock:
            self._queues.append(entry)
        try:
            while True:
                yield await entry[1].get()
        finally:
            with self._lock:
                self._queues.remove(entry)


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def choose_subprotocol(offered: str | None) -> str | None:
    for name in (p.strip() for p in (offered or "").split(",")):
        if name in SUBPROTOCOLS:
            return name
    return None


class WebSocketSession:
    """One upgraded connection: frames, the two protocols, and the subscriptions."""

    def __init__(
        self, standin: StashStandin, sock: socket.socket, reader: Any, subprotocol: str
    ) -> None:
        self.standin = standin
        self.sock = sock
        self.reader = reader
        self.protocol = subprotocol
        self.write_lock = threading.Lock()
        self.operations: dict[str, asyncio.Task] = {}
        self.closed = False

    # --- frames --------------------------------------------------------------------------

    def _read_exact(self, count: int) -> bytes:
        data = self.reader.read(count)
        if data is None or len(data) < count:
            raise ConnectionError("peer closed")
        return data

    def read_message(self) -> tuple[int, bytes]:
        """The next complete message (opcode, payload); control frames come alone."""
        parts: list[bytes] = []
        message_opcode = None
        while True:
            first, second = self._read_exact(2)
            fin, opcode = first & 0x80, first & 0x0F
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read_exact(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read_exact(8))[0]
            mask = self._read_exact(4) if second & 0x80 else b"\0\0\0\0"
            payload = bytearray(self._read_exact(length))
            for i in range(length):
                payload[i] ^= mask[i % 4]
            if opcode >= 0x8:
                return opcode, bytes(payload)
            if opcode != 0:
                message_opcode = opcode
            parts.append(bytes(payload))
            if fin:
                return message_opcode or 1, b"".join(parts)

    def send_frame(self, opcode: int, payload: bytes) -> None:
        header = bytes([0x80 | opcode])
        length = len(payload)
        if length < 126:
            header += bytes([length])
        elif length < 1 << 16:
            header += bytes([126]) + struct.pack("!H", length)
        else:
            header += bytes([127]) + struct.pack("!Q", length)
        with self.write_lock:
            if self.closed:
                return
            try:
                self.sock.sendall(header + payload)
            except OSError:
                self.closed = True

    def send(self, message: dict[str, Any]) -> None:
        self.send_frame(0x1, json.dumps(message).encode())

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.send_frame(0x8, struct.pack("!H", code) + reason.encode())
        self.closed = True

    def drop(self) -> None:
        """Cut the TCP connection without a close frame (a network failure, a crash)."""
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    # --- the session -----------------------------------------------------------------------

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        keepalive = None
        try:
            while not self.closed:
                try:
                    opcode, payload = await loop.run_in_executor(None, self.read_message)
                except (ConnectionError, OSError, ValueError):
                    return
                if opcode == 0x8:
                    self.close()
                    return
                if opcode == 0x9:
                    self.send_frame(0xA, payload)
                    continue
                if opcode != 0x1:
                    continue
                try:
                    message = json.loads(payload)
                except ValueError:
                    self.close(1002, "invalid json")
                    return
                await self._handle(message)
                if message.get("type") == "connection_init" and self.protocol == "graphql-ws":
                    keepalive = keepalive or asyncio.ensure_future(self._keepalive())
        finally:
            if keepalive is not None:
                keepalive.cancel()
            for task in self.operations.values():
                task.cancel()
            if self.operations:
                await asyncio.wait(list(self.operations.values()), timeout=2)
            self.closed = True

    async def _keepalive(self) -> None:
        while not self.closed:
            await asyncio.sleep(self.standin.keepalive_seconds)
            self.send({"type": "ka"})

    async def _handle(self, message: dict[str, Any]) -> None:
        kind, op_id = message.get("type"), message.get("id")
        new = self.protocol == "graphql-transport-ws"
        if kind == "connection_init":
            self.send({"type": "connection_ack"})
        elif kind == "ping" and new:
            self.send({"type": "pong"})
        elif kind in ("subscribe", "start") and op_id is not None:
            self.operations[op_id] = asyncio.ensure_future(
                self._run_operation(str(op_id), message.get("payload") or {})
            )
        elif kind in ("complete", "stop") and op_id in self.operations:
            self.operations.pop(op_id).cancel()
            if not new:
                self.send({"type": "complete", "id": op_id})
        elif kind == "connection_terminate":
            self.close()

    async def _run_operation(self, op_id: str, payload: dict[str, Any]) -> None:
        from tests.standins.stash_server import stash_schema

        new = self.protocol == "graphql-transport-ws"
        data_type = "next" if new else "data"
        try:
            document = parse(payload.get("query") or "")
            errors = validate(stash_schema(), document)
        except GraphQLError as exc:
            errors = [exc]
        if errors:
            formatted = [e.formatted for e in errors]
            self.send({"type": "error", "id": op_id, "payload": formatted if new else formatted[0]})
            return
        stream = subscribe(
            stash_schema(),
            document,
            context_value=self.standin,
            variable_values=payload.get("variables"),
            operation_name=payload.get("operationName"),
        )
        if asyncio.iscoroutine(stream):
            stream = await stream
        if not hasattr(stream, "__aiter__"):  # an ExecutionResult: a query, or an error
            self.send({"type": data_type, "id": op_id, "payload": stream.formatted})
            self.send({"type": "complete", "id": op_id})
            return
        try:
            async for result in stream:
                self.send({"type": data_type, "id": op_id, "payload": result.formatted})
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()
