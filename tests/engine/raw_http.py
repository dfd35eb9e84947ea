"""A chat-completions server written on raw sockets, for what an ASGI server cannot do wrong:
resetting a connection before any header, HTTP/1.0 bodies ended by closing the connection,
headers that never come, keep-alive connections closed between requests.

Each request takes the next behaviour from `script` ("ok" once the script is used up):
    "ok"          HTTP/1.1, Content-Length, keep-alive
    "reset"       read the request, then reset the connection (RST) without a byte
    "reset_body"  send the headers and half the body, then reset
    "http10"      an HTTP/1.0 answer with no Content-Length, ended by closing the connection
    "silent"      read the request and never answer (until the test ends)
    "close_idle"  answer with keep-alive, then close the connection without saying so
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading

try:  # tests/ is on sys.path under pytest
    from fake_glm_model import default_oracle, dumps, items_of, params_of
except ImportError:
    from tests.fake_glm_model import default_oracle, dumps, items_of, params_of


class RawChatServer:
    """A loopback chat-completions server on raw sockets, run in a background thread."""

    def __init__(self, script: list[str]) -> None:
        self.script = list(script)
        self.seen: list[str] = []  # the behaviour each request got, in order
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> RawChatServer:
        self._thread.start()
        ready = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        ready.result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            while True:
                body = await _read_request(reader)
                if body is None:
                    return
                behaviour = self.script.pop(0) if self.script else "ok"
                self.seen.append(behaviour)
                data = json.dumps(_answer(body)).encode()
                if not await self._respond(behaviour, data, writer):
                    return
        finally:
            writer.close()

    async def _respond(self, behaviour: str, data: bytes, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection is finished."""
        if behaviour == "reset":
            _reset(writer)
            return False
        if behaviour == "silent":
            await asyncio.sleep(3600)
        if behaviour == "http10":
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + data)
            await writer.drain()
            return False
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: keep-alive\r\n\r\n"
        ).encode()
        if behaviour == "reset_body":
            writer.write(head + data[: len(data) // 2])
            await writer.drain()
            _reset(writer)
            return False
        writer.write(head + data)
        await writer.drain()
        return behaviour != "close_idle"


async def _read_request(reader: asyncio.StreamReader) -> dict | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    raw = await reader.readexactly(length)
    return json.loads(raw)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0: the peer sees a connection reset, not a clean end."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _answer(body: dict) -> dict:
    system = next(m["content"] for m in body["messages"] if m["role"] == "system")
    params = params_of(system)
    pairs = {item["id"]: default_oracle(params, item["text"]) for item in items_of(body) or []}
    choice = {"index": 0, "message": {"role": "assistant", "content": dumps(pairs)}}
    choice["finish_reason"] = "stop"
    return {"id": "raw", "object": "chat.completion", "choices": [choice]}
