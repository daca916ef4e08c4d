"""`/api/audit`: the account's audit trail (extension)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, Router, get
from litestar.params import QueryParameter

from akowe.api.deps import PrincipalDep, ServicesDep
from akowe.api.openapi import SECURITY, answers
from akowe.api.query import reject_unknown
from akowe.audit import service as audit_service
from akowe.audit.schemas import AuditEventRead
from akowe.pagination import CURSOR_PATTERN, DEFAULT_LIMIT, MAX_LIMIT, NEXT_CURSOR_HEADER
from akowe.schemas import Envelope, envelope

PARAMETERS = ("certificateId", "limit", "cursor")


@get("", responses=answers(Envelope[list[AuditEventRead]], 400))
async def list_audit_events(
    request: Request[Any, Any, Any],
    principal: PrincipalDep,
    services: ServicesDep,
    certificate_id: Annotated[
        str | None, QueryParameter(name="certificateId", max_length=64)
    ] = None,
    limit: Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        QueryParameter(
            name="cursor",
            pattern=CURSOR_PATTERN,
            description=f"`{NEXT_CURSOR_HEADER}` of the previous page.",
        ),
    ] = None,
) -> Response[dict[str, Any]]:
    """The account's audit trail (extension), newest first, in this key's mode; the next
    page's cursor is in a header."""
    reject_unknown(request.query_params, PARAMETERS)
    page = await audit_service.list_events(
        services.db,
        account_id=principal.account_id,
        mode=principal.mode,
        certificate_id=certificate_id,
        limit=limit,
        cursor=cursor,
    )
    body = envelope([audit_service.to_wire(e) for e in page.items])
    headers = {NEXT_CURSOR_HEADER: page.next_cursor} if page.next_cursor else {}
    return Response(body, headers=headers)


router = Router(
    path="/api/audit",
    route_handlers=[list_audit_events],
    tags=["Audit"],
    security=SECURITY,
)
