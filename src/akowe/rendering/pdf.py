"""A small single-page PDF writer: cached background, subset CID fonts, vector QR codes."""

from __future__ import annotations

import hashlib
import math
import struct
import zlib
from datetime import UTC

from akowe.rendering import background, qr
from akowe.rendering.fields import ALIGNMENTS, field_text
from akowe.rendering.fonts import DEFAULT_FAMILY, Font, chain
from akowe.rendering.model import CertificateData, FieldSpec, TemplateSpec
from akowe.rendering.shaping import Run, layout

_FAKE_ITALIC_SHEAR = 0.21  # tan(12 degrees), a typical oblique angle
_FAKE_BOLD_STROKE = 0.03  # stroke width as a fraction of the font size
_TEST_RGB = "0.85 0.1 0.1"
_TEST_OPACITY = 0.35


def _num(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _rgb(color: str) -> str:
    """Return "r g b" operands for "#rrggbb" (or "#rgb")."""
    hex_digits = color.strip().removeprefix("#")
    if len(hex_digits) == 3:
        hex_digits = "".join(c * 2 for c in hex_digits)
    try:
        channels = bytes.fromhex(hex_digits)
    except ValueError:
        channels = b""
    if len(channels) != 3:
        raise ValueError(f"colour must be #rrggbb, got {color!r}")
    return " ".join(_num(c / 255) for c in channels)


class _FontUse:
    """A font used by one document; each distinct (glyph, text) pair gets its own character code.

    Codes rather than glyph ids go into the content so that one glyph can copy as different
    text (a conjunct's first glyph carries the whole cluster, its other glyphs carry nothing).
    """

    def __init__(self, font: Font, resource: str) -> None:
        self.font = font
        self.resource = resource
        self.codes: dict[tuple[int, str], int] = {}

    def code(self, gid: int, text: str) -> int:
        key = (gid, text)
        code = self.codes.get(key)
        if code is None:
            code = self.codes[key] = len(self.codes) + 1
        return code


class _Page:
    """Content stream operators plus the fonts they use."""

    def __init__(self) -> None:
        self.ops: list[str] = []
        self.fonts: dict[str, _FontUse] = {}

    def use(self, font: Font) -> _FontUse:
        used = self.fonts.get(font.name)
        if used is None:
            used = self.fonts[font.name] = _FontUse(font, f"F{len(self.fonts) + 1}")
        return used

    def runs(self, runs: list[Run], size: float, x: float, baseline: float) -> None:
        """Draw shaped runs inside BT/ET, starting at (x, baseline)."""
        for run in runs:
            font = run.choice.font
            used = self.use(font)
            scale = size / font.upem
            per_mille = 1000 / font.upem
            shear = _FAKE_ITALIC_SHEAR if run.choice.fake_italic else 0
            stroke = f"2 Tr {_num(size * _FAKE_BOLD_STROKE)} w" if run.choice.fake_bold else "0 Tr"
            matrix = f"1 0 {_num(shear)} 1 {_num(x)} {_num(baseline)} Tm"
            ops = [f"/{used.resource} {_num(size)} Tf {stroke} {matrix} ["]
            # A cluster drawn with several glyphs (Indic conjuncts, reph) copies as its first
            # glyph's text plus nothing; PDFium shows that "nothing" as a control character
            # unless ActualText gives the string. Not for RTL: PDFium reverses ActualText.
            actual = not run.rtl and any(not g.text for g in run.glyphs)
            if actual:
                text = "".join(g.text for g in run.glyphs)
                ops.insert(0, f"/Span<</ActualText{_pdf_text(text)}>>BDC ")
            pen = 0.0  # where HarfBuzz puts the pen, in thousandths of an em
            at = 0.0  # where the PDF text cursor is, same unit
            rise = 0
            for glyph in run.glyphs:
                if glyph.y_offset != rise:
                    rise = glyph.y_offset
                    ops.append(f"]TJ {_num(rise * scale)} Ts [")
                target = pen + glyph.x_offset * per_mille
                if abs(target - at) > 0.01:
                    ops.append(f" {_num(at - target)} ")
                ops.append(f"<{used.code(glyph.gid, glyph.text):04x}>")
                at = target + font.advance(glyph.gid) * per_mille
                pen += glyph.x_advance * per_mille
            ops.append("]TJ 0 Ts" if rise else "]TJ")
            if actual:
                ops.append(" EMC")
            self.ops.append("".join(ops))
            x += run.width * scale


def _text_field(page: _Page, field: FieldSpec, text: str, width: int, height: int) -> None:
    if field.alignment not in ALIGNMENTS:
        raise ValueError(f"field {field.id!r}: unknown alignment {field.alignment!r}")
    fonts = chain(field.font_family, field.is_bold, field.is_italic)
    runs = layout(text, fonts)
    size = field.font_size
    line = sum(r.width * size / r.choice.font.upem for r in runs)
    x = field.x / 100 * width - {"left": 0.0, "center": line / 2, "right": line}[field.alignment]
    primary = fonts[0].font
    baseline = height * (1 - field.y / 100) - primary.cap_height * size / primary.upem / 2
    color = _rgb(field.color)
    page.ops.append(f"q {color} rg {color} RG BT")
    page.runs(runs, size, x, baseline)
    page.ops.append("ET Q")


def _qr_field(page: _Page, field: FieldSpec, url: str, width: int, height: int) -> None:
    count, runs = qr.modules(url)
    side = field.font_size
    left = field.x / 100 * width - side / 2
    top = height * (1 - field.y / 100) + side / 2
    module = side / (count + 2 * qr.BORDER)
    offset = qr.BORDER * module
    # Modules are drawn in a flipped, module-sized grid so each run is a tiny "x y w 1 re".
    page.ops.append(f"q 1 g {_num(left)} {_num(top - side)} {_num(side)} {_num(side)} re f")
    grid = f"{_num(module)} 0 0 {_num(-module)} {_num(left + offset)} {_num(top - offset)} cm"
    page.ops.append(f"{_rgb(field.color)} rg {grid}")
    page.ops.append(" ".join(f"{col} {row} {length} 1 re" for col, row, length in runs))
    page.ops.append("f Q")


def _test_mark(page: _Page, width: int, height: int) -> None:
    fonts = chain(DEFAULT_FAMILY, True, False)
    runs = layout("TEST", fonts)
    size = min(width, height) * 0.35
    font = fonts[0].font
    line = sum(r.width for r in runs) * size / font.upem
    angle = math.atan2(height, width)
    cos, sin = _num(math.cos(angle)), _num(math.sin(angle))
    border = min(width, height) / 100
    page.ops.append(f"q /Test gs {_TEST_RGB} rg {_TEST_RGB} RG {_num(border)} w")
    inner = f"{_num(width - 2 * border)} {_num(height - 2 * border)}"
    page.ops.append(f"{_num(border)} {_num(border)} {inner} re S")
    page.ops.append(f"{cos} {sin} -{sin} {cos} {_num(width / 2)} {_num(height / 2)} cm BT")
    page.runs(runs, size, -line / 2, -font.cap_height * size / font.upem / 2)
    page.ops.append("ET Q")


class _Writer:
    def __init__(self) -> None:
        self.objects: list[bytes] = []

    def reserve(self) -> int:
        self.objects.append(b"")
        return len(self.objects)

    def put(self, number: int, body: bytes | str) -> None:
        self.objects[number - 1] = body.encode("ascii") if isinstance(body, str) else body

    def add(self, body: bytes | str) -> int:
        number = self.reserve()
        self.put(number, body)
        return number

    def stream(self, entries: str, data: bytes) -> int:
        packed = zlib.compress(data, 6)
        head = f"<<{entries}/Filter/FlateDecode/Length {len(packed)}>>stream\n"
        return self.add(head.encode("ascii") + packed + b"\nendstream")

    def finish(self, root: int, info: int, file_id: str) -> bytes:
        out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(self.objects, 1):
            offsets.append(len(out))
            out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(self.objects) + 1)
        out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
        trailer = f"trailer\n<</Size {len(self.objects) + 1}/Root {root} 0 R/Info {info} 0 R"
        out += f"{trailer}/ID[<{file_id}><{file_id}>]>>\nstartxref\n{xref}\n%%EOF\n".encode("ascii")
        return bytes(out)


