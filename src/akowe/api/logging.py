"""Structured logs: every line the process writes is one JSON object (the service's, uvicorn's,
httpx's alike); one line per request, with a request id and never a secret."""

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
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from litestar.types import ASGIApp, Receive, Send

from akowe.schemas import format_timestamp

access_log = logging.getLogger("akowe.access")


class JsonFormatter(logging.Formatter):
    """Render log records as single-line JSON objects."""

    # Standard record attributes, and uvicorn's ANSI-coloured copy of its message.
    _skip = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
        "message",
        "color_message",
    }

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": format_timestamp(datetime.fromtimestamp(record.created, UTC)),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "msg": record.getMessage(),
        }
        payload.update({k: v for k, v in record.__dict__.items() if k not in self._skip})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, default=str))


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


class _StderrHandler(logging.Handler):
    """Writes formatted records to whatever `sys.stderr` is when the record is written."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


class _QueueHandler(logging.handlers.QueueHandler):
    """Hands records to the writer thread; formatting (with tracebacks) happens there."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


# Loggers that may have handlers of their own (uvicorn installs plain-text ones): each sends
# its records up to the root logger's one JSON handler instead.
ROUTED_LOGGERS = ("akowe", "uvicorn", "uvicorn.error", "httpx", "httpcore")
# `akowe.access` writes the one line per request; uvicorn's access lines would repeat it.
SILENCED_LOGGERS = ("uvicorn.access",)

_handler: _QueueHandler | None = None


def json_handler() -> logging.Handler:
    """The process's one log handler: JSON lines on stderr, written by a background thread
    (a slow or blocked stderr consumer never stalls the event loop). Created once."""
    global _handler
    if _handler is None:
        writer = _StderrHandler()
        writer.setFormatter(JsonFormatter())
        log_queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        listener = logging.handlers.QueueListener(log_queue, writer)
        listener.start()
        atexit.register(listener.stop)
        _handler = _QueueHandler(log_queue)
    return _handler


def configure_logging(level: str) -> None:
    """Send every log of the process (akowe's, uvicorn's, httpx's, any library's) to stderr
    as JSON lines through one handler on the root logger. Safe to call again (each uvicorn
    worker process calls it when it builds the app; `akowe serve` calls it first)."""
    handler = json_handler()
    root = logging.getLogger()
    if handler not in root.handlers:
        root.addHandler(handler)
    root.setLevel(level.upper())
    for name in (*ROUTED_LOGGERS, *SILENCED_LOGGERS):
        routed = logging.getLogger(name)
        for own in list(routed.handlers):
            routed.removeHandler(own)
        routed.propagate = name not in SILENCED_LOGGERS
    logging.getLogger("akowe").setLevel(level.upper())


# Request ids: a random per-process prefix and a counter; unique without a syscall per request.
_ID_PREFIX = os.urandom(6).hex()
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    """A request id unique across processes and restarts."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"


JSON = b"application/json"
JSON_UTF8 = b"application/json; charset=utf-8"


def request_log_middleware(
    app: ASGIApp, observe: Callable[[str, str | None, int, float], None] | None = None
) -> ASGIApp:
    """Assign a request id, echo it as `x-request-id`, log one line when the response ends,
    and label JSON responses `application/json; charset=utf-8` as API.md specifies. With
    `observe`, each answered request is also handed to it as (method, route template or
    None for an unknown path, status, seconds): akowe.metrics counts them."""

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
            seconds = time.perf_counter() - start
            if observe is not None:
                observe(scope["method"], scope.get("path_template"), status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(seconds * 1000, 2),
                        "key_id": state.get("key_id"),
                    },
                )

    return middleware
