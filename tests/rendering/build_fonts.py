"""Rebuild the fallback fonts bundled under src/akowe/rendering/fonts/ (not a test).

Run as root on Debian 12 after `apt-get install fonts-noto-core fonts-noto-cjk` and with the
npm tarball of `@expo-google-fonts/noto-emoji@0.4.7` unpacked in EMOJI_DIR:

    python tests/rendering/build_fonts.py /tmp/npmx/package

Every output is a TrueType (glyf) font without hinting, so the PDF writer embeds all of them
the same way. The CJK font is a character subset of Noto Sans CJK JP (OFL allows subsetting):
the common characters of GB 2312, Big5 level 1, JIS X 0208 and KS X 1001 Hangul, kana,
punctuation and 𠮷, with every `locl` alternate so one face draws Japanese, Chinese
(Simplified, Traditional, Hong Kong) and Korean forms. Its cubic outlines are converted to
quadratic ones with fontTools' cu2qu (one-time, a minute).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import uharfbuzz as hb
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont, newTable

OUT = Path(__file__).resolve().parents[2] / "src" / "akowe" / "rendering" / "fonts"
NOTO = Path("/usr/share/fonts/truetype/noto")
CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")

# Fallback fonts from fonts-noto-core 20201225-1, regular and bold where Noto has a bold.
SCRIPT_FONTS = [
    f"NotoSans{script}-{style}"
    for script in (
        "Ethiopic",
        "Khmer",
        "Gujarati",
        "Gurmukhi",
        "Telugu",
        "Kannada",
        "Malayalam",
        "Oriya",
        "Sinhala",
        "Georgian",
        "Armenian",
        "Myanmar",
        "Lao",
        "Thaana",
    )
    for style in ("Regular", "Bold")
] + ["NotoSansSyriac-Regular", "NotoSerifTibetan-Regular"]


def strip_hinting(source: Path, target: Path) -> None:
    """Copy a font without TrueType hinting; outlines, metrics and shaping tables unchanged."""
    subprocess.run(
        [
            *(sys.executable, "-m", "fontTools.subset", str(source), f"--output-file={target}"),
            *("--glyphs=*", "--unicodes=*", "--layout-features=*", "--layout-scripts=*"),
            *("--name-IDs=*", "--name-languages=*", "--notdef-outline", "--no-hinting"),
            "--drop-tables+=DSIG",
        ],
        check=True,
    )


def _codec_chars(codec: str, leads: range, trails: list[int]) -> set[str]:
    found = set()
    for lead in leads:
        for trail in trails:
            try:
                text = bytes((lead, trail)).decode(codec)
            except UnicodeDecodeError:
                continue
            if len(text) == 1:
                found.add(text)
    return found


def cjk_characters() -> set[str]:
    """Common CJK characters, enumerated from Python's legacy codecs (no data download)."""
    row = list(range(0xA1, 0xFF))
    chars = _codec_chars("gb2312", range(0xA1, 0xFF), row)
    chars |= _codec_chars("euc_jp", range(0xA1, 0xFF), row)
    chars |= _codec_chars("big5", range(0xA4, 0xC7), [*range(0x40, 0x7F), *row])
    chars |= {c for c in _codec_chars("euc_kr", range(0xA1, 0xFF), row) if "가" <= c <= "힣"}
    ranges = [(0x3000, 0x3100), (0x31F0, 0x3200), (0xFF00, 0xFFF0)]
    chars |= {chr(code) for start, end in ranges for code in range(start, end)}
    return chars | {"𠮷"}


def build_cjk(target: Path) -> None:
    """Subset Noto Sans CJK JP to the common characters and convert it to TrueType outlines."""
    face = hb.Face(hb.Blob.from_file_path(str(CJK)), 0)
    spec = hb.SubsetInput()
    spec.unicode_set.update(ord(c) for c in cjk_characters())
    spec.flags = hb.SubsetFlags.NO_HINTING | hb.SubsetFlags.NOTDEF_OUTLINE
    features = spec.sets(hb.SubsetInputSets.LAYOUT_FEATURE_TAG)
    features.clear()
    features.add(int.from_bytes(b"locl", "big"))
    otf = target.with_suffix(".otf")
    otf.write_bytes(bytes(hb.subset(face, spec).blob.data))
    font = TTFont(otf)
    glyphs = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = font.getGlyphOrder()
    glyf.glyphs = {}
    for name in glyf.glyphOrder:
        pen = TTGlyphPen(glyphs)
        glyphs[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
        glyf.glyphs[name] = pen.glyph()
    for tag in ("CFF ", "VORG"):
        if tag in font:
            del font[tag]
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    maxp = font["maxp"]
    maxp.tableVersion = 0x00010000
    for attr in (
        "maxZones",
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
        "maxComponentElements",
        "maxPoints",
        "maxContours",
        "maxCompositePoints",
        "maxCompositeContours",
        "maxComponentDepth",
    ):
        setattr(maxp, attr, 1 if attr == "maxZones" else 0)
    font["head"].glyphDataFormat = 0
    post = font["post"]
    post.formatType = 3.0
    font.sfntVersion = "\0\1\0\0"
    font.save(target)
    otf.unlink()


def main() -> None:
    """Write every fallback font into OUT."""
    emoji = Path(sys.argv[1])
    for name in SCRIPT_FONTS:
        strip_hinting(NOTO / f"{name}.ttf", OUT / f"{name}.ttf")
    strip_hinting(emoji / "400Regular" / "NotoEmoji_400Regular.ttf", OUT / "NotoEmoji-Regular.ttf")
    build_cjk(OUT / "NotoSansCJK-Regular-Subset.ttf")


if __name__ == "__main__":
    main()
