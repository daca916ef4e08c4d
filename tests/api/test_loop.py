"""The event loop akowe serves on (akowe.api.loop) accepts every waiting connection at once.

uvloop's own servers accept one connection per loop iteration (libuv/libuv#3696); under load
an iteration is long, and new clients waited seconds (tests/test_load.py shows it end to
end). These tests count loop iterations with a callback that re-schedules itself, so they
say how many iterations serving the waiting connections took, whatever the machine's speed.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
import uvloop

from akowe.api.loop import Loop, new_event_loop
from akowe.api.server import uvicorn_options
from akowe.config import Settings

WAITING = 64
BUSY = 0.02  # seconds of other work per loop iteration
T = TypeVar("T")


class Recorder(asyncio.Protocol):
    """Answers `ok` to whatever arrives and counts its connections."""

    def __init__(self, made: list[asyncio.BaseTransport]) -> None:
        self.made = made

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made.append(transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(b"ok")  # type: ignore[attr-defined]


def _listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(WAITING * 2)
    return sock


async def _iterations_to_serve(
    sock: socket.socket, clients: list[socket.socket], busy: float
) -> int:
    """Start a server on `sock` (whose backlog already holds `clients`) and count the loop
    iterations until every one is connected, each iteration also busy for `busy` seconds
    (as with requests from other connections to run)."""
    loop = asyncio.get_running_loop()
    made: list[asyncio.BaseTransport] = []
    ticks = 0
    served = asyncio.Event()

    def tick() -> None:  # once per iteration until every client is connected
        nonlocal ticks
        ticks += 1
        time.sleep(busy)
        if len(made) < len(clients):
            loop.call_soon(tick)
        else:
            served.set()

    server = await loop.create_server(lambda: Recorder(made), sock=sock, backlog=WAITING * 2)
    loop.call_soon(tick)
    await asyncio.wait_for(served.wait(), 10)
    iterations = ticks
    server.close()
    await server.wait_closed()
    await _close(made)
    assert len(made) == len(clients)
    return iterations


async def _close(transports: list[asyncio.BaseTransport]) -> None:
    for transport in transports:
        transport.close()
    await asyncio.sleep(0.05)  # their connection_lost callbacks run


def _queued_clients(sock: socket.socket) -> list[socket.socket]:
    clients = []
    for _ in range(WAITING):
        client = socket.create_connection(sock.getsockname())
        clients.append(client)
    return clients


def _run(loop_factory: Callable[[], asyncio.AbstractEventLoop], work: Awaitable[T]) -> T:
    """Run `work` on a new loop in another thread, as the tests' servers run (under pytest,
    closing a uvloop loop on the main thread hangs, uvloop's own or this one alike)."""
    results: list[T] = []

    def target() -> None:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            results.append(runner.run(work))  # type: ignore[arg-type]

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the loop did not finish"
    assert results, "the scenario failed (see the thread's exception above)"
    return results[0]


def _serve(loop_factory: Callable[[], asyncio.AbstractEventLoop], busy: float = BUSY) -> int:
    sock = _listening()
    clients = _queued_clients(sock)
    try:
        return _run(loop_factory, _iterations_to_serve(sock, clients, busy))
    finally:
        for client in clients:
            client.close()


def test_a_busy_loop_accepts_waiting_connections_in_a_few_iterations() -> None:
    iterations = _serve(new_event_loop)
    # One connection on the first pass (it cannot know the loop is busy yet), then one per
    # millisecond each 20 ms iteration took: 1 + 20 + 20 + 20 + 3, each connection's
    # transport set up by a task an iteration later.
    assert iterations <= 10, iterations


def test_uvloop_alone_accepts_one_connection_per_iteration() -> None:
    """What the loop is for: uvloop's own server takes 64 iterations, 1.3 s here, for what
    the test above does in a few (if this fails, uvloop has changed and akowe.api.loop may
    no longer be needed)."""
    assert _serve(uvloop.new_event_loop) >= WAITING


def test_an_idle_loop_takes_one_connection_at_a_time() -> None:
    """A loop that comes back at once takes one connection per pass, as libuv does, so worker
    processes sharing the socket take turns instead of one taking everything waiting."""
    assert _serve(new_event_loop, busy=0) >= WAITING // 2


def test_akowe_serve_runs_on_this_loop() -> None:
    options = uvicorn_options(Settings())
    assert options["loop"] == "akowe.api.loop:new_event_loop"


def test_connections_are_served_and_refused_after_close() -> None:
    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        made: list[asyncio.BaseTransport] = []
        server = await loop.create_server(lambda: Recorder(made), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello")
        assert await reader.readexactly(2) == b"ok"
        # uvloop's own transport, TCP_NODELAY set, as on connections libuv accepts itself.
        (transport,) = made
        assert type(transport).__module__.startswith("uvloop")
        served = transport.get_extra_info("socket")
        assert served.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        server.close()
        await server.wait_closed()
        assert not server.is_serving()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
        # A connection accepted before the close stays open.
        writer.write(b"again")
        assert await reader.readexactly(2) == b"ok"
        writer.close()
        await writer.wait_closed()
        await _close(made)
        return True

    assert _run(new_event_loop, scenario())


class RunsOutOfFiles(socket.socket):
    """A listening socket whose first accept fails as when the process has no file left."""

    failed = False

    def accept(self) -> tuple[socket.socket, object]:
        if not RunsOutOfFiles.failed:
            RunsOutOfFiles.failed = True
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


def test_running_out_of_files_pauses_accepting_then_serves(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        sock = RunsOutOfFiles()
        sock.bind(("127.0.0.1", 0))
        made: list[asyncio.BaseTransport] = []
        server = await loop.create_server(lambda: Recorder(made), sock=sock)
        started = time.monotonic()
        reader, writer = await asyncio.open_connection(*sock.getsockname())
        writer.write(b"hello")
        assert await asyncio.wait_for(reader.readexactly(2), 10) == b"ok"
        waited = time.monotonic() - started
        writer.close()
        await writer.wait_closed()
        server.close()
        await _close(made)
        return waited

    waited = _run(new_event_loop, scenario())
    assert RunsOutOfFiles.failed
    assert waited >= 0.9  # paused for a second rather than spinning on the error
    assert "cannot accept connections for now" in caplog.text


def test_unix_servers_are_uvloops_own(tmp_path: Path) -> None:
    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, Loop)
        server = await loop.create_unix_server(asyncio.Protocol, path=str(tmp_path / "s"))
        server.close()
        return type(server).__module__.startswith("uvloop")

    assert _run(new_event_loop, scenario())
