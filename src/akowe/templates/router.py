"""`/api/templates`: certificate designs (background image + positioned fields)."""

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
from akowe.pagination import CURSOR_PATTERN, DEFAULT_LIMIT, MAX_LIMIT, NEXT_CURSOR_HEADER
from akowe.schemas import Envelope, envelope
from akowe.templates import service as templates_service
from akowe.templates.models import Template
from akowe.templates.schemas import TemplateCreate, TemplateRead, TemplateUpdate

CREATED = "Template has been created successfully"
UPDATED = "Template has been updated successfully"
DELETED = "Template has been deleted successfully"
ITEM = "/{templateId:str}"
TemplateDep = Injected[Template]


async def load_template(
    template_id: Annotated[str, PathParameter(name="templateId")],
    principal: PrincipalDep,
    services: ServicesDep,
) -> Template:
    """Load-or-404 for every route with `{templateId}`."""
    return await templates_service.require(
        services.db, principal=principal, template_id=template_id
    )


@post(
    "",
    status_code=201,
    responses=answers(Envelope[TemplateRead], 400, 413, status=201, message=CREATED),
    opt=route_opt(body="image"),
)
async def create_template(
    data: JSONBody[TemplateCreate], principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Create a template; `imageUrl` may be a data URI, base64 or an http(s) URL."""
    template = await templates_service.create(
        services.db,
        principal=principal,
        data=data,
        store=services.store,
        fetcher=services.fetcher,
    )
    return envelope(TemplateRead.wire(template, services.store), CREATED)


@get(
    "",
    responses=answers(Envelope[list[TemplateRead]], 400),
    response_headers=[
        ResponseHeader(
            name=NEXT_CURSOR_HEADER,
            description="Cursor of the next page; absent on the last page.",
            documentation_only=True,
        )
    ],
)
async def list_templates(
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
    """List templates (only the sub-account's with `x-subaccount-email`), newest first."""
    page = await templates_service.list_templates(
        services.db, principal=principal, limit=limit, cursor=cursor
    )
    body = envelope([TemplateRead.wire(t, services.store) for t in page.items])
    headers = {NEXT_CURSOR_HEADER: page.next_cursor} if page.next_cursor else {}
    return Response(body, headers=headers)


@get(ITEM, responses=answers(Envelope[TemplateRead], 404))
async def get_template(template: TemplateDep, services: ServicesDep) -> dict[str, Any]:
    """Get one template (extension)."""
    return envelope(TemplateRead.wire(template, services.store))


@patch(
    ITEM,
    responses=answers(Envelope[TemplateRead], 400, 404, 413, message=UPDATED),
    opt=route_opt(body="image"),
)
async def update_template(
    data: JSONBody[TemplateUpdate],
    template: TemplateDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """Update a template (extension); changing image, dimensions or fields adds a version."""
    updated = await templates_service.update(
        services.db,
        principal=principal,
        template_id=template.id,
        data=data,
        store=services.store,
        fetcher=services.fetcher,
    )
    return envelope(TemplateRead.wire(updated, services.store), UPDATED)


@delete(ITEM, status_code=200, responses=answers(Envelope[TemplateRead], 404, message=DELETED))
async def delete_template(
    template: TemplateDep, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Delete a template; certificates issued from it still render and verify."""
    deleted = await services.db.transaction(
        partial(templates_service.delete, principal=principal, template_id=template.id),
        tenant=principal.account_id,
    )
    return envelope(TemplateRead.wire(deleted, services.store), DELETED)


router = Router(
    path="/api/templates",
    route_handlers=[
        create_template,
        list_templates,
        get_template,
        update_template,
        delete_template,
    ],
    dependencies={"template": Provide(load_template)},
    tags=["Templates"],
    security=SECURITY,
)
