"""`GET /verify/{certificateId}`: the public verification page (HTML, no JavaScript).

Errors on these routes are friendly HTML pages with the right status, never the JSON
envelope: people, not programs, open them.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from litestar import Request, Response, Router, get
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter

from akowe.api.deps import ServicesDep
from akowe.errors import ServiceError
from akowe.verification import service as verification_service
from akowe.web import pages

log = logging.getLogger("akowe.web")
HTML = "text/html"


def _headers(request: Request[Any, Any, Any]) -> dict[str, str]:
    services = request.app.state.services
    return {
        "Content-Security-Policy": pages.content_security_policy(services.signer.base_url),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        # The verdict changes when the certificate is revoked or expires: always revalidate.
        "Cache-Control": "no-cache",
    }


@get(
    "/{certificateId:str}",
    media_type=HTML,
    tags=["Verification"],
    responses={
        code: ResponseSpec(
            data_container=str, media_type=HTML, description=description, generate_examples=False
        )
        for code, description in (
            (400, "A friendly page: the address could not be read."),
            (404, "A friendly page: no certificate has this id."),
            (500, "A friendly page: something went wrong on our side."),
            (503, "A friendly page: busy, try again in a moment."),
        )
    },
)
async def verification_page(
    request: Request[Any, Any, Any],
    certificate_id: Annotated[str, PathParameter(name="certificateId")],
    services: ServicesDep,
) -> Response[bytes]:
    """The certificate's public verification page: verdict, named checks and details."""
    report = await verification_service.certificate_report(
        services.db,
        signer=services.signer,
        links=services.links,
        cache=services.reports,
        certificate_id=certificate_id,
    )
    if report is None:
        return Response(
            pages.not_found_page(), status_code=404, media_type=HTML, headers=_headers(request)
        )
    html = report.renders.get("html")
    if html is None:
        html = report.renders["html"] = pages.verification_page(report)
    return Response(html, media_type=HTML, headers=_headers(request))


@get("/{certificateId:str}/{rest:path}", media_type=HTML, include_in_schema=False)
async def verification_subpath(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Anything below a certificate id is not a page: the friendly 404."""
    return Response(
        pages.not_found_page(), status_code=404, media_type=HTML, headers=_headers(request)
    )


def html_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Any failure on the page: a friendly HTML page with the right status."""
    status = 500
    headers = _headers(request)
    if isinstance(exc, ServiceError):
        status = exc.status_code
        if status == 503:
            headers["Retry-After"] = str(getattr(exc, "retry_after", 1))
    elif isinstance(exc, HTTPException):
        status = exc.status_code
    if status >= 500 and status != 503:
        log.error("verification page failed", exc_info=exc, extra={"path": request.url.path})
    if status == 404:
        body = pages.not_found_page()
    elif status == 503:
        body = pages.message_page(
            "Please try again in a moment",
            "The service is busy right now. Reload this page in a few seconds.",
        )
    else:
        body = pages.message_page(
            "This page could not be shown",
            "Something went wrong on our side while checking this certificate. "
            "Please try again later.",
        )
    return Response(body, status_code=status, media_type=HTML, headers=headers)


router = Router(
    path="/verify",
    route_handlers=[verification_page, verification_subpath],
    exception_handlers={Exception: html_error},
)
