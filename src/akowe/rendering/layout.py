"""Fitting text into a field's box: shrink to fit, then wrap, then refuse.

Widths are HarfBuzz advances, which scale linearly with the font size, so a line measured
once at the nominal size is measured at every size.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from akowe.rendering import fonts
from akowe.rendering.fields import ALIGNMENTS, VERTICAL_ALIGNMENTS
from akowe.rendering.model import FieldSpec, TemplateSpec
from akowe.rendering.shaping import Line, layout

_DEFAULT_MIN_RATIO = 0.5
# Break opportunities: after spaces, and around CJK characters (which need no spaces).
_CJK = (
    "\u2e80-\u2fff\u3001-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\uff00-\uffef\U00020000-\U0003ffff"
)
_PIECES = re.compile(rf"[^\s{_CJK}]+\s*|[{_CJK}]\s*|\s+")
_SHRINK_STEPS = 24
_LAYOUT_CACHE = 512


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a field cannot be drawn as designed; the issuance API turns these into a 4xx."""

    field_id: str
    kind: str  # "missing_glyphs" | "overflow" | "unknown_font" | "bad_field" | "unknown_locale"
    message: str
    characters: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FieldLayout:
    """A text field laid out: lines (logical order), size, box, baselines in design pixels."""

    lines: tuple[Line, ...]
    size: float
    box_left: float
    box_width: float
    line_height: float
    first_baseline: float  # from the top of the design, in design pixels
    missing: tuple[str, ...]
    overflow: bool  # True when even the minimum size could not fit (drawn smaller still)


def language_of(field: FieldSpec, template: TemplateSpec) -> str | None:
    """The language that picks CJK glyph forms: the field's, the template's, or its locale's."""
    if field.language:
        return field.language
    if template.language:
        return template.language
    base = template.locale.replace("_", "-").split("-")[0].lower()
    if base in ("ja", "ko"):
        return base
    if base == "zh":
        return template.locale.replace("_", "-")
    return None


def field_chain(field: FieldSpec, template: TemplateSpec) -> tuple[fonts.FontChoice, ...]:
    """The fallback chain a field draws with."""
    return fonts.chain(field.font_family, field.is_bold, field.is_italic, template.fonts)


def _box(field: FieldSpec, template: TemplateSpec) -> tuple[float, float]:
    """Left edge and width of the field's box in design pixels."""
    anchor = field.x / 100 * template.width
    if field.width is not None:
        width = field.width / 100 * template.width
    elif field.alignment == "left":
        width = template.width - anchor
    elif field.alignment == "right":
        width = anchor
    else:
        width = 2 * min(anchor, template.width - anchor)
    width = max(width, 0.0)
    offset = {"left": 0.0, "center": width / 2, "right": width}[field.alignment]
    return anchor - offset, width


@functools.lru_cache(maxsize=_LAYOUT_CACHE)
def _shaped(text: str, chain: tuple[fonts.FontChoice, ...], language: str | None) -> Line:
    # Shared by check() and render_pdf(), which run one after the other for each issuance.
    return layout(text, chain, language)


def _wrap(
    text: str, chain: tuple[fonts.FontChoice, ...], language: str | None, limit: float, size: float
) -> list[str] | None:
    """Greedy line breaking at `size`; None when a single piece is wider than `limit`."""
    pieces = [p for p in _PIECES.findall(text) if p]
    lines: list[str] = []
    current = ""
    for piece in pieces:
        candidate = current + piece
        if _shaped(candidate.rstrip(), chain, language).width(size) <= limit or not current:
            if not current and _shaped(piece.rstrip(), chain, language).width(size) > limit:
                return None
            current = candidate
            continue
        lines.append(current.rstrip())
        current = piece
    if current.strip():
        lines.append(current.rstrip())
    return lines


def fit(field: FieldSpec, template: TemplateSpec, text: str) -> FieldLayout:
    """Lay a field's text out in its box: shrink to fit, then wrap, else mark an overflow."""
    if field.alignment not in ALIGNMENTS:
        raise ValueError(f"field {field.id!r}: unknown alignment {field.alignment!r}")
    if field.vertical_alignment not in VERTICAL_ALIGNMENTS:
        raise ValueError(
            f"field {field.id!r}: unknown vertical alignment {field.vertical_alignment!r}"
        )
    chain = field_chain(field, template)
    language = language_of(field, template)
    left, limit = _box(field, template)
    nominal = field.font_size
    minimum = field.min_font_size if field.min_font_size is not None else nominal * 0.5
    minimum = min(max(minimum, 0.0), nominal)
    line = _shaped(text, chain, language)
    width = line.width(nominal)
    texts = [text]
    overflow = False
    if width <= limit:
        size = nominal
    elif width > 0 and nominal * limit / width >= minimum:
        size = nominal * limit / width
    else:
        wrapped = None
        if field.max_lines > 1:
            # The largest size between the minimum and the nominal one that wraps into the box.
            low, high = minimum, nominal
            best = _wrap(text, chain, language, limit, low)
            if best is not None and len(best) <= field.max_lines:
                for _ in range(_SHRINK_STEPS):
                    middle = (low + high) / 2
                    attempt = _wrap(text, chain, language, limit, middle)
                    if attempt is not None and len(attempt) <= field.max_lines:
                        low, best = middle, attempt
                    else:
                        high = middle
                    if high - low < 0.05:
                        break
                wrapped = best
            size = low
        if wrapped is not None:
            texts = wrapped
        else:
            # Refused (reported by check); when drawn anyway it shrinks until it fits.
            overflow = True
            size = nominal * limit / width if width > 0 else nominal
    lines = tuple(_shaped(t, chain, language) for t in texts)
    primary = chain[0].font
    line_height = (primary.ascent - primary.descent + primary.line_gap) / primary.upem * size
    cap = primary.cap_height / primary.upem * size
    y = field.y / 100 * template.height
    extra = (len(lines) - 1) * line_height
    first = {
        "top": y + cap,
        "middle": y - extra / 2 + cap / 2,
        "bottom": y - extra,
    }[field.vertical_alignment]
    missing = tuple(dict.fromkeys(c for line in lines for c in line.missing))
    return FieldLayout(lines, size, left, limit, line_height, first, missing, overflow)


def problems_of(field: FieldSpec, template: TemplateSpec, placed: FieldLayout) -> list[Problem]:
    """What is wrong with a laid-out field, worded for the person who sent the values."""
    found = []
    if placed.missing:
        names = ", ".join(f"{c} (U+{ord(c):04X})" for c in placed.missing)
        found.append(
            Problem(
                field.id,
                "missing_glyphs",
                f"field {field.id!r}: no available font can draw {names}",
                placed.missing,
            )
        )
    if placed.overflow:
        minimum = field.min_font_size if field.min_font_size is not None else field.font_size / 2
        lines = f"{field.max_lines} lines" if field.max_lines > 1 else "one line"
        found.append(
            Problem(
                field.id,
                "overflow",
                f"field {field.id!r}: the text does not fit its box "
                f"({placed.box_width:.0f} px wide, {lines}) at the minimum size {minimum:g} px",
            )
        )
    return found
