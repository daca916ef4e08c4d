"""Issuance bodies on the wire, exactly as Akowe documents them, plus our extensions."""

from __future__ import annotations

import re
from datetime import UTC, datetime
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
from akowe.schemas import (
    DELIVERABLE_EMAIL,
    NAME_PATTERN,
    NOT_BLANK,
    BaseSchema,
    NamePattern,
    RequestSchema,
    SingleLine,
    SingleLineName,
    SingleLinePattern,
    Timestamp,
)

Text = Annotated[str, StringConstraints(min_length=1, max_length=200), SingleLineName, NamePattern]
Id = Annotated[str, StringConstraints(max_length=64)]
MAX_ATTRIBUTES = 50
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
EmailStatus = Literal[
    "not_requested", "queued", "sending", "sent", "retrying", "failed", "captured"
]  # the latest email's status (a superseded email is never the latest)


ATTRIBUTES_SCHEMA: dict[str, Any] = {
    "maxProperties": MAX_ATTRIBUTES,
    "propertyNames": {"minLength": 1, "maxLength": 200, "pattern": NAME_PATTERN},
    "additionalProperties": {"anyOf": [{"type": "string", "maxLength": 1000}, {"type": "number"}]},
}


class RecipientData(RequestSchema):
    """Who the certificate is for; `attributes` fill the template's text fields."""

    name: Text
    email: Annotated[EmailStr | None, DELIVERABLE_EMAIL] = None
    attributes: dict[str, Any] = Field(
        default_factory=dict,
        json_schema_extra=ATTRIBUTES_SCHEMA,
    )

    @field_validator("attributes")
    @classmethod
    def _scalar_values(cls, value: dict[str, Any]) -> dict[str, str]:
        return scalar_attributes(value)


def scalar_attributes(value: dict[str, Any]) -> dict[str, str]:
    """Attributes as text: at most 50, one-line names, text or number values."""
    if len(value) > MAX_ATTRIBUTES:
        raise PydanticCustomError("too_many", f"at most {MAX_ATTRIBUTES} attributes")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not key.strip() or len(key) > 200:
            raise PydanticCustomError("key", "attribute names must be 1-200 characters")
        if _CONTROL.search(key):
            raise PydanticCustomError("key", "attribute names must be one line")
        if isinstance(item, bool) or item is None or isinstance(item, dict | list):
            raise PydanticCustomError("value", f"attribute {key!r} must be text or a number")
        text = str(item)
        if len(text) > 1000:
            raise PydanticCustomError("value", f"attribute {key!r} is over 1000 characters")
        out[key] = text
    return out


class MailData(RequestSchema):
    """`templateId` picks the design; the email is sent when `subject` and `body` are given."""

    template_id: Id | None = None
    subject: (
        Annotated[str, StringConstraints(max_length=300), SingleLine, SingleLinePattern] | None
    ) = None
    body: Annotated[str, StringConstraints(max_length=20_000)] | None = None


class IssueRequest(RequestSchema):
    """`POST /api/certificates/issue`."""

    recipient_data: RecipientData
    organization_id: Annotated[str, StringConstraints(min_length=1, max_length=64), NOT_BLANK]
    mail_data: MailData | None = None
    template_id: Id | None = Field(
        default=None, description="Extension: the same as `mailData.templateId`."
    )
    expires_at: datetime | None = Field(
        default=None,
        description=(
            "Extension: when the certificate expires (ISO 8601, in the future; without a time "
            "zone it is UTC; kept to the second, as its credential's `validUntil`)."
        ),
    )

    @field_validator("expires_at")
    @classmethod
    def _future_second(cls, value: datetime | None) -> datetime | None:
        return future_second(value)

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


def future_second(value: datetime | None) -> datetime | None:
    """An expiry: in the future, UTC, to the second (None stays None)."""
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    aware = aware.astimezone(UTC).replace(microsecond=0)
    if aware <= datetime.now(UTC):
        raise PydanticCustomError("future", "must be in the future")
    return aware


class CorrectionRequest(RequestSchema):
    """`PATCH /api/certificates/{id}`: the fields to correct (at least one); `attributes`
    replaces all of them; `expiresAt: null` removes the expiry; `email: null` the address."""

    name: Text | None = None
    email: Annotated[EmailStr | None, DELIVERABLE_EMAIL] = None
    attributes: dict[str, Any] | None = Field(default=None, json_schema_extra=ATTRIBUTES_SCHEMA)
    expires_at: datetime | None = Field(
        default=None, description="ISO 8601, in the future; null removes the expiry."
    )
    notify: bool = Field(
        default=False, description="Email the corrected certificate to the recipient."
    )

    @field_validator("attributes")
    @classmethod
    def _scalar_values(cls, value: dict[str, Any] | None) -> dict[str, str] | None:
        return None if value is None else scalar_attributes(value)

    @field_validator("expires_at")
    @classmethod
    def _future_second(cls, value: datetime | None) -> datetime | None:
        return future_second(value)


