"""A small single-page PDF/A-3b writer: cached background, subset CID fonts, vector QR codes.

Every glyph has a character code of its own per (glyph, text) pair, with a ToUnicode entry,
so readers copy the characters each glyph stands for; clusters whose glyphs and characters do
not pair one to one also carry ActualText. Right-to-left runs are drawn in logical order at
their visual positions, so readers that copy in drawing order get logical text too.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import struct
import threading
import weakref
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC

from cachetools import LRUCache

from akowe.rendering import background, pdfa, qr
from akowe.rendering.fields import TEXT_FIELD_TYPES, field_text
from akowe.rendering.fonts import DEFAULT_FAMILY, Font, chain
from akowe.rendering.layout import FieldLayout, Problem, fit, problems_of
from akowe.rendering.model import Attachment, CertificateData, FieldSpec, TemplateSpec
from akowe.rendering.page import geometry
from akowe.rendering.shaping import Run, layout

_FAKE_ITALIC_SHEAR = 0.21  # tan(12 degrees), a typical oblique angle
_FAKE_BOLD_STROKE = 0.03  # stroke width as a fraction of the font size
_TEST_RGB = "0.85 0.1 0.1"
_TEST_OPACITY = 0.35
_RELATIONSHIPS = frozenset(("Data", "Source", "Alternative", "Supplement", "Unspecified"))
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_NOTHING = "\u200b"


class UnrenderableText(ValueError):
    """Raised by `render_pdf(..., strict=True)` when a field cannot be drawn as designed."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(p.message for p in problems))


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
    text in different places (a conjunct's glyphs share out their cluster's characters).
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
    """Content stream operators plus the fonts and images they use."""

    def __init__(self) -> None:
        self.ops: list[str] = []
        self.fonts: dict[str, _FontUse] = {}
        self.images: dict[str, background.Picture] = {}

    def use(self, font: Font) -> _FontUse:
        used = self.fonts.get(font.name)
        if used is None:
            used = self.fonts[font.name] = _FontUse(font, f"F{len(self.fonts) + 1}")
        return used

    def runs(self, runs: Sequence[Run], size: float, x: float, baseline: float) -> None:
        """Draw shaped runs (in visual order) inside BT/ET, starting at (x, baseline).

        Runs are placed in visual order but drawn in logical order, so that readers which copy
        text in drawing order get a mixed-direction line in logical order.
        """
        placed = []
        for run in runs:
            placed.append((run.start, x, run))
            x += run.width * size / run.choice.font.upem
        for _, x, run in sorted(placed, key=lambda item: item[0]):
            font = run.choice.font
            used = self.use(font)
            scale = size / font.upem
            per_mille = 1000 / font.upem
            shear = _FAKE_ITALIC_SHEAR if run.choice.fake_italic else 0
            stroke = f"2 Tr {_num(size * _FAKE_BOLD_STROKE)} w" if run.choice.fake_bold else "0 Tr"
            matrix = f"1 0 {_num(shear)} 1 {_num(x)} {_num(baseline)} Tm"
            ops = [f"/{used.resource} {_num(size)} Tf {stroke} {matrix} ["]
            at = 0.0  # where the PDF text cursor is, in thousandths of an em
            rise = 0
            open_span = 0  # glyphs left in the current ActualText span
            for glyph in run.glyphs:
                if glyph.actual is not None:
                    ops.append(f"]TJ /Span<</ActualText{_pdf_text(glyph.actual)}>>BDC [")
                    open_span = glyph.span
                if glyph.y_offset != rise:
                    rise = glyph.y_offset
                    ops.append(f"]TJ {_num(rise * scale)} Ts [")
                target = glyph.x * per_mille
                if abs(target - at) > 0.01:
                    ops.append(f" {_num(at - target)} ")
                ops.append(f"<{used.code(glyph.gid, glyph.text):04x}>")
                at = target + font.advance(glyph.gid) * per_mille
                if open_span:
                    open_span -= 1
                    if not open_span:
                        ops.append("]TJ EMC [")
            ops.append("]TJ 0 Ts" if rise else "]TJ")
            self.ops.append("".join(ops).replace("[]TJ", ""))


