"""Inputs of the renderer: a template (background + positioned fields) and one recipient's data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One positioned field of a template.

    `x`/`y` are percentages of the design. For text fields `x` is the point named by
    `alignment`; `y` depends on `vertical_alignment`: "middle" (default) puts the middle of
    the text block there, a single line's middle being half the primary font's cap height
    above its baseline (so mixed-script lines share one baseline); "top" puts the top of the
    first line's capitals there; "bottom" puts the last line's baseline there.

    Text fits a box: `width` is its width in percent of the template width (default: as far as
    the page edge allows from the anchor). Text wider than the box shrinks, down to
    `min_font_size` (default: half of `font_size`), then wraps onto up to `max_lines` lines,
    then is refused (`akowe.rendering.check` reports it).

    For "qr" fields (x, y) is the centre of the square and `font_size` its side length. For
    "logo" fields the image (`image`, else the certificate's organization logo) is fitted,
    keeping its aspect ratio, into a box `width` percent wide (default: `font_size` pixels)
    and `font_size` pixels high, placed by `alignment` and `vertical_alignment` like text.
    """

    id: str
    type: str  # "name" | "date" | "text" | "qr" | "certificateId" | "logo"
    text: str  # "text": attribute key; "date": optional strftime or CLDR pattern; others ignore
    font_size: float  # template pixels
    font_family: str
    color: str  # "#rrggbb"
    is_bold: bool
    is_italic: bool
    alignment: str  # "left" | "center" | "right"
    x: float
    y: float
    width: float | None = None  # percent of the template width
    max_lines: int = 1
    min_font_size: float | None = None  # template pixels; None: half of font_size
    vertical_alignment: str = "middle"  # "top" | "middle" | "bottom"
    language: str | None = None  # BCP 47, e.g. "ja", "zh-Hant"; None: the template's
    image: bytes | None = None  # "logo" fields: PNG or JPEG drawn instead of the organization's


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file carried inside the PDF as a PDF/A-3 associated file."""

    name: str  # e.g. "credential.json"
    data: bytes
    mime_type: str  # e.g. "application/ld+json"
    relationship: str = "Data"  # AFRelationship: Data | Source | Alternative | Supplement
    description: str = ""


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    """A certificate design; `key` must change whenever the background or fields change.

    `page_size` is the physical page: a name (`A4`, `A3`, `A5`, `Letter`, `Legal`, each with
    an optional `-landscape` or `-portrait`) or (width_mm, height_mm); None picks A4 or Letter,
    whichever aspect ratio is closer to the design's, in the design's orientation. The design
    is scaled uniformly onto the page and centred. `locale` formats dates (CLDR, via Babel);
    `language` selects CJK glyph forms for fields without their own. `fonts` are extra font
    files (TTF/OTF bytes) whose family names fields may use.
    """

    key: str
    width: int
    height: int
    background: bytes  # PNG, JPEG or WebP file bytes
    fields: tuple[FieldSpec, ...]
    page_size: str | tuple[float, float] | None = None
    locale: str = "en"
    language: str | None = None
    fonts: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class CertificateData:
    """What varies per certificate."""

    certificate_id: str
    recipient_name: str
    issued_at: datetime  # UTC-aware
    attributes: Mapping[str, str]
    verification_url: str
    test_mode: bool = False
    logo: bytes | None = None  # the issuing organization's logo (PNG or JPEG)
