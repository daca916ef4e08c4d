"""Tables: outbox_message (delivery work, written in the same transaction as what it
announces) and webhook_endpoint (where an account's events are POSTed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from akowe.db.base import Base, Json, new_id, utcnow


class OutboxMessage(Base):
    """One unit of delivery work and its progress.

    `kind` is `email` (a certificate's email), `event` (a webhook event, fanned out by the
    worker into one `webhook` message per subscribed endpoint) or `webhook` (one POST).
    A worker claims a message by setting `status="sending"`, a claim token in `locked_by`
    and a lease in `locked_until`; a message whose lease ran out is claimable again.
    `next_attempt_at` orders the claims: for a queued message its turn in line (claimable
    at once, after the messages whose turn comes first; see akowe.delivery.service.queue),
    for a retrying one the time before which it is not tried again.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index(None, "status", "next_attempt_at"),
        # Due messages of one kind, oldest first: credentials are signed before anything
        # else is sent (akowe.delivery.service.claim).
        Index("ix_outbox_message_kind_due", "kind", "status", "next_attempt_at"),
        # A certificate's latest email (its delivery status) without a sort.
        Index("ix_outbox_message_certificate_emails", "certificate_id", "kind", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    certificate_id: Mapped[str | None] = mapped_column(String(36))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]
    locked_by: Mapped[str | None] = mapped_column(String(100))


class WebhookEndpoint(Base):
    """A URL that receives an account's events (in one mode), signed with its secret.

    The secret must be readable to sign each delivery, so it is stored as is (unlike API
    keys); it is shown once when the endpoint is created and never logged.
    """

    __tablename__ = "webhook_endpoint"
    __table_args__ = (Index(None, "account_id", "mode"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(8))
    # Created with `x-subaccount-email`: the sub-account's own endpoint (it sees and manages
    # only these; it receives only its certificates' events). NULL: account-wide.
    subaccount_id: Mapped[str | None] = mapped_column(
        ForeignKey("sub_account.id", ondelete="CASCADE")
    )
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(Json)
    secret: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
