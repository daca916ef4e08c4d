"""PDF output: text layer in every script, page geometry, determinism, embedded resources."""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import replace

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
from pypdf import PdfReader

from akowe.rendering import CertificateData, TemplateSpec, render_pdf, sample_data
from akowe.rendering.fields import format_date
from tests.rendering.factories import HEIGHT, WIDTH, field, flat_background, photo_background

NAMES = {
    "latin": "Adéwálé Ògúnlẹ̀",
    "chinese": "王小明",
    "japanese": "さくら カタカナ 山田",
    "korean": "김민준",
    "arabic": "محمد",
    "hebrew": "דוד לוי",
    "devanagari": "अर्जुन",
    "mixed": "Adéwálé 王小明 김민준 محمد अर्जुन",
}


def page_text(pdf: bytes) -> str:
    """Text a user would get by copying the whole page, NFC-normalized."""
    return unicodedata.normalize("NFC", PdfReader(io.BytesIO(pdf)).pages[0].extract_text())


def content(pdf: bytes) -> bytes:
    """The page's decoded content stream."""
    stream = PdfReader(io.BytesIO(pdf)).pages[0].get_contents()
    assert stream is not None
    return stream.get_data()


def contains(text: str, wanted: str) -> bool:
    """True when `wanted` is in `text`, reading right-to-left words in either stored order.

    PDFs draw RTL text in visual order; extractors reorder it (pypdf does, giving the
    logical string), but a reader that does not would give each RTL word reversed.
    """
    wanted = unicodedata.normalize("NFC", wanted)
    rtl = re.compile(r"[\u0590-\u08ff]+")
    return wanted in text or rtl.sub(lambda m: m.group()[::-1], wanted) in text


@pytest.mark.parametrize("script", sorted(NAMES))
def test_names_in_any_script_are_in_the_text_layer(
    jpeg_template: TemplateSpec, data: CertificateData, script: str
) -> None:
    pdf = render_pdf(jpeg_template, replace(data, recipient_name=NAMES[script]))
    assert contains(page_text(pdf), NAMES[script])


@pytest.mark.parametrize("script", sorted(NAMES))
def test_pdfium_copies_names_in_logical_order(
    jpeg_template: TemplateSpec, data: CertificateData, script: str
) -> None:
    pdf = render_pdf(jpeg_template, replace(data, recipient_name=NAMES[script]))
    document = pdfium.PdfDocument(pdf)
    try:
        text = document[0].get_textpage().get_text_range()
    finally:
        document.close()
    # PDFium (Chrome's viewer) reorders RTL itself and reads ActualText for Indic clusters.
    assert unicodedata.normalize("NFC", NAMES[script]) in unicodedata.normalize("NFC", text)


def test_attributes_date_and_id_are_in_the_text_layer(
    jpeg_template: TemplateSpec, data: CertificateData
) -> None:
    attributes = {"course": "Théorie des nombres — 数论", "grade": "Grade: ممتاز جدا"}
    text = page_text(render_pdf(jpeg_template, replace(data, attributes=attributes)))
    assert contains(text, "Théorie des nombres — 数论")
    assert contains(text, "Grade: ممتاز جدا")
    assert "25 November 2026" in text
    assert "CERT-2026-000123" in text


def test_page_is_the_template_size(jpeg_template: TemplateSpec, data: CertificateData) -> None:
    box = PdfReader(io.BytesIO(render_pdf(jpeg_template, data))).pages[0].mediabox
    assert (float(box.width), float(box.height)) == (WIDTH, HEIGHT)


def test_rerender_is_byte_identical(png_template: TemplateSpec, data: CertificateData) -> None:
    assert render_pdf(png_template, data) == render_pdf(png_template, data)


def test_different_recipients_get_different_file_ids(
    jpeg_template: TemplateSpec, data: CertificateData
) -> None:
    first = PdfReader(io.BytesIO(render_pdf(jpeg_template, data))).trailer["/ID"]
    other = replace(data, recipient_name="Jane Doe")
    assert first != PdfReader(io.BytesIO(render_pdf(jpeg_template, other))).trailer["/ID"]


