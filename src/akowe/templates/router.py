"""`/api/templates`: certificate designs (background image + positioned fields)."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, Router, delete, get, patch, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, PathParameter, QueryParameter

from akowe.api.deps import (
    FileStoreDep,
    ImageFetcherDep,
    PrincipalDep,
    SessionDep,
    WriteSessionDep,
)
from akowe.api.openapi import SECURITY, SUBACCOUNT_HEADER, error_responses
from akowe.pagination import DEFAULT_LIMIT, MAX_LIMIT, NEXT_CURSOR_HEADER
from akowe.schemas import Envelope
from akowe.templates import service as templates_service
from akowe.templates.models import Template
from akowe.templates.schemas import TemplateCreate, TemplateRead, TemplateUpdate

CREATED = "Template has been created successfully"
UPDATED = "Template has been updated successfully"
DELETED = "Template has been deleted successfully"
ITEM = "/{templateId:str}"
TemplateDep = NamedDependency[Template]


def load_template(
    template_id: Annotated[str, PathParameter(name="templateId")],
    principal: PrincipalDep,
    session: SessionDep,
) -> Template:
    """Load-or-404 for every route with `{templateId}`."""
    return templates_service.require(session, principal=principal, template_id=template_id)


# Write handlers run in a thread: they may fetch a URL and decode an image.
@post("", sync_to_thread=True, status_code=201, responses=error_responses(400, 413))
def create_template(
    data: JSONBody[TemplateCreate],
    principal: PrincipalDep,
    write_session: WriteSessionDep,
    file_store: FileStoreDep,
    image_fetcher: ImageFetcherDep,
) -> Envelope[TemplateRead]:
    """Create a template; `imageUrl` may be a data URI, base64 or an http(s) URL."""
    template = templates_service.create(
        write_session, principal=principal, data=data, store=file_store, fetcher=image_fetcher
    )
    write_session.commit()
    return Envelope(message=CREATED, data=TemplateRead.build(template, file_store))


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
def list_templates(
    principal: PrincipalDep,
    session: SessionDep,
    file_store: FileStoreDep,
    limit: Annotated[
        int, QueryParameter(ge=1, le=MAX_LIMIT, description="Page size (extension).")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, QueryParameter(description=f"`{NEXT_CURSOR_HEADER}` of the previous page.")
    ] = None,
) -> Response[Envelope[list[TemplateRead]]]:
    """List templates (only the sub-account's with `x-subaccount-email`), newest first."""
    page = templates_service.list_templates(
        session, principal=principal, limit=limit, cursor=cursor
    )
    body: Envelope[list[TemplateRead]] = Envelope(
        data=[TemplateRead.build(t, file_store) for t in page.items]
    )
    headers = {NEXT_CURSOR_HEADER: page.next_cursor} if page.next_cursor else {}
    return Response(body, headers=headers)


@get(ITEM, sync_to_thread=False, responses=error_responses(404))
def get_template(template: TemplateDep, file_store: FileStoreDep) -> Envelope[TemplateRead]:
    """Get one template (extension)."""
    return Envelope(data=TemplateRead.build(template, file_store))


@patch(ITEM, sync_to_thread=True, responses=error_responses(400, 404, 413))
def update_template(
    data: JSONBody[TemplateUpdate],
    template: TemplateDep,
    principal: PrincipalDep,
    write_session: WriteSessionDep,
    file_store: FileStoreDep,
    image_fetcher: ImageFetcherDep,
) -> Envelope[TemplateRead]:
    """Update a template (extension); changing image, dimensions or fields adds a version."""
    updated = templates_service.update(
        write_session,
        principal=principal,
        template_id=template.id,
        data=data,
        store=file_store,
        fetcher=image_fetcher,
    )
    write_session.commit()
    return Envelope(message=UPDATED, data=TemplateRead.build(updated, file_store))


@delete(ITEM, sync_to_thread=True, status_code=200, responses=error_responses(404))
def delete_template(
    template: TemplateDep,
    principal: PrincipalDep,
    write_session: WriteSessionDep,
    file_store: FileStoreDep,
) -> Envelope[TemplateRead]:
    """Delete a template; certificates issued from it still render and verify."""
    deleted = templates_service.delete(write_session, principal=principal, template_id=template.id)
    write_session.commit()
    return Envelope(message=DELETED, data=TemplateRead.build(deleted, file_store))


router = Router(
    path="/api/templates",
    route_handlers=[
        create_template,
        list_templates,
        get_template,
        update_template,
        delete_template,
    ],
    dependencies={"template": Provide(load_template, sync_to_thread=False)},
    tags=["Templates"],
    security=SECURITY,
    parameters=SUBACCOUNT_HEADER,
)
