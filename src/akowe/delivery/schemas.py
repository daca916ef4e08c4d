"""Delivery on the wire: a certificate's email progress, captured messages, webhooks."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import EmailStr, Field, StringConstraints

from akowe.schemas import DELIVERABLE_EMAIL, BaseSchema, RequestSchema, Timestamp

DeliveryStatus = Literal[
    "not_requested", "queued", "sending", "sent", "retrying", "failed", "captured", "superseded"
]
WebhookEvent = Literal[
    "certificate.issued",
    "certificate.delivered",
    "certificate.delivery_failed",
    "certificate.revoked",
    "certificate.updated",
    "certificate.erased",
    "job.completed",
]
WEBHOOK_EVENTS: tuple[str, ...] = get_args(WebhookEvent)


class DeliveryRead(BaseSchema):
    """The latest email of a certificate: status, attempts so far, last error, when sent."""

    status: DeliveryStatus
    attempts: int = Field(description="Attempts so far.")
    last_error: str | None = None
    sent_at: Timestamp | None = None


class MessageRead(BaseSchema):
    """One email of a certificate; test-mode (captured) emails include what would be sent."""

    id: str
    status: DeliveryStatus
    to: str | None
    attempts: int
    last_error: str | None
    created_at: Timestamp
    sent_at: Timestamp | None
    message_id: str = Field(description="The SMTP Message-ID, stable across retries.")
    subject: str | None = Field(default=None, description="Captured (test mode) only.")
    text: str | None = Field(default=None, description="Captured (test mode) only.")
    html: str | None = Field(default=None, description="Captured (test mode) only.")


class ResendRequest(RequestSchema):
    """`POST /api/certificates/{id}/resend`: optionally a corrected recipient address."""

    email: Annotated[EmailStr | None, DELIVERABLE_EMAIL] = None


class WebhookCreate(RequestSchema):
    """`POST /api/webhooks`."""

    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    events: list[WebhookEvent] = Field(min_length=1)
    description: Annotated[str, StringConstraints(max_length=200)] | None = None


class WebhookRead(BaseSchema):
    """A webhook endpoint (its secret is only shown when it is created)."""

    id: str
    url: str
    events: list[str]
    description: str | None
    test: bool
    created_at: Timestamp


class WebhookCreated(WebhookRead):
    """The created endpoint with its signing secret, shown this once."""

    secret: str
