"""Custom fonts, system fonts through fontconfig, the missing-glyph box, logos and QR codes."""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from importlib import resources

import pikepdf
import pytest
from fontTools.ttLib import TTFont
from PIL import Image, ImageChops, ImageDraw

from akowe.rendering import (
    CertificateData,
    FontError,
    TemplateSpec,
    bundled_families,
    check,
    inspect_font,
    qr,
    render_pdf,
    render_png,
    unknown_families,
)
from tests.rendering.factories import field, flat_background
from tests.rendering.readers import drawn_glyph_ids, mutool_text, pdftotext


def bundled(name: str) -> bytes:
    """A bundled font file's bytes."""
    return (resources.files("akowe.rendering") / "fonts" / f"{name}.ttf").read_bytes()


def renamed(name: str, family: str, fs_type: int | None = None) -> bytes:
    """A real font with another family name (and optionally another fsType), as an upload."""
    font = TTFont(io.BytesIO(bundled(name)))
    for record in font["name"].names:
        if record.nameID in (1, 16):
            record.string = family
        elif record.nameID in (4, 6):
            record.string = f"{family} Regular" if record.nameID == 4 else family.replace(" ", "")
    if fs_type is not None:
        font["OS/2"].fsType = fs_type
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def recipient(name: str) -> CertificateData:
    """A certificate for `name`."""
    return CertificateData("C-1", name, datetime(2026, 11, 25, tzinfo=UTC), {}, "https://v/c/1")


def test_inspect_font_reads_family_style_and_embedding_permission() -> None:
    info = inspect_font(renamed("NotoSerif-Regular", "Great Vibes"))
    assert (info.family, info.style, info.embeddable, info.outlines) == (
        "Great Vibes",
        "regular",
        True,
        "truetype",
    )
    restricted = inspect_font(renamed("NotoSerif-Regular", "Locked Sans", fs_type=0x0002))
    assert restricted.embeddable is False and restricted.fs_type == 2
    bold = inspect_font(bundled("NotoSans-Bold"))
    assert (bold.family, bold.style, bold.bold) == ("Noto Sans", "bold", True)


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"not a font at all",
        b"\x00\x01\x00\x00" + b"\x00" * 200,
        bundled("NotoSans-Regular")[:900],
    ],
)
def test_inspect_font_refuses_garbage(garbage: bytes) -> None:
    with pytest.raises(FontError):
        inspect_font(garbage)


def test_custom_font_is_used_by_family_and_falls_back_for_other_scripts() -> None:
    upload = renamed("NotoSerif-Italic", "Great Vibes")
    spec = field("n", "name", font_family="Great Vibes")
    template = TemplateSpec("custom", 1600, 400, flat_background(8, 8), (spec,), fonts=(upload,))
    assert unknown_families(template) == []
    name = "Adéwálé محمد 王"
    assert check(template, recipient(name)) == []
    pdf = render_pdf(template, recipient(name), strict=True)
    fonts = drawn_glyph_ids(pdf)
    assert any("GreatVibes" in font for font in fonts)
    assert any("NotoSansArabic" in font for font in fonts)
    assert any("NotoSansCJK" in font for font in fonts)
    assert pdftotext(pdf) == [name] or mutool_text(pdf) == [name]


def test_unknown_family_is_detected_not_silently_substituted() -> None:
    spec = field("n", "name", font_family="Great Vibes")
    template = TemplateSpec("unknown", 800, 400, flat_background(8, 8), (spec,))
    assert unknown_families(template) == ["Great Vibes"]
    problems = check(template, recipient("Ada"))
    assert [(p.field_id, p.kind) for p in problems] == [("n", "unknown_font")]
    assert "Great Vibes" in problems[0].message
    assert "Noto Sans" in bundled_families()
    generic = replace(template, fields=(replace(spec, font_family="serif"),))
    assert unknown_families(generic) == []


def test_font_whose_licence_forbids_embedding_is_refused() -> None:
    upload = renamed("NotoSerif-Regular", "Locked Sans", fs_type=0x0002)
    spec = field("n", "name", font_family="Locked Sans")
    template = TemplateSpec("locked", 800, 400, flat_background(8, 8), (spec,), fonts=(upload,))
    kinds = [p.kind for p in check(template, recipient("Ada"))]
    assert "bad_font" in kinds and "unknown_font" in kinds


def _fontconfig_has(code: int) -> bool:
    if shutil.which("fc-list") is None:
        return False
    listed = subprocess.run(
        ["fc-list", f":charset={code:x}", "file"], capture_output=True, text=True, check=False
    )
    return bool(listed.stdout.strip())


