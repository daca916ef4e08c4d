"""`GET /api/templates/{templateId}/preview`: the design with sample values, as a PNG, so
users can check field placement before issuing."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, Router, get
from litestar.params import PathParameter, QueryParameter

from akowe.api.deps import FileStoreDep, PrincipalDep, SessionDep, SettingsDep
from akowe.api.openapi import SECURITY, SUBACCOUNT_HEADER, error_responses
from akowe.certificates.exceptions import RenderUnavailable
from akowe.rendering import render_png, sample_data
from akowe.templates import service as templates_service

SAMPLE_ID = "00000000-0000-4000-8000-000000000000"


@get(
    "/{templateId:str}/preview",
    sync_to_thread=True,
    media_type="image/png",
    responses=error_responses(400, 404),
)
def preview_template(
    template_id: Annotated[str, PathParameter(name="templateId")],
    principal: PrincipalDep,
    session: SessionDep,
    file_store: FileStoreDep,
    settings: SettingsDep,
    width: Annotated[int | None, QueryParameter(ge=16, le=4000)] = None,
) -> Response[bytes]:
    """Render the template with sample values (PNG); `width` scales it (extension)."""
    template = templates_service.require(session, principal=principal, template_id=template_id)
    design = templates_service.get_version(
        session, store=file_store, template_id=template.id, version=template.version
    )
    if design is None:
        raise RenderUnavailable()
    spec = templates_service.render_spec(design)
    sample = sample_data(spec, f"{settings.public_base_url}/verify/{SAMPLE_ID}")
    return Response(
        render_png(spec, sample, width),
        media_type="image/png",
        headers={"Cache-Control": "private, no-cache"},
    )


router = Router(
    path="/api/templates",
    route_handlers=[preview_template],
    tags=["Templates"],
    security=SECURITY,
    parameters=SUBACCOUNT_HEADER,
)
