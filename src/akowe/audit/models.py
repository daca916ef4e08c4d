"""Table: audit_event (append-only: who did what, when, from where)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from akowe.db.base import Base, Json, new_id, utcnow


class AuditEvent(Base):
    """One recorded action. `details` never holds a recipient's personal data: a correction
    records which fields changed, not their values."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_page", "account_id", "mode", "created_at", "id"),
        Index(None, "certificate_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(8))
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))
    certificate_id: Mapped[str | None] = mapped_column(String(36))
    details: Mapped[dict[str, Any]] = mapped_column(Json)
    address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
