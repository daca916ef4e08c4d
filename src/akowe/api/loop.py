"""The event loop akowe serves on: uvloop, with new connections accepted while it is busy.

Since libuv 1.45 (libuv/libuv#3696) a listening socket is accepted from once per loop
iteration. An iteration runs every request that is ready, so under load it takes tens of
milliseconds or more, and new connections queue in the kernel: measured here, with 256
keep-alive connections busy, a new client waited 2-7 s for `/healthz` (the listen queue held
50-165 connections the whole time), and wrk's own later connections timed out. asyncio's
loop accepts everything waiting each time the socket is ready, but serves a request ~30%
slower than uvloop, and one worker process taking everything waiting leaves the others idle
(`--workers N` share one listening socket; measured with 2 workers taking all: 198 of 256
new connections on one).

So the loop is uvloop's, and a plain (non-TLS) TCP server accepts in proportion to how long
the loop took to come back: one connection when it comes back at once (an idle process, as
libuv does: the processes take turns), and one per millisecond the last iteration took while
connections were left waiting (at most `ACCEPT_AT_ONCE`), so a busy loop accepts at about
the rate it could have. Measured with 2 workers: 256 new connections split between 107/149
and 134/122, 16 between 3/13 and 9/7 (uvloop's own: 5/11 to 7/9); with one worker and 256
busy connections a new client is answered in 0.35 s (it waits for its turn), not 2-7 s.

Each connection goes to uvloop's own transport (`connect_accepted_socket`: the same
transport, TCP_NODELAY set, as libuv's accept gives). TLS, Unix sockets and anything else go
to uvloop unchanged.

uvicorn takes it as `--loop akowe.api.loop:new_event_loop` (`uvicorn_options`).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import select
import socket
import time
from collections.abc import Callable
from typing import Any, cast

import uvloop

log = logging.getLogger("akowe.server")

# accept() failures that mean the process or the machine is out of something: wait a moment
# before trying again instead of spinning (as asyncio does).
_RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_RESOURCE_PAUSE_SECONDS = 1.0

# One connection per this many seconds the loop took to come back, at most ACCEPT_AT_ONCE.
SECONDS_PER_CONNECTION = 0.001
ACCEPT_AT_ONCE = 64


class Loop(uvloop.Loop):
    """uvloop, whose plain TCP servers keep accepting while the loop is busy."""

    async def create_server(  # type: ignore[override]
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        host: str | None = None,
        port: int | None = None,
        *,
        sock: socket.socket | None = None,
        ssl: Any = None,
        backlog: int = 100,
        **options: Any,
    ) -> asyncio.AbstractServer:
        uvloops: Any = super().create_server
        if ssl is not None or options:
            server = await uvloops(
                protocol_factory, host, port, sock=sock, ssl=ssl, backlog=backlog, **options
            )
            return cast(asyncio.AbstractServer, server)
        if sock is None:
            if not isinstance(host, str) or port is None:  # several addresses: uvloop's own
                server = await uvloops(protocol_factory, host, port, backlog=backlog)
                return cast(asyncio.AbstractServer, server)
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.create_server((host, port), family=family, backlog=backlog)
        elif sock.family not in (socket.AF_INET, socket.AF_INET6):
            server = await uvloops(protocol_factory, sock=sock, backlog=backlog)
            return cast(asyncio.AbstractServer, server)
        else:
            sock.listen(backlog)
        return AcceptingServer(self, sock, protocol_factory, backlog)


class AcceptingServer(asyncio.AbstractServer):
    """A listening TCP socket whose waiting connections are accepted as the loop allows."""

    def __init__(
        self,
        loop: Loop,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        backlog: int,
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._factory = protocol_factory
        self._at_once = max(1, min(backlog, ACCEPT_AT_ONCE))
        self._serving = False
        # When the last pass ended, if it left connections waiting.
        self._left_waiting_at: float | None = None
        self._waiting = select.poll()
        self._waiting.register(sock.fileno(), select.POLLIN)
        self._pending: set[asyncio.Task[None]] = set()
        sock.setblocking(False)
        self._start()

    # ------------------------------------------------------------ accepting

    def _start(self) -> None:
        if not self._serving and self._sock.fileno() != -1:
            self._serving = True
            self._loop.add_reader(self._sock.fileno(), self._accept_waiting)

    def _pause(self) -> None:
        if self._serving:
            self._serving = False
            self._loop.remove_reader(self._sock.fileno())

    def _accept_waiting(self) -> None:
        now = time.monotonic()
        count = 1
        if self._left_waiting_at is not None:
            took = now - self._left_waiting_at
            count = min(self._at_once, max(1, int(took / SECONDS_PER_CONNECTION)))
        self._left_waiting_at = None
        for _ in range(count):
            try:
                connection, _address = self._sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno not in _RESOURCE_ERRORS:
                    raise
                log.warning("cannot accept connections for now", extra={"error": exc.strerror})
                self._pause()
                self._loop.call_later(_RESOURCE_PAUSE_SECONDS, self._start)
                return
            task = self._loop.create_task(self._serve(connection))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        if self._waiting.poll(0):  # more wait: the next pass measures this iteration
            self._left_waiting_at = time.monotonic()

    async def _serve(self, connection: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, connection)
        except Exception:
            log.warning("a new connection could not be served", exc_info=True)
            connection.close()

    # ------------------------------------------------------------ asyncio.AbstractServer

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return () if self._sock.fileno() == -1 else (self._sock,)

    def close(self) -> None:
        """Stop accepting and close the listening socket (connections stay open)."""
        if self._sock.fileno() != -1:
            self._pause()
            self._sock.close()

    async def wait_closed(self) -> None:
        """Connections are the protocol's (uvicorn waits for them itself)."""

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        self._start()

    async def serve_forever(self) -> None:
        self._start()
        await self._loop.create_future()

    async def __aenter__(self) -> AcceptingServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new `Loop` (uvicorn's loop factory)."""
    return Loop()


LOOP = "akowe.api.loop:new_event_loop"
