"""PDF output: text layer in every script, page geometry, determinism, embedded resources."""

from __future__ import annotations

import gc
import io
import re
import unicodedata
import weakref
from dataclasses import replace

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
from pypdf import PdfReader

from akowe.rendering import CertificateData, TemplateSpec, check, render_pdf, sample_data
from akowe.rendering.fields import format_date
from tests.rendering.factories import HEIGHT, WIDTH, field, flat_background, photo_background
from tests.rendering.readers import pdftotext

# Left-to-right scripts: pypdf and PDFium rebuild right-to-left text with heuristics of their
# own (word order differs); test_text_layer.py checks every script in poppler and MuPDF.
NAMES = {
    "latin": "Adéwálé Ògúnlẹ̀",
    "chinese": "王小明",
    "japanese": "さくら カタカナ 山田",
    "korean": "김민준",
    "devanagari": "अर्जुन",
    "tamil": "கொண்டல் கோபி",
    "mixed": "Adéwálé 王小明 김민준 अर्जुन",
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
    attributes = {"course": "Théorie des nombres — 数论", "grade": "ممتاز جدا"}
    lines = pdftotext(render_pdf(jpeg_template, replace(data, attributes=attributes)))
    assert "Théorie des nombres — 数论" in lines
    assert "ممتاز جدا" in lines
    assert any("25 November 2026" in line for line in lines)
    assert any("CERT-2026-000123" in line for line in lines)


def mediabox_mm(pdf: bytes) -> tuple[float, float]:
    """The page size in millimetres, rounded to 0.1 mm."""
    box = PdfReader(io.BytesIO(pdf)).pages[0].mediabox
    return round(float(box.width) * 25.4 / 72, 1), round(float(box.height) * 25.4 / 72, 1)


def test_page_is_a4_or_letter_by_the_designs_aspect_ratio(data: CertificateData) -> None:
    def page(width: int, height: int) -> tuple[float, float]:
        template = TemplateSpec(f"p{width}x{height}", width, height, flat_background(8, 8), ())
        return mediabox_mm(render_pdf(template, data))

    assert page(WIDTH, HEIGHT) == (297.0, 210.0)  # 1600x1131 is A4 landscape, not 56x40 cm
    assert page(3508, 2480) == (297.0, 210.0)  # A4 at 300 dpi
    assert page(1100, 850) == (279.4, 215.9)  # Letter landscape
    assert page(850, 1100) == (215.9, 279.4)
    assert page(1131, 1600) == (210.0, 297.0)


def test_named_and_millimetre_page_sizes(data: CertificateData) -> None:
    template = TemplateSpec("sized", WIDTH, HEIGHT, flat_background(8, 8), ())
    assert mediabox_mm(render_pdf(replace(template, page_size="Letter-landscape"), data)) == (
        279.4,
        215.9,
    )
    assert mediabox_mm(render_pdf(replace(template, page_size="A4-portrait"), data)) == (
        210.0,
        297.0,
    )
    assert mediabox_mm(render_pdf(replace(template, page_size=(250, 180)), data)) == (250.0, 180.0)
    with pytest.raises(ValueError, match="page size"):
        render_pdf(replace(template, page_size="B7-sideways"), data)


def test_design_is_scaled_onto_the_page_and_centred(data: CertificateData) -> None:
    # A square design on A4 portrait: scaled to the page width, centred vertically.
    spec = field("n", "name", font_size=100, y=50)
    template = TemplateSpec("sq", 1000, 1000, flat_background(1000, 1000), (spec,))
    pdf = render_pdf(replace(template, page_size="A4"), replace(data, recipient_name="HIH"))
    assert mediabox_mm(pdf) == (210.0, 297.0)
    ops = content(pdf).decode()
    scale = 210 * 72 / 25.4 / 1000
    assert f"q {scale:.3f} 0 0 {scale:.3f} 0 " in ops


def test_rerender_is_byte_identical(png_template: TemplateSpec, data: CertificateData) -> None:
    assert render_pdf(png_template, data) == render_pdf(png_template, data)


def test_fonts_made_once_for_a_designs_fixed_texts_embed_what_each_pdf_draws(
    jpeg_template: TemplateSpec, data: CertificateData, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A font's subset and streams are kept per set of texts drawn in it (a class's PDFs
    share their course, grade and date): each PDF is the same bytes as when made afresh,
    and one whose texts differ carries its own subset, so every text copies out right."""
    from akowe.rendering import pdf as writer
    from akowe.rendering.fonts import Font

    subsets: list[str] = []
    real = Font.subset
    monkeypatch.setattr(
        Font, "subset", lambda font, gids: subsets.append(font.name) or real(font, gids)
    )
    recipients = [
        replace(data, recipient_name=name, attributes={**data.attributes, "grade": grade})
        for name, grade in [("Ada", "Merit"), ("Zoë", "Merit"), ("Ada", "Pass"), ("Bo", "Merit")]
    ]
    writer._EMBEDDED.clear()
    kept = [render_pdf(jpeg_template, recipient) for recipient in recipients]
    # Three fonts a PDF: the name's, the course's, and one for the grade, date and id. After
    # the first PDF the course's is kept, the name's for the same name, the third for the
    # same grade: Zoë's name, then the Pass grade, then Bo's name are new.
    assert subsets == [
        "NotoSerif-Bold",
        "NotoSans-Italic",
        "NotoSans-Regular",
        "NotoSerif-Bold",
        "NotoSans-Regular",
        "NotoSerif-Bold",
    ]
    for recipient, pdf in zip(recipients, kept, strict=True):
        writer._EMBEDDED.clear()
        assert render_pdf(jpeg_template, recipient) == pdf
        text = page_text(pdf)
        assert contains(text, recipient.recipient_name)
        assert recipient.attributes["grade"] in text and "Advanced Typography" in text


def test_a_kept_font_is_neither_held_nor_served_to_another_font_of_its_name() -> None:
    """Templates' uploaded fonts are loaded again once evicted: the kept embedding must not
    keep the old font alive, nor serve the new one (the same name) what the old one made."""
    from akowe.rendering import pdf as writer
    from akowe.rendering.fonts import Font, load

    data = load("NotoSans-Regular").hb_font.face.blob.data
    codes = ((36, "A"), (37, "B"))
    first = Font("Uploaded-Regular-0123abcd", bytes(data))
    made = writer._embedded(first, codes)
    assert writer._embedded(first, codes) is made
    second = Font("Uploaded-Regular-0123abcd", bytes(data))
    assert writer._embedded(second, codes) is not made
    gone = weakref.ref(first)
    del first
    gc.collect()
    assert gone() is None


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
    assert re.search(rb"/BaseFont/[A-Z]{6}\+NotoSans-Regular", pdf)  # unknown family, drawn
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
    assert format_date(data.issued_at, "yyyy-MM-dd") == "2026-11-25"  # a CLDR pattern


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("fr", "25 novembre 2026"),
        ("de-DE", "25. November 2026"),
        ("ja", "2026年11月25日"),
        ("yo", "25 Oṣù Bélú 2026"),
        ("pt_BR", "25 de novembro de 2026"),
    ],
)
def test_date_is_written_in_the_templates_locale(
    data: CertificateData, locale: str, expected: str
) -> None:
    assert format_date(data.issued_at, locale=locale) == expected
    spec = field("d", "date", font_family="Noto Sans")
    template = TemplateSpec("date", 1600, 400, flat_background(8, 8), (spec,), locale=locale)
    assert pdftotext(render_pdf(template, data)) == [expected]


def test_unknown_locale_is_reported(data: CertificateData) -> None:
    template = TemplateSpec("loc", 800, 600, flat_background(8, 8), (), locale="xx-nowhere")
    assert [p.kind for p in check(template, data)] == ["unknown_locale"]


def test_sample_data_fills_every_field(jpeg_template: TemplateSpec) -> None:
    sample = sample_data(jpeg_template, "https://verify.example/c/x")
    assert sample.recipient_name == "Jane Doe"
    assert sample.attributes == {"course": "course", "grade": "grade"}
    text = page_text(render_pdf(jpeg_template, sample))
    assert "Jane Doe" in text and "course" in text and "grade" in text


def test_sample_values_replace_the_samples(jpeg_template: TemplateSpec) -> None:
    values = {"name": "Oluwaseun Adébáyọ̀-Williams", "course": "Data Science"}
    sample = sample_data(jpeg_template, "https://verify.example/c/x", values=values)
    assert sample.recipient_name == "Oluwaseun Adébáyọ̀-Williams"
    assert sample.attributes == {"course": "Data Science", "grade": "grade"}
