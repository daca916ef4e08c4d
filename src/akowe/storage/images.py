"""Decoding and checking user-supplied images: data URIs, bare base64, raster and SVG files.

Every function raises `ImageRejected` with a sentence fit for a field error; callers name
the field.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass
from xml.etree import ElementTree

from PIL import Image, UnidentifiedImageError

# An A4 page at 600 dpi is ~35 M pixels; anything larger is refused before it is decoded.
MAX_PIXELS = 50_000_000
RASTER_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
SVG_CONTENT_TYPE = "image/svg+xml"
_DATA_URI_RE = re.compile(r"^data:([^;,]*)((?:;[^;,]*)*),(.*)$", re.DOTALL)
_SVG_ROOTS = {"svg", "{http://www.w3.org/2000/svg}svg"}


class ImageRejected(Exception):
    """The input is not an acceptable image; the message says why."""


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """A checked image: its bytes, real media type and pixel size (None for SVG)."""

    data: bytes
    content_type: str
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class DataUri:
    """A decoded `data:` URI."""

    media_type: str
    data: bytes


def is_data_uri(value: str) -> bool:
    """Whether the string looks like a `data:` URI."""
    return value[:5].lower() == "data:"


def decode_base64(value: str) -> bytes:
    """Standard or URL-safe base64, whitespace and missing padding tolerated."""
    compact = re.sub(r"\s+", "", value)
    compact += "=" * (-len(compact) % 4)
    try:
        if "-" in compact or "_" in compact:
            return base64.urlsafe_b64decode(compact)
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageRejected("is not valid base64") from exc


def parse_data_uri(value: str) -> DataUri:
    """Decode `data:<type>;base64,<data>`; only base64 payloads are accepted."""
    match = _DATA_URI_RE.match(value.strip())
    if match is None:
        raise ImageRejected("is not a valid data URI")
    media_type, params, payload = match.groups()
    if ";base64" not in params.lower():
        raise ImageRejected("must be a base64 data URI (data:image/png;base64,...)")
    data = decode_base64(payload)
    if not data:
        raise ImageRejected("is empty")
    return DataUri(media_type=media_type.strip().lower(), data=data)


def check_raster(data: bytes, *, max_bytes: int) -> ImageInfo:
    """Decode a PNG, JPEG or WebP fully (so corrupt files are caught) and return its size."""
    if len(data) > max_bytes:
        raise ImageRejected(f"is larger than {max_bytes // (1024 * 1024)} MiB")
    try:
        with Image.open(io.BytesIO(data), formats=list(RASTER_FORMATS)) as img:
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise ImageRejected(f"has too many pixels ({width}x{height})")
            fmt = img.format or ""
            img.verify()  # chunk checksums and structure (PNG); verify() spends the file
        with Image.open(io.BytesIO(data), formats=[fmt]) as img:
            img.load()  # a full decode catches truncated or corrupt pixel data
    except ImageRejected:
        raise
    # DecompressionBombWarning is raised, not just warned, where warnings are errors.
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("has too many pixels") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected("is not a valid PNG, JPEG or WebP image") from exc
    return ImageInfo(data=data, content_type=RASTER_FORMATS[fmt], width=width, height=height)


def check_svg(data: bytes, *, max_bytes: int) -> ImageInfo:
    """Accept a well-formed SVG document without DTDs or entities (no XML bombs)."""
    if len(data) > max_bytes:
        raise ImageRejected(f"is larger than {max_bytes // (1024 * 1024)} MiB")
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise ImageRejected("must not contain a DOCTYPE or entities")
    try:
        root = ElementTree.fromstring(data)  # noqa: S314 - DTDs and entities refused above
    except ElementTree.ParseError as exc:
        raise ImageRejected("is not a valid SVG image") from exc
    if root.tag not in _SVG_ROOTS:
        raise ImageRejected("is not a valid SVG image")
    return ImageInfo(data=data, content_type=SVG_CONTENT_TYPE)


def looks_like_svg(data: bytes) -> bool:
    """A cheap sniff: an XML or <svg> start."""
    head = data[:512].lstrip().lower()
    return head.startswith((b"<?xml", b"<svg"))
