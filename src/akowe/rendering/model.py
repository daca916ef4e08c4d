"""Inputs of the renderer: a template (background + positioned fields) and one recipient's data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One positioned field of a template.

    `x`/`y` are percentages of the page. For text fields `x` is the point named by
    `alignment` and `y` is the vertical middle of the line, taken as half the primary
    font's cap height above the baseline (so mixed-script lines share one baseline).
    For "qr" fields (x, y) is the centre of the square and `font_size` its side length.
    """

    id: str
    type: str  # "name" | "date" | "text" | "qr" | "certificateId"
    text: str  # "text": attribute key; "date": optional strftime format; others ignore it
    font_size: float  # template pixels (1 template px = 1 PDF point)
    font_family: str
    color: str  # "#rrggbb"
    is_bold: bool
    is_italic: bool
    alignment: str  # "left" | "center" | "right"
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    """A certificate design; `key` must change whenever the background or fields change."""

    key: str
    width: int
    height: int
    background: bytes  # PNG, JPEG or WebP file bytes
    fields: tuple[FieldSpec, ...]


@dataclass(frozen=True, slots=True)
class CertificateData:
    """What varies per certificate."""

    certificate_id: str
    recipient_name: str
    issued_at: datetime  # UTC-aware
    attributes: Mapping[str, str]
    verification_url: str
    test_mode: bool = False
