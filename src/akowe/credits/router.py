"""`/api/users/balance`: the credits left."""

from __future__ import annotations

from typing import TypedDict

from litestar import Router, route

from akowe.api.deps import PrincipalDep, SessionDep
from akowe.api.openapi import SECURITY, error_responses
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
    sync_to_thread=False,
    tags=["Misc"],
    security=SECURITY,
    responses=error_responses(),
)
def get_balance(principal: PrincipalDep, session: SessionDep) -> BalanceResponse:
    """Balance: the credits left for issuing certificates."""
    balance = credits_service.balance(session, account_id=principal.account_id, mode=principal.mode)
    return {"success": True, "data": {"balance": balance}}


router = Router(path="/api/users", route_handlers=[get_balance])
