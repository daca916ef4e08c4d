"""`/api/certificates`: issue, list, get, download, revoke, resend."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Sequence
from functools import partial
from typing import Annotated, Any

from litestar import Request, Response, Router, get, patch, post
from litestar.di import Provide
from litestar.params import HeaderParameter, JSONBody, PathParameter, QueryParameter
from litestar.response import Stream
from pydantic import ValidationError

from akowe import metrics
from akowe.api.deps import Injected, PrincipalDep, ServicesDep
from akowe.api.openapi import SECURITY, answers, error_responses
from akowe.api.query import reject_unknown
from akowe.certificates import idempotency, lifecycle
from akowe.certificates import service as certificates_service
from akowe.certificates.exceptions import CertificateErased
from akowe.certificates.models import Certificate
from akowe.certificates.schemas import (
    DATE_OR_DATE_TIME,
    CertificateFilters,
    CertificateRead,
    CorrectionRequest,
    IssueRequest,
    RevokeRequest,
)
from akowe.delivery import service as delivery_service
from akowe.delivery.schemas import MessageRead, ResendRequest
from akowe.errors import FieldError, ValidationFailed
from akowe.pagination import CURSOR_PATTERN, DEFAULT_LIMIT, MAX_LIMIT, NEXT_CURSOR_HEADER
from akowe.schemas import Envelope, envelope
from akowe.signing import service as signing_service

REVOKED = "Certificate has been revoked successfully"
RESENT = "Certificate email has been queued"
ITEM = "/{certificateId:str}"
CertificateDep = Injected[Certificate]
# Read with the key on every `{certificateId}` route (akowe.api.edge; Services.with_key).
WITH_KEY = {"certificateId": certificates_service.CERTIFICATE_WITH_KEY}
REPLAYED_HEADER = "Idempotent-Replayed"


async def load_certificate(
    certificate_id: Annotated[str, PathParameter(name="certificateId")],
    principal: PrincipalDep,
    services: ServicesDep,
) -> Certificate:
    """Load-or-404 for every route with `{certificateId}`."""
    return await certificates_service.require(
        services.db, principal=principal, certificate_id=certificate_id
    )


@post(
    "/issue",
    status_code=201,
    responses=answers(
        Envelope[CertificateRead],
        400,
        402,
        404,
        409,
        413,
        422,
        status=201,
        message=certificates_service.ISSUED,
    ),
)
async def issue_certificate(
    request: Request[Any, Any, Any],
    data: JSONBody[IssueRequest],
    principal: PrincipalDep,
    services: ServicesDep,
    idempotency_key: Annotated[
        str | None,
        HeaderParameter(
            name="Idempotency-Key",
            required=False,
            pattern=idempotency.KEY_PATTERN,
            max_length=idempotency.MAX_KEY_LENGTH,
            description="Extension: repeat a request safely; the first response is replayed "
            "(with `Idempotent-Replayed: true`).",
        ),
    ] = None,
) -> Response[dict[str, Any]]:
    """Issue one certificate: one credit, recorded and (with mailData) emailed."""
    key = idempotency.check_key(idempotency_key) if idempotency_key is not None else None
    result = await services.db.call(
        partial(
            certificates_service.issue,
            services.db,
            principal=principal,
            data=data,
            idempotency_key=key,
            path=request.url.path,
            store=services.store,
            links=services.links,
        ),
        tenant=principal.account_id,
    )
    if not result.replayed:
        services.signer.wake()  # the worker in this process signs the credential now
        if result.status == 201:
            metrics.CERTIFICATES_ISSUED.labels(principal.mode.value).inc()
    headers = {REPLAYED_HEADER: "true"} if result.replayed else None
    return Response(result.body, status_code=result.status, headers=headers)


OrganizationFilter = Annotated[str | None, QueryParameter(name="organizationId")]
TemplateFilter = Annotated[str | None, QueryParameter(name="templateId")]
EmailFilter = Annotated[str | None, QueryParameter(name="recipientEmail")]
StatusFilter = Annotated[
    str | None, QueryParameter(name="status", pattern="^(issued|revoked|expired|erased)$")
]
IssuedAfter = Annotated[
    str | None,
    QueryParameter(
        name="issuedAfter",
        description="From this time on (RFC 3339 date-time, or a date: UTC midnight).",
        schema_extra=DATE_OR_DATE_TIME,
    ),
]
IssuedBefore = Annotated[
    str | None,
    QueryParameter(
        name="issuedBefore",
        description="Before this time (RFC 3339 date-time, or a date: UTC midnight).",
        schema_extra=DATE_OR_DATE_TIME,
    ),
]
SearchQuery = Annotated[
    str | None,
    QueryParameter(
        name="q",
        min_length=1,
        max_length=200,
        pattern=r"\w",
        description=(
            "Extension: recipient name or email, case- and accent-insensitive; every word "
            "is the start of one of the recipient's words (`ade` finds `Adéwálé Ògúnlé`)."
        ),
    ),
]
FILTER_PARAMETERS = (
    "organizationId",
    "templateId",
    "recipientEmail",
    "status",
    "issuedAfter",
    "issuedBefore",
    "q",
)
LIST_PARAMETERS = (*FILTER_PARAMETERS, "limit", "cursor")
EXPORT_PAGE = MAX_LIMIT
CSV_COLUMNS = (
    "certificateId",
    "recipientName",
    "recipientEmail",
    "organizationId",
    "templateId",
    "status",
    "issuedAt",
    "expiresAt",
    "revokedAt",
    "revision",
    "correctedAt",
    "erasedAt",
    "emailStatus",
    "verificationUrl",
    "attributes",
)


def _filters(
    organization_id: str | None,
    template_id: str | None,
    recipient_email: str | None,
    status: str | None,
    issued_after: str | None,
    issued_before: str | None,
    q: str | None,
) -> CertificateFilters:
    """The list's and the export's filters, checked once (400 naming a bad one)."""
    return parse_filters(
        {
            "organizationId": organization_id,
            "templateId": template_id,
            "recipientEmail": recipient_email,
            "status": status,
            "issuedAfter": issued_after,
            "issuedBefore": issued_before,
            "q": q,
        }
    )


@get("", responses=answers(Envelope[list[CertificateRead]], 400))
async def list_certificates(
    request: Request[Any, Any, Any],
    principal: PrincipalDep,
    services: ServicesDep,
    organization_id: OrganizationFilter = None,
    template_id: TemplateFilter = None,
    recipient_email: EmailFilter = None,
    status: StatusFilter = None,
    issued_after: IssuedAfter = None,
    issued_before: IssuedBefore = None,
    q: SearchQuery = None,
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
    """List certificates (extension), newest first, filtered or searched (`q`); the next
    page's cursor is in a header; an unknown query parameter is a 400."""
    reject_unknown(request.query_params, LIST_PARAMETERS)
    filters = _filters(
        organization_id, template_id, recipient_email, status, issued_after, issued_before, q
    )
    page = await certificates_service.list_certificates(
        services.db, principal=principal, filters=filters, limit=limit, cursor=cursor
    )
    body = envelope([certificates_service.to_wire(c, services.links) for c in page.items])
    headers = {NEXT_CURSOR_HEADER: page.next_cursor} if page.next_cursor else {}
    return Response(body, headers=headers)