CORRECTABLE = ("name", "email", "attributes", "expiresAt")
# At least one correctable field (`notify` alone corrects nothing).
CORRECTION_REQUEST_RULES: dict[str, Any] = {
    "anyOf": [{"required": [field]} for field in CORRECTABLE],
}


# What a JSON Schema can say of IssueRequest beyond its fields (the document adds it): the
# template is named in `mailData.templateId` or `templateId`, and an email (`mailData` with a
# subject and a body) needs the recipient's address.
_ID = {"type": "string", "minLength": 1, "maxLength": 64}
ISSUE_REQUEST_RULES: dict[str, Any] = {
    "anyOf": [
        {"required": ["templateId"], "properties": {"templateId": _ID}},
        {
            "required": ["mailData"],
            "properties": {
                "mailData": {
                    "type": "object",
                    "required": ["templateId"],
                    "properties": {"templateId": _ID},
                }
            },
        },
    ],
    "if": {
        "required": ["mailData"],
        "properties": {
            "mailData": {
                "type": "object",
                "required": ["subject", "body"],
                "properties": {
                    "subject": {"type": "string", "pattern": "\\S"},
                    "body": {"type": "string", "pattern": "\\S"},
                },
            }
        },
    },
    "then": {
        "properties": {
            "recipientData": {"required": ["email"], "properties": {"email": {"type": "string"}}}
        }
    },
}


class RevokeRequest(RequestSchema):
    """`POST /api/certificates/{id}/revoke`."""

    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000), NOT_BLANK]


class CertificateRead(BaseSchema):
    """A certificate as answered by issue, get and list."""

    certificate_id: str
    recipient_name: str
    recipient_email: str | None
    organization_id: str
    template_id: str
    attributes: dict[str, str]
    status: Literal["issued", "revoked", "expired", "erased"] = Field(
        description="`erased`: a tombstone (extension); its recipient's data is gone."
    )
    issued_at: Timestamp
    verification_url: str
    pdf_url: str
    email_status: EmailStatus
    template_version: int = Field(description="Extension: the design version it was issued from.")
    sub_account_email: str | None = Field(description="Extension.")
    test: bool = Field(description="Extension: issued with a test key (sandbox).")
    expires_at: Timestamp | None = Field(
        default=None, description="Extension: when it expires (then `status` is `expired`)."
    )
    revoked_at: Timestamp | None = Field(default=None, description="Extension.")
    revocation_reason: str | None = Field(default=None, description="Extension.")
    delivery: DeliveryRead = Field(
        description=(
            "Extension: the latest email's status, attempts, last error and sending time, "
            "the same in every answer (issue, get, list, revoke, resend)."
        ),
    )
    revision: int = Field(
        default=1, description="Extension: 1 at issue, one more with each correction."
    )
    corrected_at: Timestamp | None = Field(
        default=None, description="Extension: when it was last corrected."
    )
    erased_at: Timestamp | None = Field(
        default=None, description="Extension: when its recipient's data was erased."
    )


TIMESTAMP_FORMAT = (
    "must be an ISO 8601 (RFC 3339) date-time with its offset, or a date, "
    "e.g. 2026-01-31 or 2026-01-31T09:30:00Z"
)
# RFC 3339 date-time (with its offset) or a full date, exactly what the document admits.
_DATE_OR_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2}))?$"
)
DATE_OR_DATE_TIME: dict[str, Any] = {
    "anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]
}


def _timestamp_filter(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # Pydantic's own messages ("input is too short") do not say what to send instead.
    if isinstance(value, str) and not value.strip():
        raise PydanticCustomError("timestamp", f"is empty: it {TIMESTAMP_FORMAT}")
    if not isinstance(value, str) or not _DATE_OR_DATE_TIME.match(value):
        raise PydanticCustomError("timestamp", f"{TIMESTAMP_FORMAT} (got {str(value)[:40]!r})")
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
    status: Literal["issued", "revoked", "expired", "erased"] | None = None
    issued_after: TimestampFilter | None = None
    issued_before: TimestampFilter | None = None
    q: str | None = None
