"""Before anything is charged: can this template draw this recipient's values as designed?"""

from __future__ import annotations

import dataclasses
from typing import Any

from akowe.rendering import fonts
from akowe.rendering.fields import ALIGNMENTS, FIELD_TYPES, VERTICAL_ALIGNMENTS, parse_locale
from akowe.rendering.layout import Problem
from akowe.rendering.model import CertificateData, TemplateSpec
from akowe.rendering.page import is_valid_page_size


def _custom_fonts(template: TemplateSpec) -> tuple[tuple[str, ...], int]:
    """Family names of the template's extra font files, and how many files are unreadable."""
    names = []
    unreadable = 0
    for data in template.fonts:
        try:
            names.append(fonts.custom_font(data)[0].family)
        except fonts.FontError:
            unreadable += 1
    return tuple(dict.fromkeys(names)), unreadable


def custom_families(template: TemplateSpec) -> tuple[str, ...]:
    """Family names of the template's extra font files (unreadable files are skipped)."""
    return _custom_fonts(template)[0]


def unknown_families(template: TemplateSpec) -> list[str]:
    """Font families used by text fields that are neither bundled nor in `template.fonts`."""
    custom = custom_families(template)
    unknown = [
        f.font_family
        for f in template.fields
        if f.type not in ("qr", "logo") and not fonts.is_known_family(f.font_family, custom)
    ]
    return list(dict.fromkeys(unknown))


def check_template(template: TemplateSpec) -> list[Problem]:
    """What is wrong with a design whatever the values: families, alignments, sizes, locale."""
    found = []
    # Several files may share a family (its regular, bold, italic...): count files, not names.
    custom, unreadable = _custom_fonts(template)
    if unreadable:
        found.append(Problem("", "bad_font", "a font file of the template cannot be used"))
    try:
        parse_locale(template.locale)
    except ValueError as exc:
        found.append(Problem("", "unknown_locale", str(exc)))
    if not is_valid_page_size(template.page_size):
        found.append(Problem("", "bad_page_size", f"unknown page size {template.page_size!r}"))
    for field in template.fields:
        where = f"field {field.id!r}"
        if field.type not in FIELD_TYPES:
            found.append(Problem(field.id, "bad_field", f"{where}: unknown type {field.type!r}"))
        if field.alignment not in ALIGNMENTS:
            found.append(Problem(field.id, "bad_field", f"{where}: unknown alignment"))
        if field.vertical_alignment not in VERTICAL_ALIGNMENTS:
            found.append(Problem(field.id, "bad_field", f"{where}: unknown vertical alignment"))
        if field.max_lines < 1 or (field.width is not None and not 0 < field.width <= 100):
            found.append(Problem(field.id, "bad_field", f"{where}: bad box (width, max lines)"))
        if field.type in ("qr", "logo"):
            continue
        if not fonts.is_known_family(field.font_family, custom):
            found.append(
                Problem(
                    field.id,
                    "unknown_font",
                    f"{where}: unknown font family {field.font_family!r}; use a bundled "
                    f"family ({', '.join(fonts.bundled_families()[:2])}) or upload the font",
                )
            )
    return found


@dataclasses.dataclass(slots=True)
class Memo:
    """What `check` found for one design, kept across the certificates checked against it (a
    bulk job's rows): the design's own problems, and each field's layout by its text, so the
    values rows share (a course, a grade, the date) are laid out once, not once per row."""

    template: TemplateSpec
    design: list[Problem] | None = None
    layouts: dict[tuple[str, str], Any] = dataclasses.field(default_factory=dict)


def check(
    template: TemplateSpec, data: CertificateData, *, memo: Memo | None = None
) -> list[Problem]:
    """Every reason this certificate would not come out as designed; empty when it will.

    Reports, per field, the characters no available font can draw and text that does not fit
    its box at the minimum size, plus design problems (`check_template`). Call it before
    charging; `render_pdf(..., strict=True)` refuses the same cases. `memo`: see Memo (made
    for this `template`).
    """
    from akowe.rendering.pdf import layout_fields

    if memo is not None and memo.template is not template:
        raise ValueError("the memo was made for another design")
    found = check_template(template) if memo is None or memo.design is None else memo.design
    if memo is not None:
        memo.design = found
    if any(p.kind in ("bad_field", "unknown_locale", "bad_page_size") for p in found):
        return list(found)
    return found + layout_fields(template, data, memo.layouts if memo is not None else None)[1]
