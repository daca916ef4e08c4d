"""Builders for rendering tests: backgrounds, fields and a benchmark-like design."""

from __future__ import annotations

import io
from dataclasses import replace

from PIL import Image, ImageFilter

from akowe.rendering import FieldSpec

WIDTH, HEIGHT = 1600, 1131
URL = "https://verify.akowe.example/c/CERT-2026-000123"


def photo_background(width: int, height: int, fmt: str) -> bytes:
    """A photographic-looking image (gradients plus noise) encoded as `fmt`."""
    red = Image.linear_gradient("L").resize((width, height))
    green = Image.radial_gradient("L").resize((width, height))
    blue = red.transpose(Image.Transpose.ROTATE_180)
    noise = Image.effect_noise((width, height), 40).convert("RGB")
    # Grain blurred a little, as in a photo; sharp per-pixel noise is an unrealistic worst case.
    image = Image.blend(Image.merge("RGB", (red, green, blue)), noise, 0.12)
    image = image.filter(ImageFilter.GaussianBlur(0.7))
    out = io.BytesIO()
    image.save(out, format=fmt, quality=85)
    return out.getvalue()


def flat_background(width: int, height: int, fmt: str = "PNG") -> bytes:
    """A plain white image, so every dark pixel in a render was drawn by a field."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(out, format=fmt)
    return out.getvalue()


def field(id: str, type: str, text: str = "", **changes: object) -> FieldSpec:
    """A centred 40 px Noto Sans field at the page centre, with overrides."""
    spec = FieldSpec(
        id=id,
        type=type,
        text=text,
        font_size=40,
        font_family="Noto Sans",
        color="#1a2b3c",
        is_bold=False,
        is_italic=False,
        alignment="center",
        x=50,
        y=50,
    )
    return replace(spec, **changes)  # type: ignore[arg-type]


FIELDS = (
    field("name", "name", font_size=64, y=38, is_bold=True, font_family="Noto Serif"),
    field("course", "text", "course", y=52, is_italic=True),
    field("grade", "text", "grade", y=60),
    field("date", "date", font_size=28, x=25, y=80, alignment="left"),
    field("id", "certificateId", font_size=20, x=75, y=80, alignment="right"),
    field("qr", "qr", font_size=200, x=88, y=80),
)
