"""Akowe's `/v1` base URL: every `/api/...` route also answers under `/v1/api/...`.

Akowe's authentication page gives `https://api.akowe.app/v1/...` as the base URL while every
endpoint page writes `{{baseurl}}/api/...`, so clients exist configured either way. One
rewrite of the path before anything routes (the edge, the balance fast path, Litestar) makes
both the same request: same handler, same rules, same answer.
"""

from __future__ import annotations

from typing import Any

from litestar.types import ASGIApp, Receive, Send

BASE_PATH = "/v1"
_PREFIX = BASE_PATH + "/api/"
_RAW_PREFIX = _PREFIX.encode()


def v1_base_path(app: ASGIApp) -> ASGIApp:
    """Wrap the app so `/v1/api/...` is served as `/api/...`."""

    async def asgi(scope: Any, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(_PREFIX):
            scope = dict(scope)
            scope["path"] = scope["path"][len(BASE_PATH) :]
            raw = scope.get("raw_path")
            if isinstance(raw, bytes) and raw.startswith(_RAW_PREFIX):
                scope["raw_path"] = raw[len(BASE_PATH) :]
        await app(scope, receive, send)

    return asgi
