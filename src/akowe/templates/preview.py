"""`GET /api/templates/{templateId}/preview`: the design with sample values, as a PNG, so
users can check field placement, and try the longest expected name, before issuing.

Every query parameter but `width` is a sample value: `name`, `certificateId`, or an
attribute key (`?name=Adewale%20Ogunleye&Course%20Name=Machine%20Learning`). A value the
design cannot draw or fit answers 422 `unrenderable_text`, exactly as issuing it would."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from litestar import Request, Response, Router, get
from litestar.params import PathParameter, QueryParameter

from akowe.api.deps import PrincipalDep, ServicesDep
from akowe.api.openapi import SECURITY, error_responses
from akowe.templates import service as templates_service
from akowe.templates.exceptions import RenderUnavailable, ValidationFailed

SAMPLE_ID = "00000000-0000-4000-8000-000000000000"
# The issue request's limits: 50 attributes of at most 1000 characters, plus name and id.
MAX_VALUES = 52
MAX_VALUE_LENGTH = 1000


def sample_values(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The query's sample values (every parameter but `width`), within the issue limits."""
    values = {k: v for k, v in request.query_params.items() if k != "width"}
    if len(values) > MAX_VALUES:
        raise ValidationFailed.field("query", f"at most {MAX_VALUES} sample values")
    for key, value in values.items():
        if len(key) > 200 or len(value) > MAX_VALUE_LENGTH:
            raise ValidationFailed.field(key[:200], f"is over {MAX_VALUE_LENGTH} characters")
    if "name" in values and not values["name"].strip():
        raise ValidationFailed.field("name", "must not be empty")
    return values


@get(
    "/{templateId:str}/preview",
    media_type="image/png",
    responses=error_responses(400, 404, 422),
)
async def preview_template(
    template_id: Annotated[str, PathParameter(name="templateId")],
    request: Request[Any, Any, Any],
    principal: PrincipalDep,
    services: ServicesDep,
    width: Annotated[int | None, QueryParameter(ge=16, le=4000)] = None,
) -> Response[bytes]:
    """Render the template with sample values (PNG); `width` scales it (extension), rounded
    up to one of 200, 400, 800, 1200, 1600, 2000 or 2400 pixels; any other query parameter
    (`name`, an attribute key) is a sample value (extension)."""
    values = sample_values(request)
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
            values=values,
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