def _text_field(page: _Page, field: FieldSpec, placed: FieldLayout, height: int) -> None:
    color = _rgb(field.color)
    page.ops.append(f"q {color} rg {color} RG BT")
    for index, line in enumerate(placed.lines):
        width = line.width(placed.size)
        free = placed.box_width - width
        x = placed.box_left + {"left": 0.0, "center": free / 2, "right": free}[field.alignment]
        baseline = height - (placed.first_baseline + index * placed.line_height)
        page.runs(line.runs, placed.size, x, baseline)
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


def _logo_field(
    page: _Page, field: FieldSpec, data: bytes, template: TemplateSpec, scale: float
) -> None:
    box_height = field.font_size
    box_width = field.width / 100 * template.width if field.width is not None else box_height
    # Enough pixels for print at this size: twice the box's size on the page, in points.
    limit = (max(1, round(box_width * scale)), max(1, round(box_height * scale)))
    key = "logo:" + hashlib.blake2b(data, digest_size=16).hexdigest()
    picture = background.logo_object(key, data, limit)
    name = f"Im{len(page.images) + 1}"
    page.images[name] = picture
    ratio = min(box_width / picture.width, box_height / picture.height)
    draw_w, draw_h = picture.width * ratio, picture.height * ratio
    anchor_x = field.x / 100 * template.width
    anchor_y = field.y / 100 * template.height  # from the top
    left = anchor_x - {"left": 0.0, "center": draw_w / 2, "right": draw_w}[field.alignment]
    top = anchor_y - {"top": 0.0, "middle": draw_h / 2, "bottom": draw_h}[field.vertical_alignment]
    bottom = template.height - top - draw_h
    page.ops.append(f"q {_num(draw_w)} 0 0 {_num(draw_h)} {_num(left)} {_num(bottom)} cm")
    page.ops.append(f"/{name} Do Q")


def _test_mark(page: _Page, width: int, height: int) -> None:
    fonts = chain(DEFAULT_FAMILY, True, False)
    runs = layout("TEST", fonts).runs
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

    def stream(self, entries: str, data: bytes, compress: bool = True) -> int:
        return self.add(_stream(entries, data, compress))

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


def _to_unicode(codes: Sequence[tuple[int, str]]) -> bytes:
    lines = [
        "/CIDInit/ProcSet findresource begin 12 dict begin begincmap",
        "/CIDSystemInfo<</Registry(Adobe)/Ordering(UCS)/Supplement 0>>def",
        "/CMapName/Adobe-Identity-UCS def/CMapType 2 def",
        "1 begincodespacerange <0000><FFFF> endcodespacerange",
    ]
    # A glyph that shares its cluster's characters out may stand for none of them; an empty
    # destination makes readers print garbage, so it maps to U+200B (zero width space) rather.
    pairs = [
        f"<{code:04x}><{(text or _NOTHING).encode('utf-16-be').hex()}>"
        for code, (_, text) in enumerate(codes, 1)
    ]
    for start in range(0, len(pairs), 100):  # the CMap format allows 100 entries per block
        chunk = pairs[start : start + 100]
        lines += [f"{len(chunk)} beginbfchar", *chunk, "endbfchar"]
    lines.append("endcmap CMapName currentdict/CMap defineresource pop end end")
    return "\n".join(lines).encode("ascii")


def _stream(entries: str, data: bytes, compress: bool = True) -> bytes:
    """A stream object's body (dictionary and data), compressed unless told otherwise.

    Deflate's fastest level: a certificate's streams are a few kilobytes (the page's drawing,
    the name's font subset) beside a background of a few hundred, so level 6 saved next to
    nothing in size and cost 7% of a render (bench/render.py's design: 1.116 ms a PDF at
    level 6, 1.037 ms at level 1, 198 KB either way)."""
    packed = zlib.compress(data, 1) if compress else data
    flate = "/Filter/FlateDecode" if compress else ""
    head = f"<<{entries}{flate}/Length {len(packed)}>>stream\n"
    return head.encode("ascii") + packed + b"\nendstream"


