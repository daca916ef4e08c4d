"""Fields with boxes: text shrinks to fit, then wraps, then is refused; never past the box."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from PIL import Image, ImageChops
from pypdf import PdfReader

from akowe.rendering import (
    CertificateData,
    TemplateSpec,
    UnrenderableText,
    check,
    render_pdf,
    render_png,
)
from akowe.rendering.check import Memo
from tests.rendering.factories import field, flat_background

LONG_NAME = "Oluwadamilola Adébáyọ̀ Chukwuemeka-Nwachukwu Fitzgerald Montgomery Abernathy III"
WIDTH, HEIGHT = 1600, 1131


def data(name: str) -> CertificateData:
    """A recipient called `name`."""
    return CertificateData("C-1", name, datetime(2026, 11, 25, tzinfo=UTC), {}, "https://v/c/1")


def template(**box: object) -> TemplateSpec:
    """A white design with one centred name field (64 px, box 50 % wide) and `box` overrides."""
    spec = field("name", "name", font_size=64, width=50, min_font_size=28, **box)
    return TemplateSpec(
        "fit:" + repr(sorted(box.items())), WIDTH, HEIGHT, flat_background(8, 8), (spec,)
    )


def ink_columns(png: bytes) -> tuple[int, int]:
    """Leftmost and rightmost columns holding any drawn pixel."""
    image = Image.open(io.BytesIO(png)).convert("L")
    box = ImageChops.invert(image).point(lambda v: 255 if v > 40 else 0).getbbox()
    assert box is not None
    return box[0], box[2]


def font_sizes(pdf: bytes) -> list[float]:
    """Every font size the page's text uses (design pixels)."""
    stream = PdfReader(io.BytesIO(pdf)).pages[0].get_contents()
    assert stream is not None
    return [float(size) for size in re.findall(rb"/F\d+ ([\d.]+) Tf", stream.get_data())]


def test_eighty_character_name_is_refused_when_one_line_at_the_minimum_is_too_wide() -> None:
    assert len(LONG_NAME) == 80
    spec = template()
    problems = check(spec, data(LONG_NAME))
    assert [(p.field_id, p.kind) for p in problems] == [("name", "overflow")]
    assert "does not fit" in problems[0].message
    with pytest.raises(UnrenderableText) as refused:
        render_pdf(spec, data(LONG_NAME), strict=True)
    assert refused.value.problems == tuple(problems)
    # Drawn anyway (a preview), it still never leaves its box.
    left, right = ink_columns(render_png(spec, data(LONG_NAME)))
    assert left >= 400 - 2 and right <= 1200 + 2


def test_a_memo_shared_by_many_recipients_gives_each_the_verdict_a_fresh_check_gives() -> None:
    # A bulk job checks its rows through one Memo: values rows share are laid out once, so a
    # row must never inherit another row's verdict, nor a value's verdict another field's.
    course = field("course", "text", "course", font_size=40, width=30, y=60)
    spec = replace(template(), fields=(*template().fields, course))
    rows = [
        ("Ada Obi", "Typography"),
        (LONG_NAME, "Typography"),  # the name does not fit
        ("Ada Obi", "Advanced Typography and the Setting of Very Long Course Titles"),
        ("Ada Obi", "Typography"),
        ("Zoë 𓀀", "Typography"),  # a hieroglyph no font here draws
        ("Typography", "Ada Obi"),  # the same texts, in each other's fields
        ("Ada Obi", LONG_NAME),
        ("Advanced Typography and the Setting of Very Long Course Titles", "Typography"),
    ]
    memo = Memo(spec)
    for name, title in rows:
        recipient = replace(data(name), attributes={"course": title})
        assert check(spec, recipient, memo=memo) == check(spec, recipient), (name, title)
    verdicts = [
        [(p.field_id, p.kind) for p in check(spec, replace(data(n), attributes={"course": t}))]
        for n, t in rows
    ]
    assert verdicts == [
        [],
        [("name", "overflow")],
        [("course", "overflow")],
        [],
        [("name", "missing_glyphs")],
        [],
        [("course", "overflow")],
        [("name", "overflow")],
    ]
    with pytest.raises(ValueError, match="another design"):
        check(template(), data("Ada Obi"), memo=memo)


