"""Tables: certificate (one issued credential) and idempotency_key (replayable responses)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from akowe.db.base import Base, Json, new_id, utcnow


class Certificate(Base):
    """An issued certificate: everything needed to render and verify it, frozen at issue time.

    The organization is snapshotted (name, website, email, logo) so deleting or editing it
    later never changes a certificate; the design is pinned by (template_id, template_version).
    """

    __tablename__ = "certificate"
    __table_args__ = (
        # Keyset pages (newest first, id breaks ties) read straight off these indexes.
        Index("ix_certificate_page", "account_id", "mode", "issued_at", "id"),
        Index("ix_certificate_subaccount_page", "subaccount_id", "issued_at", "id"),
        Index(None, "recipient_email"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(8))
    subaccount_id: Mapped[str | None] = mapped_column(
        ForeignKey("sub_account.id", ondelete="SET NULL")
    )
    subaccount_email: Mapped[str | None] = mapped_column(String(320))
    organization_id: Mapped[str] = mapped_column(String(36))
    organization: Mapped[dict[str, Any]] = mapped_column(Json)
    template_id: Mapped[str] = mapped_column(String(36))
    template_version: Mapped[int]
    recipient_name: Mapped[str] = mapped_column(String(200))
    recipient_email: Mapped[str | None] = mapped_column(String(320))
    attributes: Mapped[dict[str, str]] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(16), default="issued")
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    issued_by_key_id: Mapped[str] = mapped_column(String(36))
    mail_subject: Mapped[str | None] = mapped_column(Text)
    mail_body: Mapped[str | None] = mapped_column(Text)
    email_status: Mapped[str] = mapped_column(String(16), default="not_requested")
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    revoked_by_key_id: Mapped[str | None] = mapped_column(String(36))
    # Corrections (PATCH) keep the id and bump the revision; erasure leaves a tombstone.
    revision: Mapped[int] = mapped_column(default=1, server_default="1")
    corrected_at: Mapped[datetime | None]
    erased_at: Mapped[datetime | None]
    erased_by_key_id: Mapped[str | None] = mapped_column(String(36))


class CertificateSearchTerm(Base):
    """One normalized word (accents stripped, case folded) of a certificate's recipient name
    or email: `q` matches word prefixes through the (account, mode, term) index, alike on
    SQLite and PostgreSQL. Rewritten on correction, deleted on erasure."""

    __tablename__ = "certificate_search_term"
    __table_args__ = (Index("ix_certificate_search_term_lookup", "account_id", "mode", "term"),)

    certificate_id: Mapped[str] = mapped_column(
        ForeignKey("certificate.id", ondelete="CASCADE"), primary_key=True
    )
    term: Mapped[str] = mapped_column(
        String(200).with_variant(String(200, collation="C"), "postgresql"), primary_key=True
    )
    account_id: Mapped[str] = mapped_column(String(36))
    mode: Mapped[str] = mapped_column(String(8))


class IdempotencyKey(Base):
    """A client's `Idempotency-Key`: the request's hash and, once done, its response."""

    __tablename__ = "idempotency_key"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("account.id", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="processing")
    response_status: Mapped[int | None]
    response_body: Mapped[dict[str, Any] | None] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class CertificateResend(Base):
    """One resend of a certificate's email: who asked, when, and the email it queued.

    Resends are limited per certificate and per account per day, counted from these rows.
    No address is copied here (the queued email's outbox row holds it, as for every email);
    each row is one audit event, ready to move to the audit trail when it arrives.
    """

    __tablename__ = "certificate_resend"
    __table_args__ = (
        Index(None, "certificate_id", "created_at"),
        Index(None, "account_id", "mode", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(8))
    certificate_id: Mapped[str] = mapped_column(ForeignKey("certificate.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(36))
    key_id: Mapped[str] = mapped_column(String(36))
    address_corrected: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