@dataclass(frozen=True, slots=True)
class _EmbeddedFont:
    """A font's objects for one set of (glyph, text) codes, without their object numbers."""

    name: str
    program: bytes  # the FontFile2 stream
    cid_to_gid: bytes  # the CIDToGIDMap stream
    to_unicode: bytes  # the ToUnicode stream
    descriptor: str  # the FontDescriptor's entries but FontFile2
    widths: str


_Codes = tuple[tuple[int, str], ...]  # a font's (glyph, text) pairs; code n is the nth

# Embedded fonts by font name and codes, each with a weak reference to the font it was made
# from: a font is used by name in a PDF (`_Page.use`), and an entry must neither keep a
# template's uploaded font alive (akowe.rendering.fonts keeps the last 64) nor serve another
# font object that came to bear the same name.
_EMBEDDED: LRUCache[tuple[str, _Codes], tuple[weakref.ref[Font], _EmbeddedFont]] = LRUCache(256)
_EMBEDDED_LOCK = threading.Lock()


def _embedded(font: Font, codes: _Codes) -> _EmbeddedFont:
    """`font` subset, compressed and described for `codes`.

    Kept: every certificate of a design draws its fixed texts (a course, a grade, a date) in
    the same fonts, so a bulk job's PDFs embed the same subset of each such font; making it
    anew (subsetting, three streams compressed) was a fifth of rendering a certificate. Only
    a name's own font is new in each."""
    key = (font.name, codes)
    with _EMBEDDED_LOCK:
        kept = _EMBEDDED.get(key)
    if kept is not None and kept[0]() is font:
        return kept[1]
    made = _embed(font, codes)
    with _EMBEDDED_LOCK:
        _EMBEDDED[key] = (weakref.ref(font), made)
    return made


def _embed(font: Font, codes: _Codes) -> _EmbeddedFont:
    data, new_gid = font.subset({gid for gid, _ in codes})
    digest = hashlib.blake2b(data, digest_size=6).digest()
    stem = _NAME_UNSAFE.sub("", font.name)[:100] or "Font"
    name = "".join(chr(65 + b % 26) for b in digest) + "+" + stem  # subset tag: 6 capitals
    cid_to_gid = bytearray(2 * (len(codes) + 1))
    for code, (gid, _) in enumerate(codes, 1):
        struct.pack_into(">H", cid_to_gid, 2 * code, new_gid[gid])
    per_mille = 1000 / font.upem
    bbox = " ".join(_num(v * per_mille) for v in font.bbox)
    return _EmbeddedFont(
        name=name,
        program=_stream(f"/Length1 {len(data)}", data),
        cid_to_gid=_stream("", bytes(cid_to_gid)),
        to_unicode=_stream("", _to_unicode(codes)),
        descriptor=(
            f"/Type/FontDescriptor/FontName/{name}/Flags 4/FontBBox[{bbox}]/ItalicAngle 0"
            f"/Ascent {_num(font.ascent * per_mille)}/Descent {_num(font.descent * per_mille)}"
            f"/CapHeight {_num(font.cap_height * per_mille)}/StemV 80"
        ),
        widths=" ".join(_num(font.advance(gid) * per_mille) for gid, _ in codes),
    )


def _embed_font(writer: _Writer, used: _FontUse) -> int:
    embedded = _embedded(used.font, tuple(used.codes))
    name = embedded.name
    file_ref = writer.add(embedded.program)
    map_ref = writer.add(embedded.cid_to_gid)
    unicode_ref = writer.add(embedded.to_unicode)
    descriptor = writer.add(f"<<{embedded.descriptor}/FontFile2 {file_ref} 0 R>>")
    cid_font = writer.add(
        f"<</Type/Font/Subtype/CIDFontType2/BaseFont/{name}"
        "/CIDSystemInfo<</Registry(Adobe)/Ordering(Identity)/Supplement 0>>"
        f"/FontDescriptor {descriptor} 0 R/DW 0/W[1[{embedded.widths}]]/CIDToGIDMap {map_ref} 0 R>>"
    )
    return writer.add(
        f"<</Type/Font/Subtype/Type0/BaseFont/{name}/Encoding/Identity-H"
        f"/DescendantFonts[{cid_font} 0 R]/ToUnicode {unicode_ref} 0 R>>"
    )


