"""Structured logs: one JSON line per request, with a request id and never a secret."""

from __future__ import annotations

import atexit
import itertools
import json
import logging
import logging.handlers
import os
import queue
import re
import sys
import time
from typing import Any

from litestar.types import ASGIApp, Receive, Send

access_log = logging.getLogger("akowe.access")


class JsonFormatter(logging.Formatter):
    """Render log records as single-line JSON objects."""

    _skip = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update({k: v for k, v in record.__dict__.items() if k not in self._skip})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, default=str))


_listener: logging.handlers.QueueListener | None = None
# Personal data that error messages can carry: email addresses anywhere, and the values
# PostgreSQL quotes in constraint errors (`DETAIL: Key (email)=(ada@example.com) exists`).
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_KEY_VALUES = re.compile(r"\)=\((?:[^()]|\([^()]*\))*\)")


def redact(text: str) -> str:
    """`text` without email addresses or the values of database constraint errors."""
    if "@" in text:
        text = _EMAIL.sub("<email>", text)
    if ")=(" in text:
        text = _KEY_VALUES.sub(")=(<redacted>)", text)
    return text


def configure_logging(level: str) -> None:
    """Send every akowe log to stderr as JSON lines, written by a background thread: a slow
    or blocked stderr consumer never stalls the event loop."""
    global _listener
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    if _listener is not None:
        atexit.unregister(_listener.stop)
        _listener.stop()
    log_queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _listener = logging.handlers.QueueListener(log_queue, handler)
    _listener.start()
    atexit.register(_listener.stop)
    root = logging.getLogger("akowe")
    root.handlers[:] = [_QueueHandler(log_queue)]
    root.setLevel(level.upper())
    root.propagate = False


class _QueueHandler(logging.handlers.QueueHandler):
    """Hands records to the writer thread; formatting (with tracebacks) happens there."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


# Request ids: a random per-process prefix and a counter; unique without a syscall per request.
_ID_PREFIX = os.urandom(6).hex()
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    """A request id unique across processes and restarts."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"


JSON = b"application/json"
JSON_UTF8 = b"application/json; charset=utf-8"


def request_log_middleware(app: ASGIApp) -> ASGIApp:
    """Assign a request id, echo it as `x-request-id`, log one line when the response ends,
    and label JSON responses `application/json; charset=utf-8` as API.md specifies."""

    async def middleware(scope: Any, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        rid = request_id.encode()

        async def send_wrapper(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *(
                        (b"content-type", JSON_UTF8) if h == (b"content-type", JSON) else h
                        for h in message.get("headers", ())
                    ),
                    (b"x-request-id", rid),
                ]
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - start) * 1000, 2),
                        "key_id": state.get("key_id"),
                    },
                )

    return middleware
