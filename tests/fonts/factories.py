"""Font files made from the bundled fonts for upload tests (real fonts, renamed with fontTools)."""

from __future__ import annotations

import io
from functools import cache
from importlib import resources
from typing import Any

import httpx
from fontTools import subset
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.t2CharStringPen import T2CharStringPen
from fontTools.ttLib import TTFont


@cache
def bundled(stem: str) -> bytes:
    """A bundled font file's bytes."""
    return (resources.files("akowe.rendering") / "fonts" / f"{stem}.ttf").read_bytes()


def font_file(stem: str = "NotoSerif-Italic", family: str = "Great Vibes", **os2: int) -> bytes:
    """A bundled font renamed to `family`, with OS/2 attributes (e.g. fsType) overridden."""
    font = TTFont(io.BytesIO(bundled(stem)))
    style = font["name"].getBestSubFamilyName()
    for record in font["name"].names:
        if record.nameID in (1, 16):
            record.string = family
        elif record.nameID == 4:
            record.string = f"{family} {style}"
        elif record.nameID == 6:
            record.string = f"{family.replace(' ', '')}-{style.replace(' ', '')}"
    for name, value in os2.items():
        setattr(font["OS/2"], name, value)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


@cache
def cff_font(family: str = "Latin Sans") -> bytes:
    """An OpenType font with CFF outlines (an .otf): Noto Sans's Basic Latin, redrawn as CFF."""
    source = TTFont(io.BytesIO(bundled("NotoSans-Regular")))
    options = subset.Options()
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=range(0x20, 0x7F))
    subsetter.subset(source)
    glyphs = source.getGlyphSet()
    order = source.getGlyphOrder()
    charstrings = {}
    for name in order:
        pen = T2CharStringPen(glyphs[name].width, glyphs)
        glyphs[name].draw(pen)
        charstrings[name] = pen.getCharString()
    builder = FontBuilder(source["head"].unitsPerEm, isTTF=False)
    builder.setupGlyphOrder(order)
    builder.setupCharacterMap(source.getBestCmap())
    builder.setupCFF(family.replace(" ", ""), {"FullName": family}, charstrings, {})
    builder.setupHorizontalMetrics({name: source["hmtx"][name] for name in order})
    builder.setupHorizontalHeader(ascent=source["hhea"].ascent, descent=source["hhea"].descent)
    builder.setupNameTable({"familyName": family, "styleName": "Regular"})
    os2 = source["OS/2"]
    builder.setupOS2(
        sTypoAscender=os2.sTypoAscender,
        usWinAscent=os2.usWinAscent,
        usWinDescent=os2.usWinDescent,
        fsType=0,
    )
    builder.setupPost()
    out = io.BytesIO()
    builder.save(out)
    return out.getvalue()


def upload(
    client: httpx.Client, headers: dict[str, str], data: bytes, name: str = "font.ttf"
) -> httpx.Response:
    """POST /api/fonts as multipart with one `file` part."""
    return client.post("/api/fonts", headers=headers, files={"file": (name, data, "font/ttf")})


def uploaded(client: httpx.Client, headers: dict[str, str], data: bytes) -> dict[str, Any]:
    """Upload a font that must be accepted; its answer's data."""
    response = upload(client, headers, data)
    assert response.status_code in (200, 201), response.text
    return response.json()["data"]  # type: ignore[no-any-return]