def test_background_is_the_only_image_and_qr_is_vector(
    jpeg_template: TemplateSpec, data: CertificateData
) -> None:
    pdf = render_pdf(jpeg_template, data)
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    assert len(page.images) == 1
    assert pdf.count(b"/Subtype/Image") == 1
    assert b" re " in content(pdf)  # the QR modules are rectangles


def test_jpeg_background_is_embedded_as_is(
    jpeg_template: TemplateSpec, data: CertificateData
) -> None:
    pdf = render_pdf(jpeg_template, data)
    assert jpeg_template.background in pdf
    assert len(pdf) < 300_000


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_photographic_backgrounds_become_one_small_jpeg(fmt: str, data: CertificateData) -> None:
    template = TemplateSpec(
        f"photo-{fmt}:1", WIDTH, HEIGHT, photo_background(WIDTH, HEIGHT, fmt), ()
    )
    pdf = render_pdf(template, data)
    assert b"/Filter/DCTDecode" in pdf
    assert len(pdf) < 300_000


def test_flat_png_background_stays_lossless(data: CertificateData) -> None:
    template = TemplateSpec("flat:1", 800, 600, flat_background(800, 600), ())
    pdf = render_pdf(template, data)
    assert b"/Filter/FlateDecode/DecodeParms" in pdf
    assert len(pdf) < 20_000


def test_fonts_follow_family_weight_and_style(data: CertificateData) -> None:
    fields = (
        field("a", "name", font_family="Noto Serif", is_bold=True, is_italic=True),
        field("b", "certificateId", font_family="Comic Sans MS", y=70),
    )
    template = TemplateSpec("fonts:1", 800, 600, flat_background(800, 600), fields)
    pdf = render_pdf(template, replace(data, recipient_name="Ada 王"))
    assert re.search(rb"/BaseFont/[A-Z]{6}\+NotoSerif-BoldItalic", pdf)
    assert re.search(rb"/BaseFont/[A-Z]{6}\+NotoSans-Regular", pdf)  # unknown family
    # The CJK fallback has no bold or italic face: stroked (2 Tr) and slanted instead.
    assert b"2 Tr" in content(pdf) and b" 1 0 0.21 1 " in content(pdf)


def test_missing_attribute_draws_nothing(data: CertificateData) -> None:
    background = flat_background(800, 600)
    bare = TemplateSpec("missing:1", 800, 600, background, ())
    with_field = replace(bare, fields=(field("x", "text", "not-an-attribute"),))
    assert render_pdf(with_field, data) == render_pdf(bare, data)


def test_test_mode_is_marked(jpeg_template: TemplateSpec, data: CertificateData) -> None:
    assert "TEST" not in page_text(render_pdf(jpeg_template, data))
    assert "TEST" in page_text(render_pdf(jpeg_template, replace(data, test_mode=True)))


def test_bad_colour_is_refused(data: CertificateData) -> None:
    template = TemplateSpec("bad:1", 800, 600, flat_background(800, 600), ())
    template = replace(template, fields=(field("x", "name", color="red"),))
    with pytest.raises(ValueError, match="colour"):
        render_pdf(template, data)


def test_date_uses_english_day_month_year_or_the_fields_format(data: CertificateData) -> None:
    assert format_date(data.issued_at) == "25 November 2026"
    assert format_date(data.issued_at, "%Y-%m-%d") == "2026-11-25"


def test_sample_data_fills_every_field(jpeg_template: TemplateSpec) -> None:
    sample = sample_data(jpeg_template, "https://verify.example/c/x")
    assert sample.recipient_name == "Jane Doe"
    assert sample.attributes == {"course": "course", "grade": "grade"}
    text = page_text(render_pdf(jpeg_template, sample))
    assert "Jane Doe" in text and "course" in text and "grade" in text