def _to_unicode(codes: dict[tuple[int, str], int]) -> bytes:
    lines = [
        "/CIDInit/ProcSet findresource begin 12 dict begin begincmap",
        "/CIDSystemInfo<</Registry(Adobe)/Ordering(UCS)/Supplement 0>>def",
        "/CMapName/Adobe-Identity-UCS def/CMapType 2 def",
        "1 begincodespacerange <0000><FFFF> endcodespacerange",
    ]
    pairs = [f"<{code:04x}><{text.encode('utf-16-be').hex()}>" for (_, text), code in codes.items()]
    for start in range(0, len(pairs), 100):  # the CMap format allows 100 entries per block
        chunk = pairs[start : start + 100]
        lines += [f"{len(chunk)} beginbfchar", *chunk, "endbfchar"]
    lines.append("endcmap CMapName currentdict/CMap defineresource pop end end")
    return "\n".join(lines).encode("ascii")


def _embed_font(writer: _Writer, used: _FontUse) -> int:
    font = used.font
    data, new_gid = font.subset({gid for gid, _ in used.codes})
    digest = hashlib.blake2b(data, digest_size=6).digest()
    name = "".join(chr(65 + b % 26) for b in digest) + "+" + font.name  # subset tag: 6 capitals
    cid_to_gid = bytearray(2 * (len(used.codes) + 1))
    for (gid, _), code in used.codes.items():
        struct.pack_into(">H", cid_to_gid, 2 * code, new_gid[gid])
    per_mille = 1000 / font.upem
    widths = " ".join(_num(font.advance(gid) * per_mille) for gid, _ in used.codes)
    bbox = " ".join(_num(v * per_mille) for v in font.bbox)
    file_ref = writer.stream(f"/Length1 {len(data)}", data)
    map_ref = writer.stream("", bytes(cid_to_gid))
    unicode_ref = writer.stream("", _to_unicode(used.codes))
    descriptor = writer.add(
        f"<</Type/FontDescriptor/FontName/{name}/Flags 4/FontBBox[{bbox}]/ItalicAngle 0"
        f"/Ascent {_num(font.ascent * per_mille)}/Descent {_num(font.descent * per_mille)}"
        f"/CapHeight {_num(font.cap_height * per_mille)}/StemV 80/FontFile2 {file_ref} 0 R>>"
    )
    cid_font = writer.add(
        f"<</Type/Font/Subtype/CIDFontType2/BaseFont/{name}"
        "/CIDSystemInfo<</Registry(Adobe)/Ordering(Identity)/Supplement 0>>"
        f"/FontDescriptor {descriptor} 0 R/DW 0/W[1[{widths}]]/CIDToGIDMap {map_ref} 0 R>>"
    )
    return writer.add(
        f"<</Type/Font/Subtype/Type0/BaseFont/{name}/Encoding/Identity-H"
        f"/DescendantFonts[{cid_font} 0 R]/ToUnicode {unicode_ref} 0 R>>"
    )


