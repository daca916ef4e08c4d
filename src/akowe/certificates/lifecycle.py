"""Corrections and erasure: the certificate lifecycle after issue.

- **Correction** (`correct`): the recipient's name, email, attributes or expiry change; the
  certificate keeps its id, URL and QR code and gets a new revision: the previous credential
  is superseded (its status bit set, so every verifier sees it revoked), a new one is signed,
  the PDF is rendered anew (cache names carry the revision). No credit is spent. The values
  are checked exactly as at issue (attributes the design prints, text the fonts can draw)
  before anything changes.
- **Erasure** (`erase`): the recipient's personal data goes from everywhere this service keeps
  it (the certificate row, its search words, its credentials, its emails and webhook payloads,
  captured messages, stored idempotent responses, rendered files); the credential is revoked;
  a tombstone remains (id, organization, template, dates, who erased it and when; the credit
  ledger entry stays). Final.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from akowe.accounts.service import Principal
from akowe.audit import service as audit_service
from akowe.certificates import service as certificates_service
from akowe.certificates.checks import check_against_template
from akowe.certificates.drawable import value_name
from akowe.certificates.exceptions import (
    CertificateChanged,
    CertificateErased,
    CertificateNotFound,
    RevokedNotCorrectable,
    ValidationFailed,
)
from akowe.certificates.models import IdempotencyKey
from akowe.certificates.renders import RenderCache
from akowe.certificates.schemas import CorrectionRequest, IssueRequest, RecipientData
from akowe.db.base import utcnow
from akowe.db.database import Database
from akowe.delivery import service as delivery_service
from akowe.delivery.models import OutboxMessage
from akowe.errors import FieldError
from akowe.jobs.models import JobRow
from akowe.rendering import CertificateData, check
from akowe.schemas import format_timestamp
from akowe.signing import service as signing_service
from akowe.storage.store import FileStore
from akowe.templates import service as templates_service

CORRECTED = "Certificate has been corrected successfully"
UNCHANGED = "The certificate already has these values: nothing was changed"
ERASED = "The recipient's personal data has been erased"
_OUTBOX = cast(Table, OutboxMessage.__table__)
_IDEMPOTENCY = cast(Table, IdempotencyKey.__table__)
_JOB_ROWS = cast(Table, JobRow.__table__)
_ERASED_PAYLOAD: dict[str, Any] = {"erased": True}


@dataclass(frozen=True, slots=True)
class Values:
    """A recipient's correctable values."""

    name: str
    email: str | None
    attributes: dict[str, str]
    expires_at: datetime | None


def _current(certificate: Any) -> Values:
    return Values(
        name=certificate.recipient_name,
        email=certificate.recipient_email,
        attributes=dict(certificate.attributes),
        expires_at=certificate.expires_at,
    )


def _corrected(current: Values, data: CorrectionRequest) -> Values:
    given = data.model_fields_set
    return Values(
        name=data.name if "name" in given and data.name is not None else current.name,
        email=(str(data.email) if data.email else None) if "email" in given else current.email,
        attributes=(
            dict(data.attributes)
            if "attributes" in given and data.attributes is not None
            else current.attributes
        ),
        expires_at=data.expires_at if "expires_at" in given else current.expires_at,
    )


def _changed(before: Values, after: Values) -> list[str]:
    fields = (("name", "name"), ("email", "email"), ("attributes", "attributes"))
    changed = [wire for attr, wire in fields if getattr(before, attr) != getattr(after, attr)]
    if before.expires_at != after.expires_at:
        changed.append("expiresAt")
    return changed


def _value_name(field: Any) -> str:
    # The correction's own names for the values a field draws.
    return value_name(field).removeprefix("recipientData.")


def _correctable(certificate: Any) -> None:
    if certificate.status == "erased":
        raise CertificateErased()
    if certificate.status == "revoked":
        raise RevokedNotCorrectable()


@dataclass(frozen=True, slots=True)
class Correction:
    """What a correction did: the fields it changed (empty: nothing), and whether the
    recipient is emailed the certificate."""

    changed: list[str]
    notified: bool


