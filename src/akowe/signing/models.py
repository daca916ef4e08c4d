"""Tables: signing_key (an organization's Ed25519 keys), status_list (revocation bits and their
signed list credential) and credential (each certificate's signed Open Badges credential)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from akowe.db.base import Base, new_id, utcnow


class SigningKey(Base):
    """One Ed25519 key of an organization; the newest unretired one signs.

    Retired keys stay: their public halves are listed in the organization's DID document so
    credentials they signed keep verifying. The private key is encrypted with
    `AKOWE_SECRET_KEY` (`akowe.signing.keys`, format `akowe-sk.v1`), bound to this row's id.
    """

    __tablename__ = "signing_key"
    __table_args__ = (Index("ix_signing_key_organization", "organization_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(8))
    public_key: Mapped[str] = mapped_column(String(64))
    private_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]


class StatusList(Base):
    """A Bitstring Status List of one organization, with its signed list credential.

    `version` grows with every change of `bits`; `credential` is the signed
    BitstringStatusListCredential of that version, served as it is stored.
    """

    __tablename__ = "status_list"
    __table_args__ = (
        Index("ix_status_list_organization", "organization_id", "purpose", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(8))
    purpose: Mapped[str] = mapped_column(String(16))
    length: Mapped[int]
    used: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(default=1)
    bits: Mapped[bytes] = mapped_column(LargeBinary)
    credential: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Credential(Base):
    """A certificate's signed OpenBadgeCredential, kept as the exact JSON text served."""

    __tablename__ = "credential"
    __table_args__ = (UniqueConstraint("status_list_id", "status_index"),)

    certificate_id: Mapped[str] = mapped_column(
        ForeignKey("certificate.id", ondelete="CASCADE"), primary_key=True
    )
    signing_key_id: Mapped[str] = mapped_column(ForeignKey("signing_key.id", ondelete="CASCADE"))
    status_list_id: Mapped[str] = mapped_column(ForeignKey("status_list.id", ondelete="CASCADE"))
    status_index: Mapped[int]
    document: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)


class SupersededCredential(Base):
    """A credential replaced by a correction: its status list bit is set (revoked, reason
    superseded) and its index stays taken, so no later credential can land on a set bit."""

    __tablename__ = "superseded_credential"
    __table_args__ = (UniqueConstraint("status_list_id", "status_index"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    certificate_id: Mapped[str] = mapped_column(
        ForeignKey("certificate.id", ondelete="CASCADE"), index=True
    )
    revision: Mapped[int]
    signing_key_id: Mapped[str] = mapped_column(String(36))
    status_list_id: Mapped[str] = mapped_column(ForeignKey("status_list.id", ondelete="CASCADE"))
    status_index: Mapped[int]
    document: Mapped[str | None] = mapped_column(Text)
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)
    superseded_at: Mapped[datetime] = mapped_column(default=utcnow)