def test_eighty_character_name_wraps_inside_its_box_at_no_less_than_the_minimum() -> None:
    spec = template(max_lines=2)
    assert check(spec, data(LONG_NAME)) == []
    pdf = render_pdf(spec, data(LONG_NAME), strict=True)
    sizes = font_sizes(pdf)
    assert sizes and min(sizes) >= 28
    assert len(set(sizes)) == 1
    left, right = ink_columns(render_png(spec, data(LONG_NAME)))
    assert left >= 400 - 2 and right <= 1200 + 2  # the box: 50 % of 1600, centred at 800
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert len([line for line in text.splitlines() if line.strip()]) == 2


def test_text_shrinks_to_fit_before_it_wraps() -> None:
    name = "Chinonso Adébáyọ̀ Okafor-Williams"
    spec = template(max_lines=3)
    full = font_sizes(
        render_pdf(replace(spec, fields=(replace(spec.fields[0], width=None),)), data(name))
    )
    assert full == [64]  # fits the page at the nominal size
    shrunk = font_sizes(render_pdf(spec, data(name)))
    assert 28 <= shrunk[0] < 64
    left, right = ink_columns(render_png(spec, data(name)))
    assert left >= 398 and right <= 1202


def test_without_a_width_text_is_kept_on_the_page() -> None:
    spec = field("course", "text", "c", font_size=48, x=50, min_font_size=10)
    design = TemplateSpec("page", WIDTH, HEIGHT, flat_background(8, 8), (spec,))
    course = (
        "Advanced Certificate in Sustainable Agricultural Engineering and Rural Development " * 2
    )
    values = replace(data("x"), attributes={"c": course.strip()})
    assert check(design, values) == []
    left, right = ink_columns(render_png(design, values))
    assert left >= 0 and right <= WIDTH
    assert font_sizes(render_pdf(design, values))[0] < 48


@pytest.mark.parametrize(
    ("alignment", "expected"), [("top", 200.0), ("middle", 200.0), ("bottom", 200.0)]
)
def test_vertical_alignment_decides_what_y_means(alignment: str, expected: float) -> None:
    spec = field("n", "name", font_size=100, y=50, vertical_alignment=alignment)
    design = TemplateSpec("v:" + alignment, 1000, 400, flat_background(8, 8), (spec,))
    image = Image.open(io.BytesIO(render_png(design, data("HIH")))).convert("L")
    box = ImageChops.invert(image).point(lambda v: 255 if v > 40 else 0).getbbox()
    assert box is not None
    top, bottom = box[1], box[3]
    edge = {"top": top, "middle": (top + bottom) / 2, "bottom": bottom}[alignment]
    assert abs(edge - expected) <= 2


def test_wrapped_lines_grow_down_from_a_top_aligned_y() -> None:
    spec = field("n", "name", font_size=60, y=10, width=30, max_lines=3, vertical_alignment="top")
    design = TemplateSpec("wrap-top", 1000, 1000, flat_background(8, 8), (spec,))
    image = Image.open(io.BytesIO(render_png(design, data("ADA LOVELACE BYRON KING")))).convert("L")
    box = ImageChops.invert(image).point(lambda v: 255 if v > 40 else 0).getbbox()
    assert box is not None
    assert abs(box[1] - 100) <= 2 and box[3] > 200  # first capitals at y, more lines below


def test_invisible_characters_take_no_width_and_centred_text_stays_centred() -> None:
    spec = field("n", "name", font_size=100, x=50, y=50)
    design = TemplateSpec("ctr", 1000, 400, flat_background(8, 8), (spec,))
    plain = ink_columns(render_png(design, data("HIH")))
    joined = ink_columns(render_png(design, data("H\u200dI\u200bH\ufe0f")))
    assert abs(plain[0] - joined[0]) <= 1 and abs(plain[1] - joined[1]) <= 1
