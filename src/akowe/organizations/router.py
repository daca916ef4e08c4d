"""`/api/profile/organization`: create, list, read, update and (soft) delete organizations."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from litestar import Response, Router, delete, get, patch, post
from litestar.datastructures import ResponseHeader
from litestar.di import Provide
from litestar.params import JSONBody, PathParameter, QueryParameter

from akowe.api.deps import Injected, PrincipalDep, ServicesDep
from akowe.api.edge import route_opt
from akowe.api.openapi import SECURITY, answers
from akowe.organizations import service as organizations_service
from akowe.organizations.models import Organization
from akowe.organizations.schemas import OrganizationCreate, OrganizationRead, OrganizationUpdate
from akowe.pagination import CURSOR_PATTERN, DEFAULT_LIMIT, MAX_LIMIT, NEXT_CURSOR_HEADER
from akowe.schemas import Envelope, envelope

CREATED = "Organization has been created successfully"
UPDATED = "Organization has been updated successfully"
DELETED = "Organization has been deleted successfully"
ITEM = "/{organizationId:str}"
OrganizationDep = Injected[Organization]


async def load_organization(
    organization_id: Annotated[str, PathParameter(name="organizationId")],
    principal: PrincipalDep,
    services: ServicesDep,
) -> Organization:
    """Load-or-404 for every route with `{organizationId}`."""
    return await organizations_service.require(
        services.db, principal=principal, organization_id=organization_id
    )


@post(
    "",
    status_code=201,
    responses=answers(Envelope[OrganizationRead], 400, 413, status=201, message=CREATED),
    opt=route_opt(body="image"),
)
async def create_organization(
    data: JSONBody[OrganizationCreate], principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Create an organization."""
    organization = await services.db.transaction(
        partial(
            organizations_service.create,
            principal=principal,
            data=data,
            store=services.store,
            signer=services.signer,
        ),
        tenant=principal.account_id,
    )
    return envelope(OrganizationRead.wire(organization, services.store), CREATED)


@get(
    "",
    responses=answers(Envelope[list[OrganizationRead]], 400),
    response_headers=[
        ResponseHeader(
            name=NEXT_CURSOR_HEADER,
            description="Cursor of the next page; absent on the last page.",
            documentation_only=True,
        )
    ],
)
async def list_organizations(
    principal: PrincipalDep,
    services: ServicesDep,
    limit: Annotated[
        int, QueryParameter(ge=1, le=MAX_LIMIT, description="Page size (extension).")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        QueryParameter(
            pattern=CURSOR_PATTERN,
            description=f"`{NEXT_CURSOR_HEADER}` of the previous page.",
        ),
    ] = None,
) -> Response[dict[str, Any]]:
    """List the account's organizations (newest first)."""
    page = await organizations_service.list_organizations(
        services.db, principal=principal, limit=limit, cursor=cursor
    )
    body = envelope([OrganizationRead.wire(o, services.store) for o in page.items])
    headers = {NEXT_CURSOR_HEADER: page.next_cursor} if page.next_cursor else {}
    return Response(body, headers=headers)


@get(ITEM, responses=answers(Envelope[OrganizationRead], 404))
async def get_organization(organization: OrganizationDep, services: ServicesDep) -> dict[str, Any]:
    """Get one organization."""
    return envelope(OrganizationRead.wire(organization, services.store))


@patch(
    ITEM,
    responses=answers(Envelope[OrganizationRead], 400, 404, 413, message=UPDATED),
    opt=route_opt(body="image"),
)
async def update_organization(
    data: JSONBody[OrganizationUpdate],
    organization: OrganizationDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """Update an organization (extension): only the fields sent change."""
    updated = await services.db.transaction(
        partial(
            organizations_service.update,
            principal=principal,
            organization_id=organization.id,
            data=data,
            store=services.store,
        ),
        tenant=principal.account_id,
    )
    return envelope(OrganizationRead.wire(updated, services.store), UPDATED)


@delete(ITEM, status_code=200, responses=answers(Envelope[OrganizationRead], 404, message=DELETED))
async def delete_organization(
    organization: OrganizationDep, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Delete an organization; certificates already issued stay verifiable."""
    deleted = await services.db.transaction(
        partial(organizations_service.delete, principal=principal, organization_id=organization.id),
        tenant=principal.account_id,
    )
    return envelope(OrganizationRead.wire(deleted, services.store), DELETED)


router = Router(
    path="/api/profile/organization",
    route_handlers=[
        create_organization,
        list_organizations,
        get_organization,
        update_organization,
        delete_organization,
    ],
    dependencies={"organization": Provide(load_organization)},
    tags=["Organizations"],
    security=SECURITY,
)