def correct(
    db: Database,
    *,
    principal: Principal,
    certificate_id: str,
    data: CorrectionRequest,
    store: FileStore,
    signer: signing_service.Signer,
    cache: RenderCache,
) -> Correction:
    """Correct a certificate (blocking: run it in a database thread). Values the same as the
    stored ones change nothing (no new revision); `notify` emails the (corrected) certificate.
    """
    given = data.model_fields_set & {"name", "email", "attributes", "expires_at"}
    if not given:
        raise ValidationFailed(
            "Send at least one of name, email, attributes or expiresAt to correct.",
        )
    if "name" in given and data.name is None:
        raise ValidationFailed.field("name", "cannot be removed: send the corrected name")
    if "attributes" in given and data.attributes is None:
        raise ValidationFailed.field("attributes", "send {} to remove every attribute")
    with db.read_connection() as reader:
        certificate = reader.one(
            certificates_service.CERTIFICATE_BY_ID(principal.subaccount_id is not None),
            certificate_id=certificate_id,
            **certificates_service.scope(principal),
        )
        if certificate is None:
            raise CertificateNotFound()
        _correctable(certificate)
        before = _current(certificate)
        after = _corrected(before, data)
        changed = _changed(before, after)
        if changed:
            # Exactly the checks of issue, against the design version the certificate pins.
            spec = templates_service.spec_for(
                reader,
                template_id=certificate.template_id,
                version=certificate.template_version,
                store=store,
            )
            request = IssueRequest.model_construct(
                recipient_data=RecipientData.model_construct(
                    name=after.name, email=after.email, attributes=after.attributes
                ),
                organization_id=certificate.organization_id,
                mail_data=None,
                template_id=certificate.template_id,
                expires_at=after.expires_at,
            )
            try:
                check_against_template(
                    request, [{"type": field.type, "text": field.text} for field in spec.fields]
                )
            except ValidationFailed as exc:
                # Named as this request names them: `attributes.<key>`.
                raise ValidationFailed(
                    exc.message.replace("recipientData.", ""),
                    [
                        FieldError(e.field.removeprefix("recipientData."), e.message)
                        for e in exc.errors
                    ],
                ) from None
            problems = check(
                spec,
                CertificateData(
                    certificate_id=certificate.id,
                    recipient_name=after.name,
                    issued_at=certificate.issued_at,
                    attributes=after.attributes,
                    verification_url="",
                ),
            )
            if problems:
                raise templates_service.unrenderable(spec, problems, _value_name)
    if data.notify and not after.email:
        raise ValidationFailed.field("notify", "the certificate has no recipient email to send to")
    if not changed and not data.notify:
        return Correction(changed=[], notified=False)

    def transaction(session: Session) -> None:
        locked = certificates_service.lock(
            session, principal=principal, certificate_id=certificate_id
        )
        _correctable(locked)
        if locked.revision != certificate.revision:
            raise CertificateChanged()
        if changed:
            old_revision = locked.revision
            locked.recipient_name = after.name
            locked.recipient_email = after.email
            locked.attributes = after.attributes
            locked.expires_at = after.expires_at
            locked.revision = old_revision + 1
            locked.corrected_at = utcnow()
            session.flush()
            certificates_service.replace_search_terms(session, certificate=locked)
            signing_service.supersede(
                session,
                signer=signer,
                certificate_id=certificate_id,
                revision=old_revision,
                keep_document=True,
            )
            signing_service.enqueue_signing(
                session,
                certificate_id=certificate_id,
                account_id=locked.account_id,
                mode=locked.mode,
            )
            delivery_service.enqueue_certificate_event(
                session,
                certificate=locked,
                event="certificate.updated",
                extra={"revision": locked.revision, "changed": changed},
            )
            audit_service.record(
                session,
                principal=principal,
                action="certificate.corrected",
                certificate_id=certificate_id,
                details={"fields": changed, "revision": locked.revision},
            )
        if data.notify:
            delivery_service.requeue_email(session, certificate=locked)
        session.flush()

    db.run_transaction(transaction)
    if changed:
        cache.forget(certificate_id)  # the previous revision's files are never served again
    return Correction(changed=changed, notified=data.notify)


