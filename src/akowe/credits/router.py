"""`/api/users/balance`: the credits left."""

from __future__ import annotations

from typing import Any, TypedDict

from litestar import Request, Router, route

from akowe.api.deps import authenticate_request
from akowe.api.openapi import SECURITY, SUBACCOUNT_HEADER, error_responses
from akowe.credits import service as credits_service


class Balance(TypedDict):
    """`{"balance": N}`."""

    balance: int


class BalanceResponse(TypedDict):
    """Exactly `{"success": true, "data": {"balance": N}}`, as Akowe documents it."""

    success: bool
    data: Balance


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
    # The hottest endpoint calls the auth dependency's function directly: Litestar's
    # dependency injection costs more per request than the key check and the read together.
    principal = await authenticate_request(request)
    balance = await credits_service.read_balance(
        request.app.state.quick_reader, account_id=principal.account_id, mode=principal.mode
    )
    return {"success": True, "data": {"balance": balance}}


router = Router(path="/api/users", route_handlers=[get_balance], parameters=SUBACCOUNT_HEADER)
