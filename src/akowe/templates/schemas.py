"""Template bodies on the wire: `{id, name, imageUrl, fields, dimensions, subAccountEmail,
createdAt}` plus the extensions `updatedAt`, `version`, `pageSize`, `locale`, `language`,
`warnings`, and the field boxes (`width`, `maxLines`, `minFontSize`, `verticalAlignment`,
`language`) and `logo` fields."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from akowe.rendering import PAGE_SIZES, default_page_size, is_known_locale
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
from akowe.templates.legacy import legacy_family
from akowe.templates.models import Template

DEFAULT_FONT_FAMILY = "Noto Sans"
MAX_FIELDS = 100
MAX_SIDE = 10_000
MAX_LINES = 10
MAX_PAGE_MM = 5000.0
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
# A BCP 47 tag as far as glyph selection needs it: language, then script/region subtags.
_LANGUAGE_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")
_PAGE_NAMES = {name: name.upper() if name.startswith("a") else name.title() for name in PAGE_SIZES}
PAGE_SIZE_HELP = (
    "must be one of "
    + ", ".join(_PAGE_NAMES.values())
    + " (optionally with -landscape or -portrait) or {widthMm, heightMm}"
)


def _strict_bool(value: Any) -> Any:
    # Litestar calls model_validate(strict=False), which overrides StrictBool: "yes" and 1
    # would pass as booleans.
    if not isinstance(value, bool):
        raise PydanticCustomError("bool", "must be true or false")
    return value


def _page_size(value: Any) -> Any:
    """A page size name, canonically spelled ("a4-LANDSCAPE" -> "A4-landscape"), or
    `{"width_mm", "height_mm"}` from `{widthMm, heightMm}` (positive, at most 5 m)."""
    if isinstance(value, str):
        name, _, orientation = value.strip().lower().partition("-")
        if name in _PAGE_NAMES and orientation in ("", "landscape", "portrait"):
            return _PAGE_NAMES[name] + (f"-{orientation}" if orientation else "")
    elif isinstance(value, dict) and set(value) == {"widthMm", "heightMm"}:
        sides = [value["widthMm"], value["heightMm"]]
        if all(
            isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= MAX_PAGE_MM
            for v in sides
        ):
            return {"width_mm": float(sides[0]), "height_mm": float(sides[1])}
        raise PydanticCustomError(
            "page_size",
            f"widthMm and heightMm must be millimetres above 0 and at most {MAX_PAGE_MM:g}",
        )
    raise PydanticCustomError("page_size", PAGE_SIZE_HELP)


def _language(value: Any) -> Any:
    if value is not None and (not isinstance(value, str) or not _LANGUAGE_RE.match(value)):
        raise PydanticCustomError("language", 'must be a language tag such as "ja" or "zh-Hant"')
    return value


def _locale(value: Any) -> Any:
    if not isinstance(value, str) or len(value) > 35 or not is_known_locale(value):
        raise PydanticCustomError(
            "locale", 'must be a known locale (CLDR) such as "en", "fr", "pt-BR" or "ja"'
        )
    return value


Bool = Annotated[bool, BeforeValidator(_strict_bool)]
FieldType = Literal["name", "date", "text", "qr", "certificateId", "logo"]
Alignment = Literal["left", "center", "right"]
VerticalAlignment = Literal["top", "middle", "bottom"]
_PAGE_SIZE_SCHEMA = {
    "anyOf": [
        {"type": "string", "examples": ["A4", "A4-landscape", "Letter-portrait"]},
        {
            "type": "object",
            "properties": {"widthMm": {"type": "number"}, "heightMm": {"type": "number"}},
            "required": ["widthMm", "heightMm"],
        },
    ],
    "description": (
        "The physical page: A3, A4, A5, Letter or Legal (optionally -landscape or -portrait; "
        "without one, the design's orientation) or {widthMm, heightMm}. The design is scaled "
        "onto it uniformly and centred. Omitted or null: A4 or Letter, whichever is closer "
        "to the design's aspect ratio."
    ),
}
PageSize = Annotated[Any, BeforeValidator(_page_size), WithJsonSchema(_PAGE_SIZE_SCHEMA)]
Language = Annotated[
    str | None,
    BeforeValidator(_language),
    Field(description='CJK glyph forms: a language tag such as "ja", "ko", "zh-Hans", "zh-Hant".'),
]
Locale = Annotated[
    str,
    BeforeValidator(_locale),
    Field(description='How dates are written (CLDR locale, e.g. "fr", "pt-BR", "ja").'),
]
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


FONT_SIZE = (
    "In template pixels: the text's size; for `qr` fields the side length of the square "
    "(its white quiet zone included)."
)
X = (
    "Percent of the width, from the left: the anchor. `alignment` picks which point of the "
    "text sits there (its left end, centre or right end); a `qr` square is centred on it."
)
Y = (
    "Percent of the height, from the top: the anchor. For text it is the middle of the line "
    "(half the capital height above the baseline, so text in any script shares one "
    "baseline); a `qr` square is centred on it."
)


class Dimensions(BaseSchema):
    """The template's size in template pixels; must have the image's aspect ratio."""

    width: int = Field(ge=1, le=MAX_SIDE)
    height: int = Field(ge=1, le=MAX_SIDE)


class FieldIn(RequestSchema):
    """A positioned field as sent; `id` is kept when given (PATCH), otherwise assigned.

    `logo` fields (extension) draw the issuing organization's logo (PNG, JPEG or WebP), fitted
    into a box `fontSize` pixels high and `width` percent wide, placed like text.
    """

    id: str | None = Field(default=None, description="Keep a field's id across updates.")
    type: FieldType
    text: str = Field(
        default="",
        max_length=500,
        validate_default=True,
        description="For `text` fields: the key of the recipient attribute to print.",
    )
    font_size: float = Field(default=24, gt=0, le=2000, description=FONT_SIZE)
    font_family: str = Field(default=DEFAULT_FONT_FAMILY, min_length=1, max_length=100)
    color: str = Field(default="#000000", description="`#rrggbb`.")
    is_bold: Bool = False
    is_italic: Bool = False
    alignment: Alignment = "center"
    x: float = Field(ge=0, le=100, description=X)
    y: float = Field(ge=0, le=100, description=Y)
    width: float | None = Field(
        default=None,
        gt=0,
        le=100,
        description=(
            "Extension: the box's width in percent of the template width, placed by "
            "`alignment` at `x` (default: up to the page edge). Text wider than the box "
            "shrinks to `minFontSize`, then wraps onto `maxLines` lines, else is refused. "
            "`logo` fields: the logo's box width (default: `fontSize` pixels)."
        ),
    )
    max_lines: int = Field(
        default=1, ge=1, le=MAX_LINES, description="Extension: lines the text may wrap onto."
    )
    min_font_size: float | None = Field(
        default=None,
        gt=0,
        le=2000,
        description="Extension: the smallest size text may shrink to (default: half `fontSize`).",
    )
    vertical_alignment: VerticalAlignment = Field(
        default="middle",
        description=(
            "Extension: what sits at `y`: the top of the first line's capitals, the middle of "
            "the text block, or the last line's baseline."
        ),
    )
    language: Language = None

    @field_validator("min_font_size")
    @classmethod
    def _min_below_size(cls, value: float | None, info: ValidationInfo) -> float | None:
        size = info.data.get("font_size")
        if value is not None and size is not None and value > size:
            raise PydanticCustomError("min_font_size", "must not be larger than fontSize")
        return value

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
    page_size: PageSize = None
    locale: Locale = "en"
    language: Language = None

    @field_validator("page_size", mode="wrap")
    @classmethod
    def _page_size_may_be_null(cls, value: Any, handler: Any) -> Any:
        return None if value is None else handler(value)


class TemplateUpdate(RequestSchema):
    """`PATCH /api/templates/{templateId}`: only the keys sent change (none may be null)."""

    name: Name | None = None
    image_url: ImageUrl | None = None
    dimensions: Dimensions | None = None
    fields: list[FieldIn] | None = Field(default=None, max_length=MAX_FIELDS)
    page_size: PageSize = Field(default=None, description="`null`: automatic again.")
    locale: Locale | None = None
    language: Language = None

    @field_validator("name", "image_url", "dimensions", "fields", "locale")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError("required", "must not be null")
        return value

    @field_validator("page_size", mode="wrap")
    @classmethod
    def _page_size_may_be_null(cls, value: Any, handler: Any) -> Any:
        return None if value is None else handler(value)


class FieldRead(BaseSchema):
    """A field as answered (always with its id)."""

    id: str
    type: str
    text: str
    font_size: float = Field(description=FONT_SIZE)
    font_family: str
    color: str
    is_bold: bool
    is_italic: bool
    alignment: str
    x: float = Field(description=X)
    y: float = Field(description=Y)
    width: float | None = Field(description="Extension: box width, percent of the template.")
    max_lines: int = Field(description="Extension.")
    min_font_size: float | None = Field(description="Extension: null is half of fontSize.")
    vertical_alignment: str = Field(description="Extension: `top`, `middle` or `bottom`.")
    language: str | None = Field(description="Extension: null is the template's.")


class PageSizeMm(BaseSchema):
    """A page size in millimetres."""

    width_mm: float
    height_mm: float


class TemplateWarning(BaseSchema):
    """Something about a saved design the owner should act on; it does not stop issuing."""

    field: str
    message: str


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
    page_size: str | PageSizeMm = Field(
        description="Extension: the physical page it prints on (the automatic choice too)."
    )
    locale: str = Field(description="Extension: how dates are written.")
    language: str | None = Field(description="Extension: CJK glyph forms.")
    warnings: list[TemplateWarning] = Field(
        description=(
            "Extension: e.g. a font family saved before families were checked, drawn with a "
            "bundled font; the next change of `fields` must name an available family."
        )
    )

    @staticmethod
    def wire(template: Template, store: FileStore) -> dict[str, Any]:
        """A template as answered (image key turned into its URL): this model's shape."""
        return {
            "id": template.id,
            "name": template.name,
            "imageUrl": store.url(template.image_key),
            "fields": [field_wire(f) for f in template.fields],
            "dimensions": {"width": template.width, "height": template.height},
            "subAccountEmail": template.subaccount_email,
            "createdAt": format_timestamp(template.created_at),
            "updatedAt": format_timestamp(template.updated_at),
            "version": template.version,
            "pageSize": page_size_wire(template.page_size, template.width, template.height),
            "locale": template.locale,
            "language": template.language,
            "warnings": legacy_warnings(template) if template.font_keys is None else [],
        }