@functools.cache
def _output_profile() -> bytes:
    """The output intent's ICC profile stream, the same in every PDF: compressed once."""
    return _stream("/N 3", pdfa.srgb_profile())


def _picture(writer: _Writer, picture: background.Picture) -> int:
    if picture.mask is None:
        return writer.add(picture.image)
    mask = writer.add(picture.mask)
    return writer.add(picture.image.replace(b"/Length ", f"/SMask {mask} 0 R/Length ".encode(), 1))


def _pdf_text(text: str) -> str:
    return "<feff" + text.encode("utf-16-be").hex() + ">"


def _pdf_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else f"#{ord(c):02X}" for c in text)


def _attach(writer: _Writer, item: Attachment, modified: str) -> int:
    if item.relationship not in _RELATIONSHIPS:
        raise ValueError(f"attachment {item.name!r}: unknown relationship {item.relationship!r}")
    if not item.name or not item.mime_type or "/" not in item.mime_type:
        raise ValueError(f"attachment {item.name!r}: a file name and a MIME type are required")
    checksum = hashlib.md5(item.data, usedforsecurity=False).hexdigest()
    params = f"/Params<</Size {len(item.data)}/ModDate({modified})/CheckSum<{checksum}>>>"
    stream = writer.stream(
        f"/Type/EmbeddedFile/Subtype/{_pdf_name(item.mime_type)}{params}", item.data
    )
    name = _pdf_text(item.name)
    description = f"/Desc{_pdf_text(item.description)}" if item.description else ""
    return writer.add(
        f"<</Type/Filespec/F{name}/UF{name}/EF<</F {stream} 0 R/UF {stream} 0 R>>"
        f"/AFRelationship/{item.relationship}{description}>>"
    )


def layout_fields(
    template: TemplateSpec,
    data: CertificateData,
    memo: dict[tuple[str, str], tuple[FieldLayout, list[Problem]]] | None = None,
) -> tuple[dict[str, FieldLayout], list[Problem]]:
    """Lay out every text field and collect what cannot be drawn as designed.

    `memo` (for one `template` only) keeps each field's layout by its text, so values many
    certificates share (a course, the date) are laid out once (akowe.rendering.check.Memo).
    """
    placed: dict[str, FieldLayout] = {}
    problems: list[Problem] = []
    for field in template.fields:
        if field.type not in TEXT_FIELD_TYPES:
            continue
        text = field_text(field, data, template.locale)
        if not text:
            continue
        known = memo.get((field.id, text)) if memo is not None else None
        if known is None:
            result = fit(field, template, text)
            known = (result, problems_of(field, template, result))
            if memo is not None and len(memo) < MEMO_ENTRIES:
                memo[(field.id, text)] = known
        placed[field.id] = known[0]
        problems += known[1]
    return placed, problems


# At most this many layouts in a memo (a bulk check step's names are all different).
MEMO_ENTRIES = 4096


