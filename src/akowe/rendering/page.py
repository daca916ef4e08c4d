"""Physical page sizes, and how a design (in template pixels) maps onto the page (in points)."""

from __future__ import annotations

from dataclasses import dataclass

from akowe.rendering.model import TemplateSpec

_POINTS_PER_MM = 72 / 25.4
# Portrait width and height in millimetres.
PAGE_SIZES: dict[str, tuple[float, float]] = {
    "a3": (297, 420),
    "a4": (210, 297),
    "a5": (148, 210),
    "letter": (215.9, 279.4),
    "legal": (215.9, 355.6),
}
_MAX_MM = 5000.0


@dataclass(frozen=True, slots=True)
class PageGeometry:
    """The page in points and the transform from design pixels (y down) to page points (y up)."""

    width: float
    height: float
    scale: float  # points per design pixel
    left: float  # where the design's left edge sits on the page
    bottom: float  # where the design's bottom edge sits on the page


def page_size_mm(
    page_size: str | tuple[float, float], width: int, height: int
) -> tuple[float, float]:
    """Width and height in millimetres of a named size (`A4`, `Letter-landscape`...) or a pair."""
    if isinstance(page_size, tuple):
        w, h = page_size
        if not (0 < w <= _MAX_MM and 0 < h <= _MAX_MM):
            raise ValueError(f"page size must be positive millimetres, got {page_size!r}")
        return float(w), float(h)
    name, _, orientation = page_size.strip().lower().partition("-")
    if name not in PAGE_SIZES or orientation not in ("", "landscape", "portrait"):
        raise ValueError(f"unknown page size {page_size!r}")
    short, long = PAGE_SIZES[name]
    if orientation == "landscape" or (not orientation and width > height):
        return long, short
    return short, long


def default_page_size(width: int, height: int) -> str:
    """A4 or Letter, whichever aspect ratio is closer to the design's, in its orientation."""
    ratio = max(width, height) / min(width, height)
    a4 = abs(ratio - 297 / 210)
    letter = abs(ratio - 279.4 / 215.9)
    name = "A4" if a4 <= letter else "Letter"
    return f"{name}-{'landscape' if width > height else 'portrait'}"


def is_valid_page_size(page_size: str | tuple[float, float] | None) -> bool:
    """True when `page_size` names a known size or is a pair of positive millimetres."""
    if page_size is None:
        return True
    try:
        page_size_mm(page_size, 2, 1)
    except (ValueError, TypeError):
        return False
    return True


def geometry(template: TemplateSpec) -> PageGeometry:
    """Where the design lands on its physical page (scaled uniformly, centred)."""
    size = template.page_size or default_page_size(template.width, template.height)
    width_mm, height_mm = page_size_mm(size, template.width, template.height)
    width, height = width_mm * _POINTS_PER_MM, height_mm * _POINTS_PER_MM
    scale = min(width / template.width, height / template.height)
    left = (width - template.width * scale) / 2
    bottom = (height - template.height * scale) / 2
    return PageGeometry(width, height, scale, left, bottom)
