"""Wire conventions shared by every domain: camelCase names, envelopes, timestamps.

Responses are built as plain JSON-ready dicts by each domain's `wire` functions and encoded
by msgspec; the `*Read` models here and in the domains document their shape (OpenAPI) and
tests validate every wire dict against them. Building Pydantic models only to serialize them
again cost about 10 us per row, more than reading the row.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel


def format_timestamp(value: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a `Z`, e.g. `2025-09-24T18:23:43.621Z`."""
    if value.tzinfo is not UTC:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    # Field by field: isoformat() on an aware datetime costs more (it formats the offset).
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond // 1000,
    )


def timestamp_or_none(value: datetime | None) -> str | None:
    """`format_timestamp`, passing None through."""
    return None if value is None else format_timestamp(value)


@functools.cache
def camel(name: str) -> str:
    """A snake_case name as it is spelled on the wire."""
    return to_camel(name)


def camelize(values: Mapping[str, Any]) -> dict[str, Any]:
    """A stored snake_case mapping with wire (camelCase) keys."""
    return {camel(key): value for key, value in values.items()}


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
