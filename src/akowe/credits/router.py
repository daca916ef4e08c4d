"""`/api/users/balance`: the credits left."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypedDict

from litestar import Request, Router, route

from akowe.api.deps import note_authenticated
from akowe.api.openapi import SECURITY, error_responses
from akowe.config import Settings
from akowe.credits import service as credits_service
from akowe.db.base import utcnow
from akowe.db.database import Database


class Balance(TypedDict):
    """`{"balance": N}`."""

    balance: int


class BalanceResponse(TypedDict):
    """Exactly `{"success": true, "data": {"balance": N}}`, as Akowe documents it."""

    success: bool
    data: Balance


async def read_balance(db: Database, settings: Settings, scope: Any, headers: Any) -> int:
    """Authenticate the request's key and read its account's balance in one query; shared by
    this route and the balance fast path (akowe.api.balance_fastpath), so both apply exactly
    the same rules."""
    auth, balance = await credits_service.balance_for_key(
        db,
        raw_key=headers.get("x-api-key"),
        subaccount_email=headers.get("x-subaccount-email"),
        now=utcnow(),
        touch_after=timedelta(seconds=settings.key_last_used_resolution_seconds),
    )
    note_authenticated(scope, db, auth)
    return balance


# POST too: Akowe's documented sample uses `curl --data ''`, which makes curl send a POST.
@route(
    "/balance",
    http_method=["GET", "POST"],
    status_code=200,
    tags=["Misc"],
    security=SECURITY,
    responses=error_responses(),
)
async def get_balance(request: Request[Any, Any, Any]) -> BalanceResponse:
    """Balance: the credits left for issuing certificates."""
    services = request.app.state.services
    balance = await read_balance(services.db, services.settings, request.scope, request.headers)
    return {"success": True, "data": {"balance": balance}}


router = Router(path="/api/users", route_handlers=[get_balance])
