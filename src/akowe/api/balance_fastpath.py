"""The balance endpoint answered before the framework: the one route that bypasses Litestar.

`GET /api/users/balance` is what integrations poll. Litestar's request handling alone
costs about as much as the key check and the read together, so a request that has no body
is answered here directly from ASGI, through `akowe.credits.router.read_balance`: the same
query and the same authentication function as the registered route (and every other route),
hence exactly the same rules (key expiry and revocation, mode, sub-account scope). Anything
that fails (a bad key, an unknown sub-account, a database error) falls through to the
registered Litestar route, which stays the one source of error responses and of the OpenAPI
docs. The rate limit is spent here exactly as the edge guard spends it for every keyed route
(a refusal falls through to the route, which refuses again with the 429). tests/test_balance.py
proves both answer alike.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.types import ASGIApp, Receive

from akowe.credits.router import read_balance
from akowe.errors import ServiceError

BALANCE_PATH = "/api/users/balance"
JSON_CONTENT_TYPE = b"application/json; charset=utf-8"
_READ = frozenset((b"x-api-key", b"x-subaccount-email"))


def balance_fast_path(app: Litestar) -> ASGIApp:
    """Wrap the app so that balance successes skip the framework."""
    services = app.state.services

    async def answer(scope: Any) -> tuple[bytes, tuple[tuple[bytes, bytes], ...]] | None:
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name in _READ:
                headers[name.decode()] = value.decode("latin-1")
            elif name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
                return None  # a body: let the route read (and size-check) it
        try:
            balance = await read_balance(services.db, services.settings, scope, headers)
        except ServiceError:
            return None
        # The same rate limit as every keyed route; a refusal is answered by the route.
        limiter = services.limiter
        decision = await limiter.hit(limiter.key, scope["state"]["key_id"])
        if not decision.allowed:
            return None
        return b'{"success":true,"data":{"balance":%d}}' % balance, decision.headers

    async def asgi(scope: Any, receive: Receive, send: Any) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == BALANCE_PATH
            and scope["method"] in ("GET", "POST")
        ):
            answered = await answer(scope)
            if answered is not None:
                scope["path_template"] = BALANCE_PATH  # the route's name in metrics
                body, limits = answered
                headers = [
                    (b"content-type", JSON_CONTENT_TYPE),
                    (b"content-length", str(len(body)).encode()),
                    *limits,
                ]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return asgi
