"""`/api/certificates`: issue, list, get, download, revoke, resend."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from litestar import Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import HeaderParameter, JSONBody, PathParameter, QueryParameter
from sqlalchemy.orm import Session, sessionmaker

from akowe.accounts.service import Principal
from akowe.api.deps import (
    FileStoreDep,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    WriteSessionDep,
    authenticate_request,
)
from akowe.api.openapi import SECURITY, SUBACCOUNT_HEADER, error_responses
from akowe.certificates import idempotency
from akowe.certificates import service as certificates_service
from akowe.certificates.models import Certificate
from akowe.certificates.renders import RenderCache
from akowe.certificates.schemas import (
    CertificateFilters,
    CertificateRead,
    IssueRequest,
    RevokeRequest,
)
from akowe.certificates.service import Links
from akowe.config import Settings
from akowe.db.engine import write_lock
from akowe.delivery import service as delivery_service
from akowe.delivery.schemas import MessageRead, ResendRequest
from akowe.pagination import DEFAULT_LIMIT, MAX_LIMIT, NEXT_CURSOR_HEADER
from akowe.rendering import render_pdf, render_png
from akowe.schemas import Envelope
from akowe.storage.store import FileStore

ISSUED = "Certificate issued successfully"
REVOKED = "Certificate has been revoked successfully"
RESENT = "Certificate email has been queued"
ITEM = "/{certificateId:str}"
CertificateDep = NamedDependency[Certificate]
LinksDep = NamedDependency[Links]
CacheDep = NamedDependency[RenderCache]


def provide_links(settings: SettingsDep) -> Links:
    """Links on the public base URL."""
    return Links(settings.public_base_url)


def provide_render_cache(settings: SettingsDep) -> RenderCache:
    """The on-disk render cache in the data directory."""
    return RenderCache(settings.data_dir / "renders")


def load_certificate(
    certificate_id: Annotated[str, PathParameter(name="certificateId")],
    principal: PrincipalDep,
    session: SessionDep,
) -> Certificate:
    """Load-or-404 for every route with `{certificateId}`."""
    return certificates_service.require(session, principal=principal, certificate_id=certificate_id)


def _body(message: str, read: CertificateRead) -> dict[str, Any]:
    return {
        "success": True,
        "message": message,
        "data": read.model_dump(mode="json", by_alias=True),
    }


@post(
    "/issue",
    status_code=201,
    responses=error_responses(400, 402, 404, 409, 413, 422),
)
async def issue_certificate(
    request: Request[Any, Any, Any],
    data: JSONBody[IssueRequest],
    idempotency_key: Annotated[
        str | None,
        HeaderParameter(
            name="Idempotency-Key",
            required=False,
            description="Extension: repeat a request safely; the first response is replayed.",
        ),
    ] = None,
) -> Response[dict[str, Any]]:
    """Issue one certificate: one credit, recorded and (with mailData) emailed."""
    # The busiest write endpoint skips dependency injection (measured: Litestar resolving
    # five dependencies costs more than the whole transaction) and hops to a thread once.
    principal = await authenticate_request(request)
    key = idempotency.check_key(idempotency_key) if idempotency_key is not None else None
    status, body = await anyio.to_thread.run_sync(
        _issue, request.app.state, principal, data, key, request.url.path
    )
    return Response(body, status_code=status)


def _issue(
    state: State, principal: Principal, data: IssueRequest, key: str | None, path: str
) -> tuple[int, dict[str, Any]]:
    factory: sessionmaker[Session] = state.write_sessionmaker
    settings: Settings = state.settings
    store: FileStore = state.file_store
    if key is not None:
        fingerprint = idempotency.request_hash(path, data)
        replay = idempotency.claim(factory, principal=principal, key=key, fingerprint=fingerprint)
        if replay is not None:
            return replay.status, replay.body
    try:
        prepared = certificates_service.prepare(
            state.quick_reader, principal=principal, data=data, store=store
        )
        with write_lock(state.engine), factory() as session:
            certificate = certificates_service.record(
                session, principal=principal, prepared=prepared
            )
            body = _body(
                ISSUED, certificates_service.to_read(certificate, Links(settings.public_base_url))
            )
            if key is not None:
                idempotency.complete(session, principal=principal, key=key, status=201, body=body)
            session.commit()
    except BaseException:
        if key is not None:
            idempotency.release(factory, principal=principal, key=key)
        raise
    return 201, body


@get("", sync_to_thread=False, responses=error_responses(400))
def list_certificates(
    principal: PrincipalDep,
    session: SessionDep,
    links: LinksDep,
    organization_id: Annotated[str | None, QueryParameter(name="organizationId")] = None,
    template_id: Annotated[str | None, QueryParameter(name="templateId")] = None,
    recipient_email: Annotated[str | None, QueryParameter(name="recipientEmail")] = None,
    status: Annotated[
        str | None, QueryParameter(name="status", pattern="^(issued|revoked)$")
    ] = None,
    issued_after: Annotated[str | None, QueryParameter(name="issuedAfter")] = None,
    issued_before: Annotated[str | None, QueryParameter(name="issuedBefore")] = None,
    limit: Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, QueryParameter(name="cursor")] = None,
) -> Response[Envelope[list[CertificateRead]]]:
    """List certificates (extension), newest first; the next page's cursor is in a header."""
    filters = CertificateFilters.model_validate(
        {
            "organizationId": organization_id,
            "templateId": template_id,
            "recipientEmail": recipient_email,
            "status": status,
            "issuedAfter": issued_after,
            "issuedBefore": issued_before,
        }
    )
    page = certificates_service.list_certificates(
        session, principal=principal, filters=filters, limit=limit, cursor=cursor
    )
    body: Envelope[list[CertificateRead]] = Envelope(
        data=[certificates_service.to_read(c, links) for c in page.items]
    )
    headers = {NEXT_CURSOR_HEADER: page.next_cursor} if page.next_cursor else {}
    return Response(body, headers=headers)