# Field attributes added after the first fields were stored, with the value they mean.
_FIELD_DEFAULTS = {
    "width": None,
    "maxLines": 1,
    "minFontSize": None,
    "verticalAlignment": "middle",
    "language": None,
}


_FIELD_KEYS = len(FieldRead.model_fields)


def field_wire(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored field as answered: camelCase, with the box attributes older fields lack."""
    out = camelize(stored)
    if len(out) < _FIELD_KEYS:
        for key, value in _FIELD_DEFAULTS.items():
            out.setdefault(key, value)
    return out


def page_size_wire(stored: Any, width: int, height: int) -> Any:
    """The page a design prints on: the stored choice, or the automatic one."""
    if stored is None:
        return default_page_size(width, height)
    if isinstance(stored, dict):
        return {"widthMm": stored["width_mm"], "heightMm": stored["height_mm"]}
    return stored


def legacy_warnings(template: Template) -> list[dict[str, str]]:
    """Fields of a design saved before font families were checked whose family is not
    available: they are drawn as they always were (see akowe.templates.service)."""
    found = []
    for index, field in enumerate(template.fields):
        family = field.get("font_family", DEFAULT_FONT_FAMILY)
        drawn = legacy_family(field.get("type", ""), family)
        if drawn != family:
            found.append(
                {
                    "field": f"fields.{index}.fontFamily",
                    "message": (
                        f"{family!r} is not an available font; it is drawn with {drawn} as it "
                        "always was. Upload the font (POST /api/fonts) or choose a bundled "
                        "family: the next change of the fields must name an available one."
                    ),
                }
            )
    return found
