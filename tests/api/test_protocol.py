"""akowe's HTTP protocol writes a response's head and body together (one write, one TCP
segment with TCP_NODELAY), and still sends a streamed response's head before its body.

Checked on the wire: a raw socket against the protocol served by uvicorn on loopback, with
the server's `transport.write` calls counted (the only way to see how many writes a
response took; what the client reads is the same either way)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from akowe.api import server as server_module
from akowe.api.server import HeldTransport
from tests.conftest import _free_port, serve


class Recorder:
    """A transport that records writes (the test's stand-in for the socket's)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def run(steps: Any) -> None:
    """Run `steps(sink, held)` on a new loop: a HeldTransport over a Recorder."""
    loop = asyncio.new_event_loop()
    try:
        sink = Recorder()
        loop.run_until_complete(steps(sink, HeldTransport(sink, loop)))  # type: ignore[arg-type]
    finally:
        loop.close()


def test_head_and_body_leave_in_one_write() -> None:
    async def steps(sink: Recorder, held: HeldTransport) -> None:
        held.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        held.write(b"{}")
        await asyncio.sleep(0)  # the loop runs: nothing more is written
        assert sink.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]

    run(steps)


def test_a_streamed_head_leaves_when_the_loop_runs_and_chunks_follow_as_written() -> None:
    async def steps(sink: Recorder, held: HeldTransport) -> None:
        held.write(b"HEAD")
        assert sink.writes == []
        await asyncio.sleep(0)
        assert sink.writes == [b"HEAD"]
        held.write(b"chunk 1")
        held.write(b"chunk 2")
        assert sink.writes == [b"HEAD", b"chunk 1", b"chunk 2"]

    run(steps)


def test_chunks_after_a_coalesced_body_are_not_held() -> None:
    async def steps(sink: Recorder, held: HeldTransport) -> None:
        held.write(b"HEAD")
        held.write(b"first")
        held.write(b"second")
        assert sink.writes == [b"HEADfirst", b"second"]
        await asyncio.sleep(0)
        assert sink.writes == [b"HEADfirst", b"second"]

    run(steps)


def test_anything_else_asked_of_the_transport_sends_the_head_first() -> None:
    async def steps(sink: Recorder, held: HeldTransport) -> None:
        held.write(b"HEAD")
        held.close()
        assert sink.writes == [b"HEAD"]
        assert sink.closed
        assert held.is_closing()

    run(steps)


@pytest.fixture
def counted_writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many writes each response cycle's transport made (one list item per response)."""
    counts: list[int] = []
    original = HeldTransport.__init__

    def counting_init(self: HeldTransport, transport: Any, loop: Any) -> None:
        index = len(counts)
        counts.append(0)

        class Counting:
            def write(self, data: bytes) -> None:
                counts[index] += 1
                transport.write(data)

            def __getattr__(self, name: str) -> Any:
                return getattr(transport, name)

        original(self, Counting(), loop)  # type: ignore[arg-type]

    monkeypatch.setattr(server_module.HeldTransport, "__init__", counting_init)
    yield counts


async def _app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(0.5)  # the body is not ready yet: the head must not wait for it
        await send({"type": "http.response.body", "body": b"late", "more_body": False})
        return
    body = b'{"ok":true}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"11")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _request(port: int, path: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return sock


def test_a_served_response_is_one_write_and_a_streamed_head_is_not_delayed(
    counted_writes: list[int],
) -> None:
    port = _free_port()
    with serve(_app, port):
        for _ in range(3):  # on one connection and on new ones alike
            sock = _request(port, "/json")
            answer = b""
            while not answer.endswith(b'{"ok":true}'):
                answer += sock.recv(65536)
            sock.close()
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert counted_writes == [1, 1, 1]

        sock = _request(port, "/stream")
        started = time.monotonic()
        head = sock.recv(65536)
        waited = time.monotonic() - started
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"late" not in head
        assert waited < 0.4, f"the head waited {waited:.2f} s for the body"
        rest = b""
        while b"late" not in rest:
            rest += sock.recv(65536)
        sock.close()
