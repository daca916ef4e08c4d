"""Template bodies on the wire: `{id, name, imageUrl, fields, dimensions, subAccountEmail,
createdAt}` plus the extensions `updatedAt` and `version`."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StringConstraints, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from akowe.schemas import (
    BaseSchema,
    NamePattern,
    RequestSchema,
    SingleLineName,
    Timestamp,
    camelize,
    format_timestamp,
)
from akowe.storage.store import FileStore
from akowe.templates.models import Template

DEFAULT_FONT_FAMILY = "Noto Sans"
MAX_FIELDS = 100
MAX_SIDE = 10_000
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


def _strict_bool(value: Any) -> Any:
    # Litestar calls model_validate(strict=False), which overrides StrictBool: "yes" and 1
    # would pass as booleans.
    if not isinstance(value, bool):
        raise PydanticCustomError("bool", "must be true or false")
    return value


Bool = Annotated[bool, BeforeValidator(_strict_bool)]
FieldType = Literal["name", "date", "text", "qr", "certificateId"]
Alignment = Literal["left", "center", "right"]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200), SingleLineName, NamePattern]
ImageUrl = Annotated[
    str,
    StringConstraints(min_length=1),
    Field(
        description=(
            "A data URI, bare base64, or an http(s) URL fetched once by the server "
            "(public addresses only, <= 10 MiB, 10 s). PNG, JPEG or WebP."
        )
    ),
]


class Dimensions(BaseSchema):
    """The template's size in template pixels; must have the image's aspect ratio."""

    width: int = Field(ge=1, le=MAX_SIDE)
    height: int = Field(ge=1, le=MAX_SIDE)


class FieldIn(RequestSchema):
    """A positioned field as sent; `id` is kept when given (PATCH), otherwise assigned."""

    id: str | None = Field(default=None, description="Keep a field's id across updates.")
    type: FieldType
    text: str = Field(
        default="",
        max_length=500,
        validate_default=True,
        description="For `text` fields: the key of the recipient attribute to print.",
    )
    font_size: float = Field(default=24, gt=0, le=2000, description="In template pixels.")
    font_family: str = Field(default=DEFAULT_FONT_FAMILY, min_length=1, max_length=100)
    color: str = Field(default="#000000", description="`#rrggbb`.")
    is_bold: Bool = False
    is_italic: Bool = False
    alignment: Alignment = "center"
    x: float = Field(ge=0, le=100, description="Percent of the width.")
    y: float = Field(ge=0, le=100, description="Percent of the height.")

    @field_validator("id")
    @classmethod
    def _id_is_uuid(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(uuid.UUID(value))
        except ValueError as exc:
            raise PydanticCustomError("uuid", "must be a UUID") from exc

    @field_validator("text")
    @classmethod
    def _text_required_for_text_fields(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("type") == "text" and not value:
            raise PydanticCustomError(
                "required", "is required for text fields (the attribute key to print)"
            )
        return value

    @field_validator("color")
    @classmethod
    def _color(cls, value: str) -> str:
        if not _COLOR_RE.match(value):
            raise PydanticCustomError("color", "must be a colour like #1a2b3c")
        return value.lower()


class TemplateCreate(RequestSchema):
    """`POST /api/templates`: every key required."""

    name: Name
    image_url: ImageUrl
    dimensions: Dimensions
    fields: list[FieldIn] = Field(max_length=MAX_FIELDS)


class TemplateUpdate(RequestSchema):
    """`PATCH /api/templates/{templateId}`: only the keys sent change (none may be null)."""

    name: Name | None = None
    image_url: ImageUrl | None = None
    dimensions: Dimensions | None = None
    fields: list[FieldIn] | None = Field(default=None, max_length=MAX_FIELDS)

    @field_validator("name", "image_url", "dimensions", "fields")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError("required", "must not be null")
        return value


class FieldRead(BaseSchema):
    """A field as answered (always with its id)."""

    id: str
    type: str
    text: str
    font_size: float
    font_family: str
    color: str
    is_bold: bool
    is_italic: bool
    alignment: str
    x: float
    y: float


class TemplateRead(BaseSchema):
    """A template as answered; `imageUrl` is served by this service."""

    id: str
    name: str
    image_url: str
    fields: list[FieldRead]
    dimensions: Dimensions
    sub_account_email: str | None
    created_at: Timestamp
    updated_at: Timestamp = Field(description="Extension.")
    version: int = Field(description="Extension: increases whenever the design changes.")

    @staticmethod
    def wire(template: Template, store: FileStore) -> dict[str, Any]:
        """A template as answered (image key turned into its URL): this model's shape."""
        return {
            "id": template.id,
            "name": template.name,
            "imageUrl": store.url(template.image_key),
            "fields": [camelize(f) for f in template.fields],
            "dimensions": {"width": template.width, "height": template.height},
            "subAccountEmail": template.subaccount_email,
            "createdAt": format_timestamp(template.created_at),
            "updatedAt": format_timestamp(template.updated_at),
            "version": template.version,
        }
