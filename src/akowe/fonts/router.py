"""`/api/fonts` (extension): upload TTF/OTF fonts for templates to use by family name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, Router, get, post
from litestar.datastructures import ResponseHeader, UploadFile
from litestar.di import Provide
from litestar.exceptions import ClientException, ValidationException
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)
from litestar.params import PathParameter, QueryParameter

from akowe.api.deps import Injected, PrincipalDep, ServicesDep
from akowe.api.edge import route_opt
from akowe.api.openapi import SECURITY, answers
from akowe.fonts import service as fonts_service
from akowe.fonts.exceptions import FontRejected
from akowe.fonts.models import Font
from akowe.fonts.schemas import FontRead
from akowe.pagination import DEFAULT_LIMIT, MAX_LIMIT, NEXT_CURSOR_HEADER
from akowe.schemas import Envelope, envelope

UPLOADED = "Font has been uploaded successfully"
ALREADY = "This font file was already uploaded"
ITEM = "/{fontId:str}"
# The file plus the multipart framing; anything larger is a 413 before it is parsed.
BODY_LIMIT = fonts_service.FONT_MAX_BYTES + 64 * 1024
FontDep = Injected[Font]
MULTIPART_HINT = "send the font as multipart/form-data in a part named `file`"


@dataclass
class UploadOperation(Operation):
    """The upload's request body, documented by hand: the handler reads the form itself,
    after authentication, so a keyless request is a 401 whatever its body holds."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description=(
                "`multipart/form-data` with one part, `file`: a TrueType (.ttf) or OpenType "
                "(.otf) font of at most 5 MiB whose licence (OS/2 fsType) allows embedding "
                "and subsetting. Collections (.ttc) and WOFF are not accepted."
            ),
            content={
                "multipart/form-data": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        properties={
                            "file": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
                        },
                        required=["file"],
                    )
                )
            },
        )


async def _font_part(request: Request[Any, Any, Any]) -> UploadFile:
    try:
        form = await request.form()
    except (ClientException, ValidationException) as exc:
        if exc.status_code == 413:
            raise
        raise FontRejected.field("file", f"{MULTIPART_HINT} ({exc.detail})") from exc
    part = form.get("file")
    if not isinstance(part, UploadFile):
        raise FontRejected.field("file", f"is required: {MULTIPART_HINT}")
    return part


async def load_font(
    font_id: Annotated[str, PathParameter(name="fontId")],
    principal: PrincipalDep,
    services: ServicesDep,
) -> Font:
    """Load-or-404 for every route with `{fontId}`."""
    return await fonts_service.require(services.db, principal=principal, font_id=font_id)


@post(
    "",
    status_code=201,
    request_max_body_size=BODY_LIMIT,
    # The edge meters the upload (size, pace) instead of reading it as a JSON body.
    opt=route_opt(body="upload"),
    operation_class=UploadOperation,
    responses=answers(Envelope[FontRead], 400, 413, 503, status=201),
)
async def upload_font(
    request: Request[Any, Any, Any], principal: PrincipalDep, services: ServicesDep
) -> Response[dict[str, Any]]:
    """Upload a TTF/OTF font (multipart `file`); the same file again answers 200 with the
    font recorded the first time."""
    part = await _font_part(request)
    content = await part.read(fonts_service.FONT_MAX_BYTES + 1)
    font, created = await fonts_service.upload(
        services.db,
        principal=principal,
        data=content,
        file_name=part.filename,
        store=services.store,
    )
    body = envelope(FontRead.wire(font), UPLOADED if created else ALREADY)
    return Response(body, status_code=201 if created else 200)


@get(
    "",
    responses=answers(Envelope[list[FontRead]], 400),
    response_headers=[
        ResponseHeader(
            name=NEXT_CURSOR_HEADER,
            description="Cursor of the next page; absent on the last page.",
            documentation_only=True,
        )
    ],
)
async def list_fonts(
    principal: PrincipalDep,
    services: ServicesDep,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="Page size.")] = (
        DEFAULT_LIMIT
    ),
    cursor: Annotated[
        str | None, QueryParameter(description=f"`{NEXT_CURSOR_HEADER}` of the previous page.")
    ] = None,
) -> Response[dict[str, Any]]:
    """List the account's uploaded fonts (newest first)."""
    page = await fonts_service.list_fonts(
        services.db, principal=principal, limit=limit, cursor=cursor
    )
    body = envelope([FontRead.wire(f) for f in page.items])
    headers = {NEXT_CURSOR_HEADER: page.next_cursor} if page.next_cursor else {}
    return Response(body, headers=headers)


@get(ITEM, responses=answers(Envelope[FontRead], 404))
async def get_font(font: FontDep) -> dict[str, Any]:
    """Get one uploaded font."""
    return envelope(FontRead.wire(font))


router = Router(
    path="/api/fonts",
    route_handlers=[upload_font, list_fonts, get_font],
    dependencies={"font": Provide(load_font)},
    tags=["Fonts"],
    security=SECURITY,
)
