"""Wire conventions shared by every domain: camelCase names, envelopes, timestamps.

Responses are built as plain JSON-ready dicts by each domain's `wire` functions and encoded
by msgspec; the `*Read` models here and in the domains document their shape (OpenAPI) and
tests validate every wire dict against them. Building Pydantic models only to serialize them
again cost about 10 us per row, more than reading the row.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

import email_validator
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError, core_schema

# Zero-padded digits, looked up rather than formatted: `%02d` of an int costs about three
# times what the whole lookup-and-join does, and every row a list answers carries timestamps.
_DIGITS2 = tuple(f"{n:02d}" for n in range(100))
_DIGITS3 = tuple(f"{n:03d}" for n in range(1000))
_YEARS = tuple(f"{n:04d}" for n in range(10000))  # datetime's years are 1 to 9999


def format_timestamp(value: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a `Z`, e.g. `2025-09-24T18:23:43.621Z`."""
    if value.tzinfo is not UTC:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    two = _DIGITS2
    return (
        f"{_YEARS[value.year]}-{two[value.month]}-{two[value.day]}T{two[value.hour]}:"
        f"{two[value.minute]}:{two[value.second]}.{_DIGITS3[value.microsecond // 1000]}Z"
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

# C0 and C1 control characters (CR and LF included): a name ends up in email headers and on
# one printed line, where they break both.
SINGLE_LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
# ... and, since surrounding whitespace is stripped, not blank.
NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class _SingleLine:
    """Refuse control characters with a clear message, documented as a pattern."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(_single_line, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        json_schema: dict[str, Any] = handler(schema)
        json_schema["pattern"] = self.pattern
        return json_schema


def _single_line(value: str) -> str:
    if _CONTROL.search(value):
        raise PydanticCustomError(
            "control_characters", "must be one line without control characters (CR, LF, tab)"
        )
    return value


def _remember_email_domains() -> None:
    """email-validator checks an address's domain character by character (UTS #46): two
    thirds of validating an address, ~50 us on a slow core. The addresses of a class or a
    bulk file share a handful of domains, so each domain's verdict is remembered: the same
    function, its result (two strings, never changed by the caller) reused; a refused domain
    raises again every time (exceptions are not cached). Checked against the pinned version
    by tests/test_wire_formats.py."""
    module: Any = sys.modules["email_validator.validate_email"]
    check = module.validate_email_domain_name
    if not hasattr(check, "cache_info"):
        module.validate_email_domain_name = functools.lru_cache(maxsize=4096)(check)


_remember_email_domains()


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" for c in word)


# email-validator refuses addresses in special-use domains (RFC 6761: .test, .localhost,
# ...); the document says so, since `format: email` alone admits them.
DELIVERABLE_EMAIL = Field(
    json_schema_extra={
        "format": "email",
        "pattern": "^(?!.*[.@](?:"
        + "|".join(_any_case(name) for name in email_validator.SPECIAL_USE_DOMAIN_NAMES)
        + r")\.?$)",
    }
)
# A required text that whitespace alone does not fill (surrounding whitespace is stripped).
NOT_BLANK = Field(json_schema_extra={"pattern": r"\S"})

SingleLine = _SingleLine(SINGLE_LINE_PATTERN)
SingleLineName = _SingleLine(NAME_PATTERN)
# The same patterns for Litestar's document (it builds schemas from field metadata).
SingleLinePattern = Field(json_schema_extra={"pattern": SINGLE_LINE_PATTERN})
NamePattern = Field(json_schema_extra={"pattern": NAME_PATTERN})


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