def _pdf_text(text: str) -> str:
    return "<feff" + text.encode("utf-16-be").hex() + ">"


def render_pdf(template: TemplateSpec, data: CertificateData) -> bytes:
    """Render one certificate as a single-page PDF the size of the template (1 px = 1 pt)."""
    width, height = template.width, template.height
    page = _Page()
    page.ops.append(f"q {width} 0 0 {height} 0 0 cm /Bg Do Q")
    for field in template.fields:
        if field.type == "qr":
            _qr_field(page, field, data.verification_url, width, height)
        elif text := field_text(field, data):
            _text_field(page, field, text, width, height)
    if data.test_mode:
        _test_mark(page, width, height)
    content = "\n".join(page.ops).encode("ascii")

    writer = _Writer()
    catalog, pages, page_ref = writer.reserve(), writer.reserve(), writer.reserve()
    image = writer.add(background.image_object(template.key, template.background, width, height))
    contents = writer.stream("", content)
    fonts = "".join(f"/{u.resource} {_embed_font(writer, u)} 0 R" for u in page.fonts.values())
    resources = f"/XObject<</Bg {image} 0 R>>/Font<<{fonts}>>"
    if data.test_mode:
        resources += f"/ExtGState<</Test<</Type/ExtGState/ca {_TEST_OPACITY}/CA {_TEST_OPACITY}>>>>"
    writer.put(
        page_ref,
        f"<</Type/Page/Parent {pages} 0 R/MediaBox[0 0 {width} {height}]"
        f"/Resources<<{resources}>>/Contents {contents} 0 R>>",
    )
    writer.put(pages, f"<</Type/Pages/Kids[{page_ref} 0 R]/Count 1>>")
    writer.put(catalog, f"<</Type/Catalog/Pages {pages} 0 R>>")
    # Metadata comes from the inputs only, so a re-render is byte-identical.
    issued = data.issued_at.astimezone(UTC) if data.issued_at.tzinfo else data.issued_at
    created = issued.strftime("D:%Y%m%d%H%M%SZ")
    title = _pdf_text(f"Certificate {data.certificate_id}")
    info = writer.add(f"<</Producer(akowe)/CreationDate({created})/Title{title}>>")
    seed = template.key.encode() + b"\0" + content + b"\0" + title.encode()
    return writer.finish(catalog, info, hashlib.blake2b(seed, digest_size=16).hexdigest())
