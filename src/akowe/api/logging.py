"""Structured logs: one JSON line per request, with a request id and never a secret."""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

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
        return json.dumps(payload, default=str)


def configure_logging(level: str) -> None:
    """Send every akowe log to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("akowe")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def request_log_middleware(app: ASGIApp) -> ASGIApp:
    """Assign a request id, echo it as `x-request-id`, and log one line when the response ends."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = uuid.uuid4().hex
        state = scope.setdefault("state", {})  # type: ignore[misc]
        state["request_id"] = request_id
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers  # type: ignore[typeddict-unknown-key]
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
