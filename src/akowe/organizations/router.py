"""`/api/profile/organization`: create, list, read, update and (soft) delete organizations."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, Router, delete, get, patch, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, PathParameter, QueryParameter

from akowe.api.deps import FileStoreDep, PrincipalDep, SessionDep, WriteSessionDep
from akowe.api.openapi import SECURITY, SUBACCOUNT_HEADER, error_responses
from akowe.organizations import service as organizations_service
from akowe.organizations.models import Organization
from akowe.organizations.schemas import OrganizationCreate, OrganizationRead, OrganizationUpdate
from akowe.pagination import DEFAULT_LIMIT, MAX_LIMIT, NEXT_CURSOR_HEADER
from akowe.schemas import Envelope

CREATED = "Organization has been created successfully"
UPDATED = "Organization has been updated successfully"
DELETED = "Organization has been deleted successfully"
ITEM = "/{organizationId:str}"
OrganizationDep = NamedDependency[Organization]


def load_organization(
    organization_id: Annotated[str, PathParameter(name="organizationId")],
    principal: PrincipalDep,
    session: SessionDep,
) -> Organization:
    """Load-or-404 for every route with `{organizationId}`."""
    return organizations_service.require(
        session, principal=principal, organization_id=organization_id
    )


@post(
    "",
    sync_to_thread=True,
    status_code=201,
    responses=error_responses(400, 413),
)
def create_organization(
    data: JSONBody[OrganizationCreate],
    principal: PrincipalDep,
    write_session: WriteSessionDep,
    file_store: FileStoreDep,
) -> Envelope[OrganizationRead]:
    """Create an organization."""
    organization = organizations_service.create(
        write_session, principal=principal, data=data, store=file_store
    )
    write_session.commit()
    return Envelope(message=CREATED, data=OrganizationRead.build(organization, file_store))


@get(
    "",
    sync_to_thread=False,
    responses=error_responses(400),
    response_headers=[
        ResponseHeader(
            name=NEXT_CURSOR_HEADER,
            description="Cursor of the next page; absent on the last page.",
            documentation_only=True,
        )
    ],
)
def list_organizations(
    principal: PrincipalDep,
    session: SessionDep,
    file_store: FileStoreDep,
    limit: Annotated[
        int, QueryParameter(ge=1, le=MAX_LIMIT, description="Page size (extension).")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, QueryParameter(description=f"`{NEXT_CURSOR_HEADER}` of the previous page.")
    ] = None,
) -> Response[Envelope[list[OrganizationRead]]]:
    """List the account's organizations (newest first)."""
    page = organizations_service.list_organizations(
        session, principal=principal, limit=limit, cursor=cursor
    )
    body: Envelope[list[OrganizationRead]] = Envelope(
        data=[OrganizationRead.build(o, file_store) for o in page.items]
    )
    headers = {NEXT_CURSOR_HEADER: page.next_cursor} if page.next_cursor else {}
    return Response(body, headers=headers)


@get(ITEM, sync_to_thread=False, responses=error_responses(404))
def get_organization(
    organization: OrganizationDep, file_store: FileStoreDep
) -> Envelope[OrganizationRead]:
    """Get one organization."""
    return Envelope(data=OrganizationRead.build(organization, file_store))


@patch(ITEM, sync_to_thread=True, responses=error_responses(400, 404, 413))
def update_organization(
    data: JSONBody[OrganizationUpdate],
    organization: OrganizationDep,
    principal: PrincipalDep,
    write_session: WriteSessionDep,
    file_store: FileStoreDep,
) -> Envelope[OrganizationRead]:
    """Update an organization (extension): only the fields sent change."""
    updated = organizations_service.update(
        write_session,
        principal=principal,
        organization_id=organization.id,
        data=data,
        store=file_store,
    )
    write_session.commit()
    return Envelope(message=UPDATED, data=OrganizationRead.build(updated, file_store))


@delete(ITEM, sync_to_thread=True, status_code=200, responses=error_responses(404))
def delete_organization(
    organization: OrganizationDep,
    principal: PrincipalDep,
    write_session: WriteSessionDep,
    file_store: FileStoreDep,
) -> Envelope[OrganizationRead]:
    """Delete an organization; certificates already issued stay verifiable."""
    deleted = organizations_service.delete(
        write_session, principal=principal, organization_id=organization.id
    )
    write_session.commit()
    return Envelope(message=DELETED, data=OrganizationRead.build(deleted, file_store))


router = Router(
    path="/api/profile/organization",
    route_handlers=[
        create_organization,
        list_organizations,
        get_organization,
        update_organization,
        delete_organization,
    ],
    dependencies={"organization": Provide(load_organization, sync_to_thread=False)},
    tags=["Organizations"],
    security=SECURITY,
    parameters=SUBACCOUNT_HEADER,
)
