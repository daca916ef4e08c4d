"""Tables: account, sub_account, api_key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from akowe.db.base import Base, new_id, utcnow


class Account(Base):
    """A customer: owns keys, sub-accounts, resources and one credit balance per mode."""

    __tablename__ = "account"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SubAccount(Base):
    """A sub-account, identified by email within its account."""

    __tablename__ = "sub_account"
    __table_args__ = (UniqueConstraint("account_id", "email"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """An API key; `id` is the key's public id, only a hash of the secret is stored."""

    __tablename__ = "api_key"
    __table_args__ = (Index(None, "account_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(8))
    format_version: Mapped[int] = mapped_column(default=0)
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
