"""Organization bodies on the wire: `{id, name, website, email, phone, logo, createdAt}`."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from akowe.organizations.models import Organization
from akowe.schemas import (
    BaseSchema,
    NamePattern,
    RequestSchema,
    SingleLineName,
    Timestamp,
    format_timestamp,
)
from akowe.storage.store import FileStore

_HOST_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", re.I)
_PHONE_RE = re.compile(r"^\+?[0-9 ().\-/]{3,40}$")


def _blank_to_none(value: Any) -> Any:
    # Clients built on Akowe's docs often send "" for optional fields they leave empty.
    return None if isinstance(value, str) and not value.strip() else value


def _check_website(value: str) -> str:
    candidate = value if "://" in value else f"https://{value}"
    parts = urlsplit(candidate)
    host = parts.hostname or ""
    if (
        parts.scheme.lower() not in {"http", "https"}
        or " " in value
        or not (host == "localhost" or _HOST_RE.match(host))
    ):
        raise PydanticCustomError("url", "must be a website address like https://example.com")
    return value


def _check_email(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise PydanticCustomError("email", "must be a valid email address") from exc


def _check_phone(value: str) -> str:
    if not _PHONE_RE.match(value):
        raise PydanticCustomError("phone", "must be a phone number (digits, spaces, + - ( ) .)")
    return value


Blank = BeforeValidator(_blank_to_none)
Name = Annotated[str, StringConstraints(min_length=1, max_length=200), SingleLineName, NamePattern]
Website = Annotated[
    Annotated[str, StringConstraints(max_length=2048), AfterValidator(_check_website)] | None,
    Blank,
]
Email = Annotated[
    Annotated[str, StringConstraints(max_length=320), AfterValidator(_check_email)] | None,
    Blank,
]
Phone = Annotated[Annotated[str, AfterValidator(_check_phone)] | None, Blank]
Logo = Annotated[
    Annotated[str, StringConstraints(max_length=2 * 1024 * 1024)] | None,
    Blank,
    Field(
        description="A data URI: `data:image/png;base64,...` (PNG, JPEG, WebP or SVG, <= 1 MiB)."
    ),
]


class OrganizationCreate(RequestSchema):
    """`POST /api/profile/organization`: `name` required, the rest optional."""

    name: Name
    website: Website = None
    email: Email = None
    phone: Phone = None
    logo: Logo = None


class OrganizationUpdate(RequestSchema):
    """`PATCH`: only the fields sent change; `null` or `""` clears an optional field."""

    name: Name | None = None
    website: Website = None
    email: Email = None
    phone: Phone = None
    logo: Logo = None

    @field_validator("name")
    @classmethod
    def _name_not_null(cls, value: str | None) -> str:
        if value is None:
            raise PydanticCustomError("required", "must not be empty")
        return value


class OrganizationRead(BaseSchema):
    """An organization as answered: `logo` is a URL served by this service."""

    id: str
    name: str
    website: str | None
    email: str | None
    phone: str | None
    logo: str | None = Field(description="URL of the logo, served by this service.")
    created_at: Timestamp

    @staticmethod
    def wire(organization: Organization, store: FileStore) -> dict[str, Any]:
        """An organization as answered (logo key turned into its URL): this model's shape."""
        return {
            "id": organization.id,
            "name": organization.name,
            "website": organization.website,
            "email": organization.email,
            "phone": organization.phone,
            "logo": store.url(organization.logo_key) if organization.logo_key else None,
            "createdAt": format_timestamp(organization.created_at),
        }
