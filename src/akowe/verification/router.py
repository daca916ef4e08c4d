"""Public verification, no key needed: verdicts (`/api/public/verify`), each certificate's
signed credential, PDF and baked PNG (`/api/public/certificates/{id}/...`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, Final

import anyio
import anyio.to_thread
import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import UploadFile
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Example,
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)
from litestar.params import PathParameter

from akowe.api.deps import Services, ServicesDep
from akowe.api.edge import route_opt
from akowe.api.examples import VC_SIGNED
from akowe.api.openapi import answers, error_responses
from akowe.certificates import service as certificates_service
from akowe.certificates.exceptions import CertificateNotFound
from akowe.schemas import Envelope, envelope
from akowe.signing import service as signing_service
from akowe.signing.models import Credential
from akowe.verification import service as verification_service
from akowe.verification.exceptions import PayloadTooLarge
from akowe.verification.schemas import VerificationRead

CertificateId = Annotated[str, PathParameter(name="certificateId")]
CREDENTIAL_MEDIA_TYPE: Final = "application/ld+json"
# Uploaded documents are verified a few at a time: each may take up to the canonicalisation
# time limit (1 s) and fetch remote DID documents, and none of that may crowd out the rest.
_UPLOADS = anyio.CapacityLimiter(2)


def public_errors(*codes: int) -> dict[int, ResponseSpec]:
    """Error responses of a route that needs no key (no 401/403)."""
    return {k: v for k, v in error_responses(*codes).items() if k not in (401, 403)}


def public_document(
    media_type: str, description: str, example: dict[str, Any]
) -> dict[int, ResponseSpec]:
    """A public route answering a JSON(-LD) document of its own type (a credential, a DID
    document), not the envelope; 404 when there is none."""
    document = ResponseSpec(
        data_container=dict[str, Any],
        media_type=media_type,
        description=description,
        generate_examples=False,
        examples=[Example(summary=description, value=example)],
    )
    return {200: document, **public_errors(404)}


def public_answers(model: Any, *codes: int) -> dict[int, ResponseSpec]:
    """Success and error responses of a route that needs no key."""
    return {k: v for k, v in answers(model, *codes).items() if k not in (401, 403)}


@get("/verify/{certificateId:str}", responses=public_answers(Envelope[VerificationRead], 404))
async def verify_certificate(
    certificate_id: CertificateId, services: ServicesDep
) -> Response[bytes]:
    """Verify a certificate: the verdict and each named check, with its public details."""
    report = await verification_service.certificate_report(
        services.db,
        signer=services.signer,
        links=services.links,
        cache=services.reports,
        certificate_id=certificate_id,
    )
    if report is None:
        raise CertificateNotFound()
    body = report.renders.get("json")
    if body is None:
        body = report.renders["json"] = msgspec.json.encode(envelope(report.wire()))
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-cache"})


@dataclass
class DocumentUploadOperation(Operation):
    """The document to verify, documented by hand: the handler reads the raw body (or the
    form's `file`) itself, under the upload cap."""

    def __post_init__(self) -> None:
        binary = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
        self.request_body = RequestBody(
            required=True,
            description=(
                "A signed credential (JSON), a certificate PDF carrying one, or an Open Badges "
                "baked PNG: as the raw body, or as `multipart/form-data` part `file`."
            ),
            content={
                "application/json": OpenAPIMediaType(
                    schema=Schema(type=OpenAPIType.OBJECT),
                    examples={"credential": Example(summary="A credential", value=VC_SIGNED)},
                ),
                "application/pdf": OpenAPIMediaType(schema=binary),
                "image/png": OpenAPIMediaType(schema=binary),
                "multipart/form-data": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT, properties={"file": binary}, required=["file"]
                    )
                ),
            },
        )


