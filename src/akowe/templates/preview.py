"""`GET /api/templates/{templateId}/preview`: the design with sample values, as a PNG, so
users can check field placement before issuing."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from litestar import Response, Router, get
from litestar.params import PathParameter, QueryParameter

from akowe.api.deps import PrincipalDep, ServicesDep
from akowe.api.openapi import SECURITY, error_responses
from akowe.templates import service as templates_service
from akowe.templates.exceptions import RenderUnavailable

SAMPLE_ID = "00000000-0000-4000-8000-000000000000"


@get("/{templateId:str}/preview", media_type="image/png", responses=error_responses(400, 404))
async def preview_template(
    template_id: Annotated[str, PathParameter(name="templateId")],
    principal: PrincipalDep,
    services: ServicesDep,
    width: Annotated[int | None, QueryParameter(ge=16, le=4000)] = None,
) -> Response[bytes]:
    """Render the template with sample values (PNG); `width` scales it (extension), rounded
    up to one of 200, 400, 800, 1200, 1600, 2000 or 2400 pixels."""
    template = await templates_service.require(
        services.db, principal=principal, template_id=template_id
    )
    version = await services.db.one(
        templates_service.TEMPLATE_VERSION, template_id=template.id, version=template.version
    )
    if version is None:
        raise RenderUnavailable()
    verification_url = f"{services.settings.public_base_url}/verify/{SAMPLE_ID}"
    png = await services.render_gate.run(
        principal.account_id,
        partial(
            templates_service.preview,
            version,
            store=services.store,
            url=verification_url,
            width=width,
            cache=services.render_cache,
        ),
    )
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, no-cache"})


router = Router(
    path="/api/templates",
    route_handlers=[preview_template],
    tags=["Templates"],
    security=SECURITY,
)