@get(
    "/export.csv",
    media_type="text/csv",
    responses=error_responses(400),
)
async def export_certificates(
    request: Request[Any, Any, Any],
    principal: PrincipalDep,
    services: ServicesDep,
    organization_id: OrganizationFilter = None,
    template_id: TemplateFilter = None,
    recipient_email: EmailFilter = None,
    status: StatusFilter = None,
    issued_after: IssuedAfter = None,
    issued_before: IssuedBefore = None,
    q: SearchQuery = None,
) -> Stream:
    """Every certificate the same filters list, as CSV with a header row, streamed page by
    page (extension); cells that a spreadsheet would run as a formula are quoted."""
    reject_unknown(request.query_params, FILTER_PARAMETERS)
    filters = _filters(
        organization_id, template_id, recipient_email, status, issued_after, issued_before, q
    )

    async def rows() -> AsyncIterator[bytes]:
        yield csv_line(CSV_COLUMNS)
        cursor: str | None = None
        while True:
            page = await certificates_service.list_certificates(
                services.db, principal=principal, filters=filters, limit=EXPORT_PAGE, cursor=cursor
            )
            chunk = [
                csv_line(csv_cells(certificates_service.to_wire(c, services.links)))
                for c in page.items
            ]
            yield b"".join(chunk)
            cursor = page.next_cursor
            if cursor is None:
                return

    return Stream(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="certificates.csv"'},
    )


