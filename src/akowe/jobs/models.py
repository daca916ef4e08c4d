"""Tables: job (a bulk issuance: what to issue, its state) and job_row (one recipient each).

Row state is the source of truth: a row becomes `issued` in the same transaction that
records its certificate and debits its credit, so a retried chunk can never issue it twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from akowe.db.base import Base, Json, new_id, utcnow


class Job(Base):
    """A bulk issuance: `queued -> running -> completed | cancelled` (`failed` if it could not
    run at all). `turn_at` is when a worker last served it: workers serve the job waiting
    longest first, so jobs take turns chunk by chunk (fairness across accounts)."""

    __tablename__ = "job"
    __table_args__ = (
        Index(None, "status", "turn_at"),
        Index("ix_job_account_page", "account_id", "mode", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(8))
    subaccount_id: Mapped[str | None] = mapped_column(
        ForeignKey("sub_account.id", ondelete="CASCADE")
    )
    subaccount_email: Mapped[str | None] = mapped_column(String(320))
    key_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(32), default="bulk_issue")
    status: Mapped[str] = mapped_column(String(16))
    organization_id: Mapped[str] = mapped_column(String(64))
    template_id: Mapped[str] = mapped_column(String(64))
    # mailData, expiresAt, options, the input's columns and file name: what every row shares.
    request: Mapped[dict[str, Any]] = mapped_column(Json)
    total: Mapped[int] = mapped_column(default=0)
    invalid: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    turn_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobRow(Base):
    """One recipient of a job: `pending -> issued | failed | skipped | cancelled`."""

    __tablename__ = "job_row"
    __table_args__ = (Index(None, "job_id", "status", "row_number"),)

    job_id: Mapped[str] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"), primary_key=True)
    row_number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(String(320))
    attributes: Mapped[dict[str, Any]] = mapped_column(Json)
    # The row as it was sent (cells in the order of the job's columns), for results.csv.
    cells: Mapped[list[Any]] = mapped_column(Json)
    certificate_id: Mapped[str | None] = mapped_column(String(36))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_column: Mapped[str | None] = mapped_column(String(200))
    error_message: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None]