def render_pdf(
    template: TemplateSpec,
    data: CertificateData,
    *,
    attachments: Sequence[Attachment] = (),
    strict: bool = False,
) -> bytes:
    """Render one certificate as a single-page PDF/A-3b on the template's physical page.

    With `strict`, a field that cannot be drawn as designed (characters no font has, text
    that does not fit its box at the minimum size) raises UnrenderableText. Without it such
    text is still never left out or run past its box: it is drawn smaller than the minimum
    and missing characters show the font's missing-glyph box.
    """
    width, height = template.width, template.height
    placed, problems = layout_fields(template, data)
    if strict and problems:
        raise UnrenderableText(problems)
    page_box = geometry(template)
    page = _Page()
    transform = f"{_num(page_box.scale)} 0 0 {_num(page_box.scale)}"
    page.ops.append(f"q {transform} {_num(page_box.left)} {_num(page_box.bottom)} cm")
    page.ops.append(f"q {width} 0 0 {height} 0 0 cm /Bg Do Q")
    for field in template.fields:
        if field.type == "qr":
            _qr_field(page, field, data.verification_url, width, height)
        elif field.type == "logo":
            logo = field.image or data.logo
            if logo:
                _logo_field(page, field, logo, template, page_box.scale)
        elif field.id in placed:
            _text_field(page, field, placed[field.id], height)
    if data.test_mode:
        _test_mark(page, width, height)
    page.ops.append("Q")
    content = "\n".join(page.ops).encode("ascii")

    writer = _Writer()
    catalog, pages, page_ref = writer.reserve(), writer.reserve(), writer.reserve()
    image = writer.add(background.image_object(template.key, template.background, width, height))
    contents = writer.stream("", content)
    fonts = "".join(f"/{u.resource} {_embed_font(writer, u)} 0 R" for u in page.fonts.values())
    xobjects = f"/Bg {image} 0 R" + "".join(
        f"/{name} {_picture(writer, picture)} 0 R" for name, picture in page.images.items()
    )
    resources = f"/XObject<<{xobjects}>>/Font<<{fonts}>>"
    if data.test_mode:
        resources += f"/ExtGState<</Test<</Type/ExtGState/ca {_TEST_OPACITY}/CA {_TEST_OPACITY}>>>>"
    box = f"0 0 {_num(page_box.width)} {_num(page_box.height)}"
    writer.put(
        page_ref,
        f"<</Type/Page/Parent {pages} 0 R/MediaBox[{box}]"
        f"/Resources<<{resources}>>/Contents {contents} 0 R>>",
    )
    writer.put(pages, f"<</Type/Pages/Kids[{page_ref} 0 R]/Count 1>>")
    # Metadata comes from the inputs only, so a re-render is byte-identical.
    issued = data.issued_at.astimezone(UTC) if data.issued_at.tzinfo else data.issued_at
    created = issued.strftime("D:%Y%m%d%H%M%SZ")
    title_text = f"Certificate {data.certificate_id}"
    title = _pdf_text(title_text)
    seed = template.key.encode() + b"\0" + content + b"\0" + title.encode()
    for item in attachments:
        seed += b"\0" + item.name.encode() + hashlib.blake2b(item.data).digest()
    file_id = hashlib.blake2b(seed, digest_size=16).hexdigest()
    files = [_attach(writer, item, created) for item in attachments]
    names = {item.name: ref for item, ref in zip(attachments, files, strict=True)}
    metadata = writer.stream(
        "/Type/Metadata/Subtype/XML",
        pdfa.xmp(title_text, issued, file_id, tuple(names)),
        compress=False,
    )
    icc = writer.add(_output_profile())
    intent = (
        f"<</Type/OutputIntent/S/GTS_PDFA1/OutputConditionIdentifier({pdfa.OUTPUT_CONDITION})"
        f"/Info({pdfa.OUTPUT_CONDITION})/DestOutputProfile {icc} 0 R>>"
    )
    extra = ""
    if files:
        tree = "".join(f"{_pdf_text(name)} {ref} 0 R" for name, ref in sorted(names.items()))
        extra = (
            f"/Names<</EmbeddedFiles<</Names[{tree}]>>>>/AF[{' '.join(f'{r} 0 R' for r in files)}]"
        )
    writer.put(
        catalog,
        f"<</Type/Catalog/Pages {pages} 0 R/Metadata {metadata} 0 R"
        f"/OutputIntents[{intent}]{extra}>>",
    )
    info = writer.add(
        f"<</Producer({pdfa.PRODUCER})/Creator({pdfa.PRODUCER})/CreationDate({created})"
        f"/ModDate({created})/Title{title}>>"
    )
    return writer.finish(catalog, info, file_id)