def erase(
    db: Database,
    *,
    principal: Principal,
    certificate_id: str,
    signer: signing_service.Signer,
    cache: RenderCache,
    mail_dir: Path | None,
) -> None:
    """Erase the recipient's personal data and revoke the credential, leaving a tombstone
    (blocking: run it in a database thread). Final: a second erasure is a 409."""
    message_ids = db.run_transaction(
        partial(_erase, principal=principal, certificate_id=certificate_id, signer=signer)
    )
    cache.forget(certificate_id)
    if mail_dir is not None:
        _delete_captured(mail_dir, message_ids)


def _erase(
    session: Session, *, principal: Principal, certificate_id: str, signer: signing_service.Signer
) -> list[str]:
    certificate = certificates_service.lock(
        session, principal=principal, certificate_id=certificate_id
    )
    if certificate.status == "erased":
        raise CertificateErased()
    now = utcnow()
    was_revoked = certificate.status == "revoked"
    certificate.status = "erased"
    certificate.recipient_name = ""
    certificate.recipient_email = None
    certificate.attributes = {}
    certificate.mail_subject = None
    certificate.mail_body = None
    certificate.erased_at = now
    certificate.erased_by_key_id = principal.key_id
    if not was_revoked:
        certificate.revoked_at = now
        certificate.revoked_reason = "withdrawn"
        certificate.revoked_by_key_id = principal.key_id
    session.flush()
    certificates_service.replace_search_terms(session, certificate=certificate)
    signing_service.supersede(
        session,
        signer=signer,
        certificate_id=certificate_id,
        revision=certificate.revision,
        keep_document=False,
    )
    signing_service.erase_credentials(session, certificate_id=certificate_id)
    # Every outbox message of the certificate (emails, with captured bodies; webhook events
    # and deliveries, which name the recipient; signing) loses its payload; pending ones stop.
    message_ids = list(
        session.execute(
            select(_OUTBOX.c.id).where(_OUTBOX.c.certificate_id == certificate_id)
        ).scalars()
    )
    session.execute(
        update(_OUTBOX)
        .where(
            _OUTBOX.c.certificate_id == certificate_id,
            _OUTBOX.c.status.in_(delivery_service.PENDING),
        )
        .values(status="failed", last_error="not sent: the certificate was erased", locked_by=None)
    )
    session.execute(
        update(_OUTBOX)
        .where(_OUTBOX.c.certificate_id == certificate_id)
        .values(payload=_ERASED_PAYLOAD)
    )
    # A bulk job's row keeps the input it was issued from (its cells, name, email and
    # attributes): only its result stays.
    session.execute(
        update(_JOB_ROWS)
        .where(_JOB_ROWS.c.certificate_id == certificate_id)
        .values(name=None, email=None, attributes={}, cells=[])
    )
    # A stored issue response (Idempotency-Key) names the recipient too.
    session.execute(
        update(_IDEMPOTENCY)
        .where(
            _IDEMPOTENCY.c.account_id == certificate.account_id,
            _IDEMPOTENCY.c.mode == certificate.mode,
            _IDEMPOTENCY.c.response_body["data"]["certificateId"].as_string() == certificate_id,
        )
        .values(
            response_body={
                "success": True,
                "message": certificates_service.ISSUED,
                "data": {"certificateId": certificate_id, "status": "erased"},
            }
        )
    )
    delivery_service.enqueue_certificate_event(
        session,
        certificate=certificate,
        event="certificate.erased",
        email_status=delivery_service.NOT_REQUESTED,
        extra={"erasedAt": format_timestamp(now)},
    )
    audit_service.record(
        session,
        principal=principal,
        action="certificate.erased",
        certificate_id=certificate_id,
        details={"revision": certificate.revision, "wasRevoked": was_revoked},
    )
    session.flush()
    return message_ids


def _delete_captured(mail_dir: Path, message_ids: Iterable[str]) -> None:
    # Development mail (no SMTP): `<outbox id>.eml` files hold whole messages.
    for message_id in message_ids:
        with suppress(OSError):
            (mail_dir / f"{message_id}.eml").unlink()
