"""Issuance bodies on the wire, exactly as Akowe documents them, plus our extensions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    EmailStr,
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)
from pydantic_core import PydanticCustomError

from akowe.delivery.schemas import DeliveryRead
from akowe.schemas import BaseSchema, RequestSchema, Timestamp

Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
MAX_ATTRIBUTES = 50
EmailStatus = Literal[
    "not_requested", "queued", "sending", "sent", "retrying", "failed", "captured"
]  # the latest email's status (a superseded email is never the latest)


class RecipientData(RequestSchema):
    """Who the certificate is for; `attributes` fill the template's text fields."""

    name: Text
    email: EmailStr | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("attributes")
    @classmethod
    def _scalar_values(cls, value: dict[str, Any]) -> dict[str, str]:
        if len(value) > MAX_ATTRIBUTES:
            raise PydanticCustomError("too_many", f"at most {MAX_ATTRIBUTES} attributes")
        out: dict[str, str] = {}
        for key, item in value.items():
            if not key.strip() or len(key) > 200:
                raise PydanticCustomError("key", "attribute names must be 1-200 characters")
            if isinstance(item, bool) or item is None or isinstance(item, dict | list):
                raise PydanticCustomError("value", f"attribute {key!r} must be text or a number")
            text = str(item)
            if len(text) > 1000:
                raise PydanticCustomError("value", f"attribute {key!r} is over 1000 characters")
            out[key] = text
        return out


class MailData(RequestSchema):
    """`templateId` picks the design; the email is sent when `subject` and `body` are given."""

    template_id: str | None = None
    subject: Annotated[str, StringConstraints(max_length=300)] | None = None
    body: Annotated[str, StringConstraints(max_length=20_000)] | None = None


class IssueRequest(RequestSchema):
    """`POST /api/certificates/issue`."""

    recipient_data: RecipientData
    organization_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    mail_data: MailData | None = None
    template_id: str | None = Field(
        default=None, description="Extension: the same as `mailData.templateId`."
    )

    @property
    def resolved_template_id(self) -> str | None:
        """`mailData.templateId`, else the top-level `templateId`."""
        if self.mail_data is not None and self.mail_data.template_id:
            return self.mail_data.template_id
        return self.template_id

    @property
    def wants_email(self) -> bool:
        """An email is sent when mailData carries a subject and a body."""
        return bool(self.mail_data and self.mail_data.subject and self.mail_data.body)


class RevokeRequest(RequestSchema):
    """`POST /api/certificates/{id}/revoke`."""

    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class CertificateRead(BaseSchema):
    """A certificate as answered by issue, get and list."""

    certificate_id: str
    recipient_name: str
    recipient_email: str | None
    organization_id: str
    template_id: str
    attributes: dict[str, str]
    status: Literal["issued", "revoked"]
    issued_at: Timestamp
    verification_url: str
    pdf_url: str
    email_status: EmailStatus
    template_version: int = Field(description="Extension: the design version it was issued from.")
    sub_account_email: str | None = Field(description="Extension.")
    test: bool = Field(description="Extension: issued with a test key (sandbox).")
    revoked_at: Timestamp | None = Field(default=None, description="Extension.")
    revocation_reason: str | None = Field(default=None, description="Extension.")
    delivery: DeliveryRead = Field(
        description=(
            "Extension: the latest email's status, attempts, last error and sending time, "
            "the same in every answer (issue, get, list, revoke, resend)."
        ),
    )


TIMESTAMP_FORMAT = (
    "must be an ISO 8601 date or date-time (UTC unless it has an offset), "
    "e.g. 2026-01-31 or 2026-01-31T09:30:00Z"
)


def _timestamp_filter(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # Pydantic's own messages ("input is too short") do not say what to send instead.
    if isinstance(value, str) and not value.strip():
        raise PydanticCustomError("timestamp", f"is empty: it {TIMESTAMP_FORMAT}")
    try:
        return handler(value)
    except ValidationError:
        raise PydanticCustomError(
            "timestamp", f"{TIMESTAMP_FORMAT} (got {str(value)[:40]!r})"
        ) from None


TimestampFilter = Annotated[datetime, WrapValidator(_timestamp_filter)]


class CertificateFilters(BaseSchema):
    """List filters (all optional)."""

    organization_id: str | None = None
    template_id: str | None = None
    recipient_email: str | None = None
    status: Literal["issued", "revoked"] | None = None
    issued_after: TimestampFilter | None = None
    issued_before: TimestampFilter | None = None