@get(ITEM, sync_to_thread=False, responses=error_responses(404))
def get_certificate(
    certificate: CertificateDep, session: SessionDep, links: LinksDep
) -> Envelope[CertificateRead]:
    """Get one certificate (extension), with its status and email delivery status."""
    read = certificates_service.to_read(certificate, links)
    read.delivery = delivery_service.delivery_info(session, certificate=certificate)
    return Envelope(data=read)


@get(ITEM + "/messages", sync_to_thread=True, responses=error_responses(404))
def list_certificate_messages(
    certificate: CertificateDep, session: SessionDep, settings: SettingsDep
) -> Envelope[list[MessageRead]]:
    """The certificate's emails (extension); test-mode ones are captured here, never sent."""
    messages = delivery_service.list_emails(session, certificate_id=certificate.id)
    return Envelope(
        data=[delivery_service.to_message_read(m, settings.mail_from) for m in messages]
    )


@post(
    ITEM + "/resend",
    status_code=202,
    sync_to_thread=True,
    responses=error_responses(400, 404, 409),
)
def resend_certificate(
    certificate_id: Annotated[str, PathParameter(name="certificateId")],
    principal: PrincipalDep,
    write_session: WriteSessionDep,
    links: LinksDep,
    data: JSONBody[ResendRequest | None] = None,
) -> Response[Envelope[CertificateRead]]:
    """Email the certificate again (extension), optionally to a corrected `email`; 409 if
    revoked."""
    certificate = certificates_service.resend(
        write_session,
        principal=principal,
        certificate_id=certificate_id,
        email=str(data.email) if data is not None and data.email else None,
    )
    read = certificates_service.to_read(certificate, links)
    read.delivery = delivery_service.delivery_info(write_session, certificate=certificate)
    write_session.commit()
    return Response(Envelope(message=RESENT, data=read), status_code=202)


@get(
    ITEM + "/pdf",
    sync_to_thread=True,
    media_type="application/pdf",
    responses=error_responses(404),
)
def get_certificate_pdf(
    certificate: CertificateDep,
    session: SessionDep,
    file_store: FileStoreDep,
    links: LinksDep,
    render_cache: CacheDep,
) -> Response[bytes]:
    """The certificate as a PDF (rendered once, then cached)."""
    spec, data = certificates_service.render_inputs(
        session, certificate=certificate, store=file_store, links=links
    )
    pdf = render_cache.get_or_render(f"{certificate.id}.pdf", lambda: render_pdf(spec, data))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="certificate-{certificate.id}.pdf"',
            "Cache-Control": "private, max-age=3600",
        },
    )


@get(
    ITEM + "/image",
    sync_to_thread=True,
    media_type="image/png",
    responses=error_responses(400, 404),
)
def get_certificate_image(
    certificate: CertificateDep,
    session: SessionDep,
    file_store: FileStoreDep,
    links: LinksDep,
    render_cache: CacheDep,
    width: Annotated[int | None, QueryParameter(name="width", ge=16, le=4000)] = None,
) -> Response[bytes]:
    """The certificate as a PNG, optionally at a given width (extension)."""
    spec, data = certificates_service.render_inputs(
        session, certificate=certificate, store=file_store, links=links
    )
    png = render_cache.get_or_render(
        f"{certificate.id}-{width or spec.width}.png", lambda: render_png(spec, data, width)
    )
    return Response(
        png,
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=3600"},
    )


@post(
    ITEM + "/revoke",
    status_code=200,
    sync_to_thread=True,
    responses=error_responses(400, 404, 409),
)
def revoke_certificate(
    certificate_id: Annotated[str, PathParameter(name="certificateId")],
    data: JSONBody[RevokeRequest],
    principal: PrincipalDep,
    write_session: WriteSessionDep,
    links: LinksDep,
) -> Envelope[CertificateRead]:
    """Revoke a certificate with a reason; final, and no credit is refunded."""
    certificate = certificates_service.revoke(
        write_session, principal=principal, certificate_id=certificate_id, reason=data.reason
    )
    write_session.commit()
    return Envelope(message=REVOKED, data=certificates_service.to_read(certificate, links))


router = Router(
    path="/api/certificates",
    route_handlers=[
        issue_certificate,
        list_certificates,
        get_certificate,
        get_certificate_pdf,
        get_certificate_image,
        revoke_certificate,
        resend_certificate,
        list_certificate_messages,
    ],
    dependencies={
        "certificate": Provide(load_certificate, sync_to_thread=False),
        "links": Provide(provide_links, sync_to_thread=False),
        "render_cache": Provide(provide_render_cache, sync_to_thread=False),
    },
    tags=["Certificates"],
    security=SECURITY,
    parameters=SUBACCOUNT_HEADER,
)