def test_hangul_outside_the_bundle_comes_from_system_fonts_or_is_reported() -> None:
    # 똠 is not in KS X 1001, so not in the bundled CJK subset; fonts-noto-cjk (CFF outlines,
    # converted to TrueType per document) has it.
    template = TemplateSpec("sys", 800, 400, flat_background(8, 8), (field("n", "name"),))
    problems = check(template, recipient("김똠"))
    if not _fontconfig_has(0xB620):
        assert [p.characters for p in problems] == [("똠",)]
        return
    assert problems == []
    pdf = render_pdf(template, recipient("김똠"), strict=True)
    assert all(0 not in ids for ids in drawn_glyph_ids(pdf).values())
    assert mutool_text(pdf) == ["김똠"]


def test_missing_glyph_box_keeps_its_outline_in_the_subset() -> None:
    template = TemplateSpec("tofu", 800, 400, flat_background(8, 8), (field("n", "name"),))
    pdf = render_pdf(template, recipient("A\u0378B"))  # drawn anyway: a preview shows the box
    with pikepdf.open(io.BytesIO(pdf)) as document:
        (font,) = [f for f in document.pages[0].Resources.Font.values()]
        program = font.DescendantFonts[0].FontDescriptor.FontFile2.read_bytes()
    notdef = TTFont(io.BytesIO(program))["glyf"][".notdef"]
    assert notdef.numberOfContours > 0


def test_qr_code_has_a_quiet_zone_of_four_modules() -> None:
    assert qr.BORDER == 4
    grey = io.BytesIO()
    Image.new("RGB", (8, 8), (128, 128, 128)).save(grey, format="PNG")
    spec = field("qr", "qr", font_size=400, x=50, y=50, color="#000000")
    template = TemplateSpec("qr", 800, 800, grey.getvalue(), (spec,))
    image = Image.open(io.BytesIO(render_png(template, recipient("x")))).convert("L")
    white = image.point(lambda v: 255 if v > 240 else 0).getbbox()
    dark = image.point(lambda v: 255 if v < 20 else 0).getbbox()
    assert white is not None and dark is not None
    count, _ = qr.modules("https://v/c/1")
    module = 400 / (count + 8)
    assert abs((dark[0] - white[0]) - 4 * module) <= 2
    assert abs((white[2] - dark[2]) - 4 * module) <= 2


def _logo(fmt: str, size: tuple[int, int]) -> bytes:
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((0, 0, size[0] - 1, size[1] - 1), fill=(200, 30, 30, 255))
    out = io.BytesIO()
    (image if fmt == "PNG" else image.convert("RGB")).save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_logo_field_draws_the_organization_logo_inside_its_box_keeping_its_shape(
    fmt: str,
) -> None:
    # A 2:1 logo in a 200x200 box centred at (500, 300): drawn 200x100.
    spec = field("logo", "logo", font_size=200, x=50, y=50, width=20)
    template = TemplateSpec("logo", 1000, 600, flat_background(8, 8), (spec,))
    plain = Image.open(io.BytesIO(render_png(template, recipient("x")))).convert("RGB")
    with_logo = replace(recipient("x"), logo=_logo(fmt, (400, 200)))
    drawn = Image.open(io.BytesIO(render_png(template, with_logo))).convert("RGB")
    box = ImageChops.difference(plain, drawn).convert("L").point(lambda v: 255 if v > 40 else 0)
    left, top, right, bottom = box.getbbox() or (0, 0, 0, 0)
    assert abs(left - 400) <= 2 and abs(right - 600) <= 2
    assert abs(top - 250) <= 2 and abs(bottom - 350) <= 2
    pdf = render_pdf(template, with_logo)
    assert (b"/SMask" in pdf) == (fmt == "PNG")


def test_several_files_of_one_family_are_its_styles_not_a_bad_font() -> None:
    regular = renamed("NotoSerif-Regular", "House Serif")
    italic = renamed("NotoSerif-Italic", "House Serif")
    upright = field("a", "name", font_family="House Serif")
    slanted = field("b", "certificateId", font_family="House Serif", is_italic=True, y=70)
    template = TemplateSpec(
        "styles", 1600, 400, flat_background(8, 8), (upright, slanted), fonts=(regular, italic)
    )
    assert check(template, recipient("Ada")) == []
    fonts = drawn_glyph_ids(render_pdf(template, recipient("Ada"), strict=True))
    assert len([font for font in fonts if "HouseSerif" in font]) == 2  # both faces drawn
