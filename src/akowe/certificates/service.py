"""Issuance and the certificate lifecycle.

`issue` validates, then in ONE transaction debits one credit, records the certificate with
a snapshot of its organization and a pinned design version, and queues its delivery work.
Any failure rolls the whole transaction back: nothing recorded, nothing spent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Select, Table, func, insert, select
from sqlalchemy.orm import Session

from akowe.accounts.service import Principal
from akowe.certificates.exceptions import (
    AlreadyRevoked,
    CertificateNotFound,
    RenderUnavailable,
    ValidationFailed,
)
from akowe.certificates.models import Certificate
from akowe.certificates.schemas import CertificateFilters, CertificateRead, IssueRequest
from akowe.credits import service as credits_service
from akowe.db.base import new_id, utcnow
from akowe.db.quick import QuickReader
from akowe.delivery import service as delivery_service
from akowe.delivery.exceptions import CertificateRevoked
from akowe.modes import Mode
from akowe.organizations import service as organizations_service
from akowe.pagination import Page, paginate
from akowe.rendering import CertificateData, TemplateSpec
from akowe.storage.store import FileStore
from akowe.templates import service as templates_service

_CERTIFICATES = cast(Table, Certificate.__table__)
_INSERT_CERTIFICATE = insert(_CERTIFICATES)


@dataclass(frozen=True, slots=True)
class Links:
    """Where users find a certificate: built from the public base URL."""

    base_url: str

    def verification_url(self, certificate_id: str) -> str:
        """The public verification page."""
        return f"{self.base_url}/verify/{certificate_id}"

    def pdf_url(self, certificate_id: str) -> str:
        """The PDF download (needs the API key)."""
        return f"{self.base_url}/api/certificates/{certificate_id}/pdf"


@dataclass(frozen=True, slots=True)
class Prepared:
    """A validated issue request with what it resolved to: ready to be recorded."""

    data: IssueRequest
    organization_id: str
    organization: dict[str, Any]
    template_id: str
    template_version: int


def prepare(
    reader: QuickReader, *, principal: Principal, data: IssueRequest, store: FileStore
) -> Prepared:
    """Check the request and resolve its organization and template: primary-key reads off
    the ORM and outside any transaction, so the write transaction stays short."""
    template_id = data.resolved_template_id
    if template_id is None:
        raise ValidationFailed.field("mailData.templateId", "is required")
    if data.wants_email and data.recipient_data.email is None:
        raise ValidationFailed.field(
            "recipientData.email", "is required to send the certificate by email"
        )
    organization = organizations_service.snapshot(
        reader, principal=principal, organization_id=data.organization_id, store=store
    )
    version = templates_service.current_version(
        reader, principal=principal, template_id=template_id
    )
    return Prepared(
        data=data,
        organization_id=organization["id"],
        organization=organization,
        template_id=template_id,
        template_version=version,
    )


def record(session: Session, *, principal: Principal, prepared: Prepared) -> Certificate:
    """Debit one credit, record the certificate and queue its email, in the caller's transaction.

    Kept short: it runs while this process holds SQLite's write lock.
    """
    data = prepared.data
    certificate_id = new_id()
    credits_service.debit(
        session,
        account_id=principal.account_id,
        mode=principal.mode,
        reason="certificate issued",
        reference=certificate_id,
        actor=f"key:{principal.key_id}",
    )
    mail = data.mail_data if data.wants_email else None
    certificate = Certificate(
        id=certificate_id,
        account_id=principal.account_id,
        mode=principal.mode,
        subaccount_id=principal.subaccount_id,
        subaccount_email=principal.subaccount_email,
        organization_id=prepared.organization_id,
        organization=prepared.organization,
        template_id=prepared.template_id,
        template_version=prepared.template_version,
        recipient_name=data.recipient_data.name,
        recipient_email=data.recipient_data.email,
        attributes=data.recipient_data.attributes,
        status="issued",
        issued_at=utcnow(),
        issued_by_key_id=principal.key_id,
        mail_subject=mail.subject if mail else None,
        mail_body=mail.body if mail else None,
        email_status="queued" if mail else "not_requested",
    )
    # A Core insert: the ORM's unit of work costs more than the statement on this hot path.
    session.execute(
        _INSERT_CERTIFICATE, {c.key: getattr(certificate, c.key) for c in _CERTIFICATES.columns}
    )
    if mail is not None:
        delivery_service.enqueue(
            session,
            account_id=principal.account_id,
            mode=principal.mode,
            kind="email",
            certificate_id=certificate_id,
            payload={"to": data.recipient_data.email},
        )
    delivery_service.enqueue_certificate_event(
        session, certificate=certificate, event="certificate.issued"
    )
    session.flush()
    return certificate


def _scoped(principal: Principal) -> Select[Certificate]:
    statement = select(Certificate).where(
        Certificate.account_id == principal.account_id, Certificate.mode == principal.mode
    )
    if principal.subaccount_id is not None:
        statement = statement.where(Certificate.subaccount_id == principal.subaccount_id)
    return statement


def get(
    session: Session, *, principal: Principal, certificate_id: str, for_update: bool = False
) -> Certificate | None:
    """The certificate if the caller may see it (account, mode, sub-account scope)."""
    statement = _scoped(principal).where(Certificate.id == certificate_id)
    if for_update:
        statement = statement.with_for_update()
    return session.scalar(statement)


def require(
    session: Session, *, principal: Principal, certificate_id: str, for_update: bool = False
) -> Certificate:
    """The certificate, or 404 (also for other accounts' ones)."""
    certificate = get(
        session, principal=principal, certificate_id=certificate_id, for_update=for_update
    )
    if certificate is None:
        raise CertificateNotFound()
    return certificate


def list_certificates(
    session: Session,
    *,
    principal: Principal,
    filters: CertificateFilters,
    limit: int,
    cursor: str | None,
) -> Page[Certificate]:
    """The caller's certificates, newest first, filtered, one page at a time."""
    statement = _scoped(principal)
    if filters.organization_id:
        statement = statement.where(Certificate.organization_id == filters.organization_id)
    if filters.template_id:
        statement = statement.where(Certificate.template_id == filters.template_id)
    if filters.recipient_email:
        email = filters.recipient_email.strip().lower()
        statement = statement.where(func.lower(Certificate.recipient_email) == email)
    if filters.status:
        statement = statement.where(Certificate.status == filters.status)
    if filters.issued_after:
        statement = statement.where(Certificate.issued_at >= _aware(filters.issued_after))
    if filters.issued_before:
        statement = statement.where(Certificate.issued_at < _aware(filters.issued_before))
    return paginate(
        session,
        statement,
        created_at=Certificate.issued_at,
        id_column=Certificate.id,
        limit=limit,
        cursor=cursor,
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def revoke(
    session: Session, *, principal: Principal, certificate_id: str, reason: str
) -> Certificate:
    """Revoke for good, recording who and when; no credit is refunded."""
    certificate = require(
        session, principal=principal, certificate_id=certificate_id, for_update=True
    )
    if certificate.status == "revoked":
        raise AlreadyRevoked()
    certificate.status = "revoked"
    certificate.revoked_at = utcnow()
    certificate.revoked_reason = reason
    certificate.revoked_by_key_id = principal.key_id
    delivery_service.enqueue_certificate_event(
        session, certificate=certificate, event="certificate.revoked"
    )
    session.flush()
    return certificate


def to_read(certificate: Certificate, links: Links) -> CertificateRead:
    """The wire shape of a certificate."""
    return CertificateRead(
        certificate_id=certificate.id,
        recipient_name=certificate.recipient_name,
        recipient_email=certificate.recipient_email,
        organization_id=certificate.organization_id,
        template_id=certificate.template_id,
        attributes=certificate.attributes,
        status="revoked" if certificate.status == "revoked" else "issued",
        issued_at=certificate.issued_at,
        verification_url=links.verification_url(certificate.id),
        pdf_url=links.pdf_url(certificate.id),
        email_status=certificate.email_status,
        template_version=certificate.template_version,
        sub_account_email=certificate.subaccount_email,
        test=certificate.mode == Mode.TEST,
        revoked_at=certificate.revoked_at,
        revocation_reason=certificate.revoked_reason,
    )


def render_inputs(
    session: Session, *, certificate: Certificate, store: FileStore, links: Links
) -> tuple[TemplateSpec, CertificateData]:
    """What the renderer needs, from stored data only (so a re-render is identical)."""
    design = templates_service.get_version(
        session,
        store=store,
        template_id=certificate.template_id,
        version=certificate.template_version,
    )
    if design is None:
        raise RenderUnavailable()
    spec = templates_service.render_spec(design)
    data = CertificateData(
        certificate_id=certificate.id,
        recipient_name=certificate.recipient_name,
        issued_at=certificate.issued_at,
        attributes=dict(certificate.attributes),
        verification_url=links.verification_url(certificate.id),
        test_mode=certificate.mode == Mode.TEST,
    )
    return spec, data


def resend(
    session: Session, *, principal: Principal, certificate_id: str, email: str | None = None
) -> Certificate:
    """Queue the certificate's email again, optionally to a corrected recipient address."""
    certificate = require(
        session, principal=principal, certificate_id=certificate_id, for_update=True
    )
    if certificate.status == "revoked":
        raise CertificateRevoked()
    if email is not None:
        certificate.recipient_email = email
    if not certificate.recipient_email:
        raise ValidationFailed.field("email", "is required: the certificate has no recipient email")
    delivery_service.requeue_email(session, certificate=certificate)
    session.flush()
    return certificate