def csv_cells(wire: dict[str, Any]) -> list[str]:
    """One certificate's CSV cells, in CSV_COLUMNS order."""
    cells: list[str] = []
    for column in CSV_COLUMNS:
        value = wire.get(column)
        if column == "attributes":
            value = json.dumps(value or {}, ensure_ascii=False, sort_keys=True)
        cells.append("" if value is None else str(value))
    return cells


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_line(cells: Sequence[str]) -> bytes:
    """One CSV line; a cell a spreadsheet would evaluate (starting with = + - @, a tab or a
    carriage return) is prefixed with a single quote (OWASP's CSV injection advice)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(
        ["'" + cell if cell.startswith(_FORMULA_START) else cell for cell in cells]
    )
    return out.getvalue().encode()


NO_FILTERS = CertificateFilters()


def parse_filters(params: dict[str, str | None]) -> CertificateFilters:
    """The list filters, or a 400 naming each bad query parameter and what it must be."""
    if all(value is None for value in params.values()):
        return NO_FILTERS  # most lists are unfiltered: nothing to validate
    try:
        return CertificateFilters.model_validate(params)
    except ValidationError as exc:
        errors = [
            FieldError(".".join(str(part) for part in error["loc"]), error["msg"])
            for error in exc.errors()
        ]
        first = f"{errors[0].field}: {errors[0].message}"
        raise ValidationFailed(f"Validation failed: {first}", errors) from None


@get(ITEM, responses=answers(Envelope[CertificateRead], 404))
async def get_certificate(certificate: CertificateDep, services: ServicesDep) -> dict[str, Any]:
    """Get one certificate (extension), with its status and email delivery status."""
    return envelope(certificates_service.to_wire(certificate, services.links))


@get(ITEM + "/messages", responses=error_responses(404))
async def list_certificate_messages(
    certificate: CertificateDep, services: ServicesDep
) -> Envelope[list[MessageRead]]:
    """The certificate's emails (extension); test-mode ones are captured here, never sent."""
    messages = await delivery_service.list_emails(
        services.db, certificate_id=certificate.id, tenant=certificate.account_id
    )
    mail_from = services.settings.mail_from
    return Envelope(data=[delivery_service.to_message_read(m, mail_from) for m in messages])


@post(
    ITEM + "/resend",
    status_code=202,
    responses=answers(Envelope[CertificateRead], 400, 404, 409, 429, status=202, message=RESENT),
)
async def resend_certificate(
    certificate_id: Annotated[str, PathParameter(name="certificateId")],
    principal: PrincipalDep,
    services: ServicesDep,
    data: JSONBody[ResendRequest | None] = None,
) -> Response[dict[str, Any]]:
    """Email the certificate again (extension): to its recipient, or to a corrected `email`
    that becomes the recipient; 409 if revoked, 429 past the daily resend limits."""
    await services.db.transaction(
        partial(
            certificates_service.resend,
            principal=principal,
            certificate_id=certificate_id,
            limits=certificates_service.ResendLimits(
                per_certificate=services.settings.resend_per_certificate_per_day,
                per_account=services.settings.resend_per_account_per_day,
            ),
            email=str(data.email) if data is not None and data.email else None,
        ),
        tenant=principal.account_id,
    )
    certificate = await certificates_service.require(
        services.db, principal=principal, certificate_id=certificate_id
    )
    body = envelope(certificates_service.to_wire(certificate, services.links), RESENT)
    return Response(body, status_code=202)


@get(ITEM + "/pdf", media_type="application/pdf", responses=error_responses(404, 409))
async def get_certificate_pdf(
    certificate: CertificateDep, services: ServicesDep
) -> Response[bytes]:
    """The certificate as a PDF (rendered once, then cached), carrying its signed credential;
    409 once erased."""
    if certificate.status == "erased":
        raise CertificateErased()
    await services.db.call(
        partial(
            signing_service.ensure_credential,
            services.db,
            signer=services.signer,
            certificate_id=certificate.id,
        ),
        tenant=certificate.account_id,
    )
    pdf = await services.render_gate.run(
        certificate.account_id,
        partial(
            services.db.run_readonly,
            partial(
                certificates_service.pdf,
                certificate=certificate,
                store=services.store,
                links=services.links,
                cache=services.render_cache,
            ),
        ),
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="certificate-{certificate.id}.pdf"',
            "Cache-Control": "private, max-age=3600",
        },
    )


