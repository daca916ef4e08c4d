"""Font bodies on the wire (extension): `POST /api/fonts` takes a multipart upload."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from akowe.fonts.models import Font
from akowe.schemas import BaseSchema, Timestamp, format_timestamp


class FontRead(BaseSchema):
    """An uploaded font as answered; templates use it by naming its `family`."""

    id: str
    family: str = Field(description="Name a field's `fontFamily` with this to use the font.")
    style: str = Field(description="`regular`, `bold`, `italic` or `bold italic`.")
    full_name: str
    is_bold: bool
    is_italic: bool
    outlines: str = Field(description="`truetype` (glyf) or `cff`.")
    glyph_count: int
    fs_type: int = Field(description="OS/2 fsType: the embedding permissions in the file.")
    embeddable: bool = Field(description="Always true: other fonts are refused at upload.")
    license: str | None = Field(description="The font's licence description (name ID 13).")
    license_url: str | None = Field(description="The font's licence URL (name ID 14).")
    file_name: str | None
    size_bytes: int
    created_at: Timestamp

    @staticmethod
    def wire(font: Font) -> dict[str, Any]:
        """A font row as answered: this model's shape."""
        return {
            "id": font.id,
            "family": font.family,
            "style": font.style,
            "fullName": font.full_name,
            "isBold": font.is_bold,
            "isItalic": font.is_italic,
            "outlines": font.outlines,
            "glyphCount": font.glyph_count,
            "fsType": font.fs_type,
            "embeddable": font.embeddable,
            "license": font.license,
            "licenseUrl": font.license_url,
            "fileName": font.file_name,
            "sizeBytes": font.size_bytes,
            "createdAt": format_timestamp(font.created_at),
        }
