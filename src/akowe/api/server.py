"""How uvicorn serves the app: no `server` header, timeouts, and its own 400s in the envelope.

uvicorn answers requests it cannot parse itself, in plain text, before the app sees them;
`HttpProtocol` answers them with the error envelope and the security headers instead. It
also closes a connection whose request headers do not arrive within
`AKOWE_HEADER_TIMEOUT_SECONDS` (a slow client cannot hold a connection by trickling them;
the body has its own limit at the edge, `AKOWE_BODY_TIMEOUT_SECONDS`). Idle keep-alive
connections close after `AKOWE_KEEP_ALIVE_SECONDS`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from akowe.api.edge import secure_headers
from akowe.api.loop import LOOP
from akowe.config import Settings

PROTOCOL = "akowe.api.server:HttpProtocol"
_BAD_REQUEST = b'{"success":false,"message":"The request is not valid HTTP.","code":"bad_request"}'
_header_timeout: float | None = None


def _header_seconds() -> float:
    global _header_timeout
    if _header_timeout is None:
        _header_timeout = Settings().header_timeout_seconds
    return _header_timeout


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with enveloped 400s and a header timeout."""

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        cycle = getattr(self, "cycle", None)
        if cycle is not None and not isinstance(cycle.transport, HeldTransport):
            cycle.transport = HeldTransport(self.transport, self.loop)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(_header_seconds(), self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        headers = secure_headers(
            [
                *self.server_state.default_headers,
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(_BAD_REQUEST)).encode()),
                (b"connection", b"close"),
            ]
        )
        content = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend([b"\r\n", _BAD_REQUEST])
        self.transport.write(b"".join(content))
        self.transport.close()


class HeldTransport:
    """The transport a response is written to: the first write (the status line and
    headers) is held until the next one (the body) or until the loop next runs, so that a
    response usually leaves in one write, one segment.

    uvicorn writes a response's head and body separately, and with TCP_NODELAY each write
    is a system call and a packet of its own: measured here, the head's write alone was a
    third of the CPU of answering `GET /api/users/balance`. A streamed response's head
    still leaves at once (on the loop's next turn), before its body is ready. Anything
    else asked of the transport (close, is_closing, ...) sends what is held first.
    """

    __slots__ = ("_flush", "_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._flush: asyncio.Handle | None = None  # set once the head was written

    def write(self, data: bytes) -> None:
        if self._flush is None:  # the head (a cycle answers one request)
            self._held = data
            self._flush = self._loop.call_soon(self.send_held)
            return
        if self._held is not None:
            data, self._held = self._held + data, None
            self._flush.cancel()
        self._transport.write(data)

    def send_held(self) -> None:
        """Write what is held, if anything."""
        if self._held is not None:
            data, self._held = self._held, None
            self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        self.send_held()
        return getattr(self._transport, name)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn settings for `akowe serve` and the tests' servers."""
    return {
        "http": PROTOCOL,
        "loop": LOOP,
        "server_header": False,
        "timeout_keep_alive": settings.keep_alive_seconds,
    }