@get(ITEM + "/image", media_type="image/png", responses=error_responses(400, 404, 409))
async def get_certificate_image(
    certificate: CertificateDep,
    services: ServicesDep,
    width: Annotated[int | None, QueryParameter(name="width", ge=16, le=4000)] = None,
) -> Response[bytes]:
    """The certificate as a PNG (extension); `width` is rounded up to one of
    200, 400, 800, 1200, 1600, 2000 or 2400 pixels (2400 at most); 409 once erased."""
    if certificate.status == "erased":
        raise CertificateErased()
    png = await services.render_gate.run(
        certificate.account_id,
        partial(
            services.db.run_readonly,
            partial(
                certificates_service.png,
                certificate=certificate,
                store=services.store,
                links=services.links,
                cache=services.render_cache,
                width=width,
            ),
        ),
    )
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@post(
    ITEM + "/revoke",
    status_code=200,
    responses=answers(Envelope[CertificateRead], 400, 404, 409, message=REVOKED),
)
async def revoke_certificate(
    certificate_id: Annotated[str, PathParameter(name="certificateId")],
    data: JSONBody[RevokeRequest],
    principal: PrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """Revoke a certificate with a reason; final, and no credit is refunded."""
    await services.db.transaction(
        partial(
            certificates_service.revoke,
            principal=principal,
            certificate_id=certificate_id,
            reason=data.reason,
            signer=services.signer,
        ),
        tenant=principal.account_id,
    )
    certificate = await certificates_service.require(
        services.db, principal=principal, certificate_id=certificate_id
    )
    return envelope(certificates_service.to_wire(certificate, services.links), REVOKED)


@patch(
    ITEM,
    responses=answers(
        Envelope[CertificateRead], 400, 404, 409, 413, 422, message=lifecycle.CORRECTED
    ),
)
async def correct_certificate(
    certificate_id: Annotated[str, PathParameter(name="certificateId")],
    data: JSONBody[CorrectionRequest],
    principal: PrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """Correct the recipient's name, email, attributes or expiry (extension): the same id,
    URL and QR code, a new revision, re-rendered and re-signed (the previous credential is
    superseded); no credit is spent. `notify` emails the corrected certificate. A revoked or
    erased certificate cannot be corrected (409)."""
    result = await services.db.call(
        partial(
            lifecycle.correct,
            services.db,
            principal=principal,
            certificate_id=certificate_id,
            data=data,
            store=services.store,
            signer=services.signer,
            cache=services.render_cache,
        ),
        tenant=principal.account_id,
    )
    if result.changed or result.notified:
        services.signer.wake()  # sign the new credential (and send the email) now
    certificate = await certificates_service.require(
        services.db, principal=principal, certificate_id=certificate_id
    )
    message = lifecycle.CORRECTED if result.changed else lifecycle.UNCHANGED
    return envelope(certificates_service.to_wire(certificate, services.links), message)


@post(
    ITEM + "/erase",
    status_code=200,
    responses=answers(Envelope[CertificateRead], 404, 409, message=lifecycle.ERASED),
)
async def erase_certificate(
    certificate_id: Annotated[str, PathParameter(name="certificateId")],
    principal: PrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """Erase the recipient's personal data everywhere it is kept and revoke the credential
    (extension; GDPR Article 17). A tombstone stays: the id, organization, template, dates,
    who erased it and when. Final: a second erasure is a 409."""
    await services.db.call(
        partial(
            lifecycle.erase,
            services.db,
            principal=principal,
            certificate_id=certificate_id,
            signer=services.signer,
            cache=services.render_cache,
            mail_dir=services.settings.data_dir / "outbox-mail",
        ),
        tenant=principal.account_id,
    )
    certificate = await certificates_service.require(
        services.db, principal=principal, certificate_id=certificate_id
    )
    return envelope(certificates_service.to_wire(certificate, services.links), lifecycle.ERASED)


router = Router(
    path="/api/certificates",
    route_handlers=[
        issue_certificate,
        list_certificates,
        export_certificates,
        get_certificate,
        get_certificate_pdf,
        get_certificate_image,
        revoke_certificate,
        correct_certificate,
        erase_certificate,
        resend_certificate,
        list_certificate_messages,
    ],
    dependencies={"certificate": Provide(load_certificate)},
    tags=["Certificates"],
    security=SECURITY,
)
