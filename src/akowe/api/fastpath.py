"""The balance endpoint's success path, answered before the framework.

`GET /api/users/balance` is what integrations poll. Measured here, Litestar's request
handling alone costs twice the key check and the read together, so the plain success case
(a valid key, no sub-account header, no body) is answered directly from ASGI. Anything else
(a bad key, a sub-account, a key whose last-used time is due) falls through to the
registered Litestar route, which stays the one source of errors and of the OpenAPI docs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Litestar
from litestar.types import ASGIApp, Receive

from akowe.accounts import service as accounts_service
from akowe.config import Settings
from akowe.credits import service as credits_service
from akowe.db.base import utcnow
from akowe.errors import ServiceError

BALANCE_PATH = "/api/users/balance"
_JSON = [(b"content-type", b"application/json")]


def balance_fast_path(app: Litestar) -> ASGIApp:
    """Wrap the app so balance successes skip the framework."""
    settings: Settings = app.state.settings
    reader = app.state.quick_reader
    touch_after = timedelta(seconds=settings.key_last_used_resolution_seconds)

    async def answer(scope: Any) -> bytes | None:
        api_key = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                api_key = value.decode("latin-1")
            elif name == b"x-subaccount-email" or (name == b"content-length" and value != b"0"):
                return None
        if api_key is None:
            return None
        try:
            principal, touch = await accounts_service.authenticate(
                reader,
                raw_key=api_key,
                subaccount_email=None,
                now=utcnow(),
                touch_after=touch_after,
            )
        except ServiceError:
            return None
        if touch:
            return None
        balance = await credits_service.read_balance(
            reader, account_id=principal.account_id, mode=principal.mode
        )
        scope.setdefault("state", {})["key_id"] = principal.key_id
        return b'{"success":true,"data":{"balance":%d}}' % balance

    async def asgi(scope: Any, receive: Receive, send: Any) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == BALANCE_PATH
            and scope["method"] in ("GET", "POST")
        ):
            body = await answer(scope)
            if body is not None:
                headers = [*_JSON, (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return asgi
