"""Every script prints real glyphs and copies back as the same text in poppler and MuPDF."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from akowe.rendering import CertificateData, TemplateSpec, check, fonts, render_pdf, shaping
from akowe.rendering.layout import field_chain
from akowe.rendering.shaping import layout
from tests.rendering.factories import field, flat_background
from tests.rendering.readers import drawn_glyph_ids, mutool_text, normalized, pdftotext
from tests.rendering.scripts import MIXED_DIRECTION, SCRIPTS

COURSE = "Advanced Typography"


@pytest.fixture(scope="module")
def template() -> TemplateSpec:
    """A name line above a Latin course line, so the page reads left to right like most."""
    fields = (
        field("name", "name", font_size=56, y=35, width=90),
        field("course", "text", "course", font_size=32, y=70),
    )
    return TemplateSpec("layer:1", 1600, 1131, flat_background(1600, 1131), fields)


def recipient(name: str) -> CertificateData:
    """A certificate for `name`."""
    return CertificateData(
        certificate_id="CERT-1",
        recipient_name=name,
        issued_at=datetime(2026, 11, 25, tzinfo=UTC),
        attributes={"course": COURSE},
        verification_url="https://verify.example/c/CERT-1",
    )


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_script_is_drawn_with_real_glyphs_or_reported(
    template: TemplateSpec, script: str
) -> None:
    data = recipient(SCRIPTS[script])
    problems = check(template, data)
    if problems:  # the API refuses these before charging: never the case for these scripts
        pytest.fail(f"reported instead of drawn: {[p.message for p in problems]}")
    glyphs = drawn_glyph_ids(render_pdf(template, data, strict=True))
    assert glyphs, "nothing was drawn"
    for font, ids in glyphs.items():
        assert 0 not in ids, f"{font} draws .notdef"


@pytest.mark.parametrize("script", sorted(set(SCRIPTS) - MIXED_DIRECTION))
def test_poppler_and_mupdf_copy_each_script_back_in_logical_order(
    template: TemplateSpec, script: str
) -> None:
    pdf = render_pdf(template, recipient(SCRIPTS[script]))
    expected = normalized(SCRIPTS[script])
    assert pdftotext(pdf) == [expected, COURSE]
    assert mutool_text(pdf) == [expected, COURSE]


@pytest.mark.parametrize("script", sorted(MIXED_DIRECTION))
def test_mixed_direction_lines_copy_back_in_logical_order_in_mupdf(
    template: TemplateSpec, script: str
) -> None:
    pdf = render_pdf(template, recipient(SCRIPTS[script]))
    assert mutool_text(pdf) == [normalized(SCRIPTS[script]), COURSE]
    # poppler rebuilds reading order from positions with its own heuristic (right-to-left
    # stretches reversed in place), which cannot express a number inside a right-to-left
    # embedding: it gets every character, not always their order.
    copied = pdftotext(pdf)
    assert sorted(copied[0].replace(" ", "")) == sorted(SCRIPTS[script].replace(" ", ""))
    assert copied[1] == COURSE


@pytest.mark.parametrize(
    ("text", "visual"),
    [
        # What Chromium draws (UAX #9: "2" after Arabic letters is an Arabic number).
        ("Dr. محمد 2", "Dr. 2 دمحم"),
        ("ציון 3%", "3% ןויצ"),
        ("Course: علوم الحاسوب 101", "Course: 101 بوساحلا مولع"),
        ("Grade (ممتاز) A", "Grade (زاتمم) A"),
    ],
)
def test_bidi_order_follows_the_unicode_algorithm(text: str, visual: str) -> None:
    line = layout(text, field_chain(field("f", "name"), TemplateSpec("b", 10, 10, b"", ())))
    drawn = ""
    for run in line.runs:
        chunk = text[run.start : run.start + sum(len(g.text) for g in run.glyphs)]
        drawn += chunk[::-1] if run.rtl else chunk
    assert drawn == visual


def test_vowel_marks_copy_with_their_letters(template: TemplateSpec) -> None:
    for name in ("مُحَمَّدٌ", "דָּוִד", "މުހައްމަދު"):
        pdf = render_pdf(template, recipient(name))
        assert pdftotext(pdf)[0] == normalized(name)
        assert mutool_text(pdf)[0] == normalized(name)


def test_japanese_names_get_japanese_glyph_forms(template: TemplateSpec) -> None:
    spec = field("n", "name")
    base = TemplateSpec("cjk", 800, 600, b"", (spec,))
    forms = {}
    for language in ("ja", "zh-Hans", "zh-Hant", "ko"):
        line = layout("直骨角", field_chain(spec, base), language)
        forms[language] = [g.gid for run in line.runs for g in run.glyphs]
    assert forms["ja"] != forms["zh-Hans"]
    assert forms["zh-Hans"] != forms["zh-Hant"]
    # Kana in the same string makes it Japanese without a language.
    guessed = layout("直子 さん", field_chain(spec, base))
    japanese = layout("直子 さん", field_chain(spec, base), "ja")
    assert [g.gid for r in guessed.runs for g in r.glyphs] == [
        g.gid for r in japanese.runs for g in r.glyphs
    ]


def test_template_language_selects_cjk_forms_in_the_pdf(template: TemplateSpec) -> None:
    japanese = render_pdf(replace(template, language="ja"), recipient("直人"))
    chinese = render_pdf(replace(template, language="zh-Hans"), recipient("直人"))
    assert drawn_glyph_ids(japanese) != drawn_glyph_ids(chinese)


def test_characters_no_font_has_are_reported_with_the_field(template: TemplateSpec) -> None:
    data = recipient("Zoë \u0378\U000e0062 Obi")  # an unassigned code point and a tag character
    problems = check(template, data)
    assert [(p.field_id, p.kind) for p in problems] == [("name", "missing_glyphs")]
    assert problems[0].characters == ("\u0378",)
    assert "U+0378" in problems[0].message and "'name'" in problems[0].message


def test_no_character_below_the_quick_path_is_right_to_left_or_cjk() -> None:
    # Text whose every character is below shaping._FIRST_BIDI skips the bidi algorithm and
    # the CJK language guess: that holds only if none of them could change either.
    for code in range(ord(shaping._FIRST_BIDI)):
        char = chr(code)
        assert unicodedata.bidirectional(char) not in shaping._RTL_CLASSES, hex(code)
        assert shaping.shaping_language(char, None) is None, hex(code)


@pytest.mark.parametrize(
    "text",
    ["Ada Obi", "Adéwálé Ògúnlẹ̀", "Ζωή Παπαδοπούλου", "Анна Кузнецова", "Zoë Łukasz 🎓"],
)
def test_text_on_the_quick_path_is_laid_out_as_the_full_algorithm_lays_it_out(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = fonts.chain("Noto Sans", False, False)

    def described(line: shaping.Line) -> list[object]:
        return [
            (run.choice.font.name, run.rtl, run.start, run.width, [g.gid for g in run.glyphs])
            for run in line.runs
        ] + [line.missing]

    quick = described(layout(text, chain))
    monkeypatch.setattr(shaping, "_FIRST_BIDI", "\x00")  # no text is below it: the full path
    assert quick == described(layout(text, chain))