@post(
    "/verify",
    status_code=200,
    responses=public_answers(Envelope[VerificationRead], 400, 413),
    # A document (PDF, PNG or JSON), not a JSON request: streamed under the upload cap and
    # limited per client address, since anyone may call it.
    opt=route_opt(body="upload", rate_limit="client"),
    operation_class=DocumentUploadOperation,
)
async def verify_document(request: Request[Any, Any, Any], services: ServicesDep) -> dict[str, Any]:
    """Verify a credential JSON, a certificate PDF or a baked PNG from the document itself
    (raw body, or multipart `file`)."""
    limit = services.settings.verify_upload_max_bytes
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise verification_service.UnreadableDocument("Send the document as the field `file`.")
        data = await upload.read(limit + 1)
    else:
        data = await request.body()
    if len(data) > limit:
        raise PayloadTooLarge(f"The document is larger than {limit // (1024 * 1024)} MiB.")
    verdict, summary = await anyio.to_thread.run_sync(
        partial(
            verification_service.verify_upload,
            services.db,
            signer=services.signer,
            remote=services.remote,
            data=data,
        ),
        limiter=_UPLOADS,
    )
    return envelope(verification_service.verdict_wire(verdict, summary))


async def _signed(services: Services, certificate_id: str) -> tuple[Any, Credential]:
    """The certificate (any account) and its credential, signing it now if needed; 404."""
    if not verification_service.is_certificate_id(certificate_id):
        raise CertificateNotFound()
    certificate = await services.db.one(
        verification_service.PUBLIC_CERTIFICATE, certificate_id=certificate_id
    )
    if certificate is None:
        raise CertificateNotFound()
    stored = await services.db.one(signing_service.CREDENTIAL_OF, certificate_id=certificate_id)
    if stored is None:
        stored = await services.db.call(
            partial(
                signing_service.ensure_credential,
                services.db,
                signer=services.signer,
                certificate_id=certificate_id,
            )
        )
    if stored is None:
        raise CertificateNotFound()
    return certificate, stored


@get(
    "/certificates/{certificateId:str}/credential",
    media_type=CREDENTIAL_MEDIA_TYPE,
    responses=public_document(CREDENTIAL_MEDIA_TYPE, "The signed OpenBadgeCredential.", VC_SIGNED),
)
async def get_credential(certificate_id: CertificateId, services: ServicesDep) -> Response[bytes]:
    """The certificate's signed Open Badges 3.0 credential (VC 2.0, eddsa-rdfc-2022)."""
    _, stored = await _signed(services, certificate_id)
    return Response(
        stored.document.encode(),
        media_type=CREDENTIAL_MEDIA_TYPE,
        headers={
            "Cache-Control": "public, max-age=300",
            "Content-Disposition": f'inline; filename="credential-{certificate_id}.json"',
            "Access-Control-Allow-Origin": "*",
        },
    )


@get(
    "/certificates/{certificateId:str}/pdf",
    media_type="application/pdf",
    responses=public_errors(404),
)
async def get_public_pdf(certificate_id: CertificateId, services: ServicesDep) -> Response[bytes]:
    """The certificate's PDF, carrying its signed credential as `credential.json`."""
    certificate, _ = await _signed(services, certificate_id)
    pdf = await services.db.readonly(
        partial(
            certificates_service.pdf,
            certificate=certificate,
            store=services.store,
            links=services.links,
            cache=services.render_cache,
        )
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="certificate-{certificate_id}.pdf"',
            "Cache-Control": "public, max-age=3600",
        },
    )


@get(
    "/certificates/{certificateId:str}/image.png",
    media_type="image/png",
    responses=public_errors(404),
)
async def get_baked_image(certificate_id: CertificateId, services: ServicesDep) -> Response[bytes]:
    """The certificate as an Open Badges 3.0 baked PNG (the credential in an iTXt chunk)."""
    certificate, _ = await _signed(services, certificate_id)
    png = await services.db.readonly(
        partial(
            verification_service.baked_png,
            certificate=certificate,
            store=services.store,
            links=services.links,
            cache=services.render_cache,
        )
    )
    return Response(png, media_type="image/png", headers={"Cache-Control": "public, max-age=3600"})


router = Router(
    path="/api/public",
    route_handlers=[
        verify_certificate,
        verify_document,
        get_credential,
        get_public_pdf,
        get_baked_image,
    ],
    tags=["Verification"],
)
