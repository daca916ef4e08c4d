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

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import fromstring as defused_fromstring  # type: ignore[import-untyped]
from PIL import Image, UnidentifiedImageError

# Decoded pixels of a background or logo, checked from the header before anything is
# decoded: 20 M is a 300-dpi A3 page or a 5472x3648 photo. Larger images cost hundreds of MB
# to decode and gain nothing in print (they are downscaled to twice the page anyway).
MAX_PIXELS = 20_000_000
RASTER_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
SVG_CONTENT_TYPE = "image/svg+xml"
_DATA_URI_RE = re.compile(r"^data:([^;,]*)((?:;[^;,]*)*),(.*)$", re.DOTALL)
_SVG_ROOTS = {"svg", "{http://www.w3.org/2000/svg}svg"}
# What a logo may be made of: shapes, text, paint servers, grouping and clipping.
SVG_ELEMENTS = frozenset(
    [
        "svg",
        "g",
        "defs",
        "title",
        "desc",
        "metadata",
        "symbol",
        "use",
        "path",
        "rect",
        "circle",
        "ellipse",
        "line",
        "polyline",
        "polygon",
        "text",
        "tspan",
        "textPath",
        "linearGradient",
        "radialGradient",
        "stop",
        "clipPath",
        "mask",
        "pattern",
        "filter",
        "feGaussianBlur",
        "feOffset",
        "feBlend",
        "feColorMatrix",
        "feFlood",
        "feComposite",
        "feMerge",
        "feMergeNode",
        "marker",
    ]
)


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
                raise ImageRejected(
                    f"has too many pixels ({width}x{height}; at most "
                    f"{MAX_PIXELS // 1_000_000} million)"
                )
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
    """Accept an SVG made only of drawing elements: parsed by defusedxml (no DTDs, entities
    or external references), then every element and attribute checked against an allowlist.
    Anything that can run code or load something (scripts, event handlers, foreignObject,
    external links, CSS url()s) is refused, naming what was found."""
    if len(data) > max_bytes:
        raise ImageRejected(f"is larger than {max_bytes // (1024 * 1024)} MiB")
    try:
        root = defused_fromstring(data, forbid_dtd=True)
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        raise ImageRejected("is not a valid SVG image (DTDs and entities are not allowed)") from exc
    if root.tag not in _SVG_ROOTS:
        raise ImageRejected("is not a valid SVG image")
    for element in root.iter():
        name = _local(element.tag)
        if name not in SVG_ELEMENTS:
            raise ImageRejected(f"must not contain <{name}> (SVG logos may only draw)")
        for attribute, value in element.attrib.items():
            attr = _local(attribute)
            lowered = value.strip().lower()
            if attr.lower().startswith("on"):
                raise ImageRejected(f"must not contain event handlers ({attr})")
            if attr == "href" and not lowered.startswith("#"):
                raise ImageRejected("must not link outside itself (href)")
            if "javascript:" in lowered or ("url(" in lowered and "url(#" not in lowered):
                raise ImageRejected(f"must not load anything ({attr})")
    return ImageInfo(data=data, content_type=SVG_CONTENT_TYPE)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def looks_like_svg(data: bytes) -> bool:
    """A cheap sniff: an XML or <svg> start."""
    head = data[:512].lstrip().lower()
    return head.startswith((b"<?xml", b"<svg"))
