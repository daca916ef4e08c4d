"""Wire conventions shared by every domain: camelCase names, envelopes, timestamps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel


def format_timestamp(value: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a `Z`, e.g. `2025-09-24T18:23:43.621Z`."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


Timestamp = Annotated[datetime, PlainSerializer(format_timestamp, return_type=str)]


class BaseSchema(BaseModel):
    """Base of every request and response body: snake_case in Python, camelCase on the wire."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        from_attributes=True,
        str_strip_whitespace=True,
    )


class RequestSchema(BaseSchema):
    """Request bodies refuse unknown fields only where that protects users; extra keys ignored."""

    model_config = ConfigDict(extra="ignore")


DataT = TypeVar("DataT")


class Envelope(BaseModel, Generic[DataT]):
    """`{"success": true, "message": "...", "data": ...}`."""

    success: bool = True
    message: str = ""
    data: DataT


class ErrorItem(BaseModel):
    """One invalid field: `{"field": "recipientData.email", "message": "..."}`."""

    field: str
    message: str


class ErrorEnvelope(BaseModel):
    """`{"success": false, "message": "...", "code": "...", "errors": [...]}`."""

    success: bool = False
    message: str
    code: str
    errors: list[ErrorItem] | None = None


def envelope(data: Any, message: str = "") -> dict[str, Any]:
    """The success envelope as a plain dict (fast path for handlers)."""
    return {"success": True, "message": message, "data": data}
