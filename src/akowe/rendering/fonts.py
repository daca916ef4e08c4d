"""Fonts: the bundled Noto families, custom uploads, system fonts, and the fallback chain.

A field draws with its own family first, then Noto Sans, then one bundled Noto font per
script, then the fonts installed on the machine (found through fontconfig, so a deployment
adds coverage by installing e.g. `fonts-noto-core` or `fonts-noto-cjk` without a release).
A character none of them has is reported by `akowe.rendering.check`, never drawn blank.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import io
import shutil
import struct
import subprocess
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

import uharfbuzz as hb  # type: ignore[import-untyped]
from fontTools.pens.cu2quPen import Cu2QuPen  # type: ignore[import-untyped]
from fontTools.pens.ttGlyphPen import TTGlyphPen  # type: ignore[import-untyped]
from fontTools.ttLib import TTFont, TTLibError, newTable  # type: ignore[import-untyped]

DEFAULT_FAMILY = "noto sans"

# Faces per bundled family: regular, bold, italic, bold italic (file stems under fonts/).
_FAMILIES: dict[str, tuple[str, str, str, str]] = {
    "noto sans": ("NotoSans-Regular", "NotoSans-Bold", "NotoSans-Italic", "NotoSans-BoldItalic"),
    "noto serif": (
        "NotoSerif-Regular",
        "NotoSerif-Bold",
        "NotoSerif-Italic",
        "NotoSerif-BoldItalic",
    ),
}

# Generic names a designer may pick, drawn with the bundled family of that kind. Brand names
# (Arial, Times, Great Vibes...) are not here: they are unknown unless uploaded.
_ALIASES: dict[str, str] = {
    **dict.fromkeys(("sans", "sans-serif", "noto"), "noto sans"),
    **dict.fromkeys(("serif",), "noto serif"),
}

# Per-script fallbacks after the Latin default: (regular, bold or None), tried in order.
_SCRIPT_FALLBACKS: tuple[tuple[str, str | None], ...] = (
    ("NotoSansArabic-Regular", "NotoSansArabic-Bold"),
    ("NotoSansHebrew-Regular", "NotoSansHebrew-Bold"),
    ("NotoSansDevanagari-Regular", "NotoSansDevanagari-Bold"),
    ("NotoSansBengali-Regular", "NotoSansBengali-Bold"),
    ("NotoSansTamil-Regular", "NotoSansTamil-Bold"),
    ("NotoSansThai-Regular", "NotoSansThai-Bold"),
    ("NotoSansGujarati-Regular", "NotoSansGujarati-Bold"),
    ("NotoSansGurmukhi-Regular", "NotoSansGurmukhi-Bold"),
    ("NotoSansTelugu-Regular", "NotoSansTelugu-Bold"),
    ("NotoSansKannada-Regular", "NotoSansKannada-Bold"),
    ("NotoSansMalayalam-Regular", "NotoSansMalayalam-Bold"),
    ("NotoSansOriya-Regular", "NotoSansOriya-Bold"),
    ("NotoSansSinhala-Regular", "NotoSansSinhala-Bold"),
    ("NotoSansEthiopic-Regular", "NotoSansEthiopic-Bold"),
    ("NotoSansKhmer-Regular", "NotoSansKhmer-Bold"),
    ("NotoSansMyanmar-Regular", "NotoSansMyanmar-Bold"),
    ("NotoSansLao-Regular", "NotoSansLao-Bold"),
    ("NotoSansGeorgian-Regular", "NotoSansGeorgian-Bold"),
    ("NotoSansArmenian-Regular", "NotoSansArmenian-Bold"),
    ("NotoSansThaana-Regular", "NotoSansThaana-Bold"),
    ("NotoSansSyriac-Regular", None),
    ("NotoSerifTibetan-Regular", None),
    # Chinese, Japanese and Korean in one face whose `locl` lookups give each language's forms.
    ("NotoSansCJK-Regular-Subset", None),
    ("NotoEmoji-Regular", None),
)

# A PDF CID font needs only outlines and metrics; shaping already happened.
_SUBSET_DROP_TABLES = (
    *("GSUB", "GPOS", "GDEF", "BASE", "JSTF", "name", "post", "cmap", "OS/2"),
    *("vhea", "vmtx", "gasp", "kern", "morx", "meta", "STAT", "VORG"),
)
_CUSTOM_CACHE_SIZE = 64
_STYLE_NAMES = ("regular", "bold", "italic", "bold italic")


class FontError(ValueError):
    """Font bytes that cannot be used: not a font, a collection, or no usable outlines."""


def _tag(name: str) -> int:
    return int.from_bytes(name.ljust(4).encode("ascii"), "big")


def _cff_to_glyf(data: bytes) -> bytes:
    """Convert a CFF-flavoured OpenType font to TrueType outlines (cubic to quadratic)."""
    font = TTFont(io.BytesIO(data))
    glyph_set = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = font.getGlyphOrder()
    glyf.glyphs = {}
    for name in glyf.glyphOrder:
        pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
        glyf.glyphs[name] = pen.glyph()
    for tag in ("CFF ", "CFF2", "VORG"):
        if tag in font:
            del font[tag]
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    maxp = font["maxp"]
    maxp.tableVersion = 0x00010000
    for attr in (
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
        setattr(maxp, attr, 0)
    maxp.maxZones = 1
    font["head"].glyphDataFormat = 0
    font.sfntVersion = "\0\1\0\0"
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


class Font:
    """A loaded font face: shaping font, cmap coverage, metrics and a subsetter."""

    def __init__(self, name: str, data: bytes, index: int = 0) -> None:
        self.name = name
        face = hb.Face(hb.Blob(data), index)
        if face.upem <= 0 or face.glyph_count <= 1:
            raise FontError("the file holds no usable font")
        self.hb_font = hb.Font(face)
        self.upem: int = face.upem
        self.cmap: frozenset[int] = frozenset(face.unicodes)
        tags = set(face.table_tags)
        if "glyf" not in tags and not tags & {"CFF ", "CFF2"}:
            raise FontError("the font has no outlines (glyf or CFF table)")
        # CFF outlines are converted to TrueType per subset, so every font embeds one way.
        self.cff = "glyf" not in tags
        # Preprocessing once makes every later subset of this face several times faster.
        self._subset_face = hb.subset_preprocess(face)
        head = face.reference_table("head").data
        self.bbox: tuple[int, int, int, int] = struct.unpack_from(">4h", head, 36)
        extents = self.hb_font.get_font_extents("ltr")
        self.ascent: int = extents.ascender
        self.descent: int = extents.descender
        self.line_gap: int = extents.line_gap
        cap = self.hb_font.get_metric_position(hb.OTMetricsTag.CAP_HEIGHT)
        self.cap_height: int = cap if cap else round(self.ascent * 0.7)

    def advance(self, gid: int) -> int:
        """Return the nominal advance width of a glyph in font units."""
        return int(self.hb_font.get_glyph_h_advance(gid))

    def subset(self, gids: set[int]) -> tuple[bytes, dict[int, int]]:
        """Return a TrueType subset holding `gids` (and components) and the old-to-new glyph map.

        The missing-glyph box (.notdef) keeps its outline, so a reader shows it rather than
        nothing should one ever be drawn.
        """
        spec = hb.SubsetInput()
        spec.glyph_set.update(sorted(gids | {0}))
        spec.flags = (
            hb.SubsetFlags.NO_HINTING
            | hb.SubsetFlags.NO_LAYOUT_CLOSURE
            | hb.SubsetFlags.NOTDEF_OUTLINE
            | hb.SubsetFlags.DESUBROUTINIZE
        )
        for name in _SUBSET_DROP_TABLES:
            spec.drop_table_tag_set.add(_tag(name))
        plan = hb.SubsetPlan(self._subset_face, spec)
        mapping = {int(old): int(new) for old, new in plan.old_to_new_glyph_mapping.items()}
        data = bytes(plan.execute().blob.data)
        return (_cff_to_glyf(data) if self.cff else data), mapping


@dataclass(frozen=True, slots=True)
class FontChoice:
    """A font plus the styles that must be synthesized because the font lacks that face."""

    font: Font
    fake_bold: bool
    fake_italic: bool


@dataclass(frozen=True, slots=True)
class FontInfo:
    """What an uploaded font file is: its family, style, and whether it may be embedded."""

    family: str
    style: str  # "regular" | "bold" | "italic" | "bold italic"
    full_name: str
    bold: bool
    italic: bool
    embeddable: bool  # OS/2 fsType allows embedding in a document (not "restricted licence")
    fs_type: int
    glyph_count: int
    outlines: str  # "truetype" | "cff"


@functools.cache
def load(name: str) -> Font:
    """Load a bundled font by file stem (read once per process)."""
    data = (resources.files(__package__) / "fonts" / f"{name}.ttf").read_bytes()
    return Font(name, data)


def _family_key(family: str) -> str:
    return " ".join(family.lower().replace("_", " ").split())


def resolve_family(family: str) -> str:
    """Map a requested family name to a bundled family, defaulting to Noto Sans."""
    key = _family_key(family)
    if key in _FAMILIES:
        return key
    return _ALIASES.get(key, DEFAULT_FAMILY)


def bundled_families() -> tuple[str, ...]:
    """Family names usable without an upload: the bundled Noto families and generic names."""
    return ("Noto Sans", "Noto Serif", "sans-serif", "serif", "sans", "noto")


def is_known_family(family: str, custom: Iterable[str] = ()) -> bool:
    """True when `family` names a bundled family, a generic name, or one of `custom`."""
    key = _family_key(family)
    return key in _FAMILIES or key in _ALIASES or key in {_family_key(c) for c in custom}


def _names(font: TTFont) -> tuple[str, str, str]:
    name = font["name"]
    family = name.getBestFamilyName() or ""
    subfamily = name.getBestSubFamilyName() or ""
    full = name.getBestFullName() or f"{family} {subfamily}".strip()
    return family.strip(), subfamily.strip(), full.strip()


def inspect_font(data: bytes) -> FontInfo:
    """Validate an uploaded TTF/OTF file and describe it; raises FontError for anything else."""
    if data[:4] not in (b"\x00\x01\x00\x00", b"OTTO", b"true"):
        raise FontError("not a TrueType or OpenType font (collections and WOFF are not accepted)")
    try:
        font = TTFont(io.BytesIO(data), lazy=False)
        family, _, full = _names(font)
        glyph_count = len(font.getGlyphOrder())
        os2 = font.get("OS/2")
        head = font["head"]
        has_cmap = "cmap" in font and font.getBestCmap() is not None
        outlines = "truetype" if "glyf" in font else "cff" if "CFF " in font else ""
    except (TTLibError, KeyError, struct.error, AssertionError, ValueError, TypeError) as exc:
        raise FontError(f"the font file is damaged: {exc}") from exc
    if not family:
        raise FontError("the font has no family name")
    if not outlines:
        raise FontError("the font has no TrueType or CFF outlines")
    if not has_cmap:
        raise FontError("the font maps no Unicode characters")
    try:
        Font(family, data)  # HarfBuzz must read it too, exactly as rendering will
    except Exception as exc:
        raise FontError(f"the font cannot be shaped: {exc}") from exc
    fs_type = int(os2.fsType) if os2 is not None else 0
    # fsType bit 1 (0x0002) alone: "Restricted License embedding", must not be embedded.
    restricted = fs_type & 0x000F == 0x0002
    # Bitmap-only embedding (0x0200) leaves no outlines to embed in a PDF.
    embeddable = not restricted and not fs_type & 0x0200
    selection = int(os2.fsSelection) if os2 is not None else 0
    bold = bool(selection & 0x20) or bool(head.macStyle & 1)
    italic = bool(selection & 0x01) or bool(head.macStyle & 2)
    return FontInfo(
        family=family,
        style=_STYLE_NAMES[int(bold) + 2 * int(italic)],
        full_name=full,
        bold=bold,
        italic=italic,
        embeddable=embeddable,
        fs_type=fs_type,
        glyph_count=glyph_count,
        outlines=outlines,
    )


_custom: OrderedDict[bytes, tuple[FontInfo, Font]] = OrderedDict()
# The same bytes object again (callers keep their templates' font files): found without
# hashing the file, which costs about a millisecond per call for a few hundred KB and is
# asked for several times per field. The entry holds the object, so its id stays its own.
_custom_by_id: OrderedDict[int, tuple[bytes, tuple[FontInfo, Font]]] = OrderedDict()
_custom_lock = threading.Lock()


def custom_font(data: bytes) -> tuple[FontInfo, Font]:
    """Load caller-supplied font bytes once (cached by content digest)."""
    with _custom_lock:
        known = _custom_by_id.get(id(data))
        if known is not None and known[0] is data:
            _custom_by_id.move_to_end(id(data))
            return known[1]
    digest = hashlib.blake2b(data, digest_size=16).digest()
    with _custom_lock:
        hit = _custom.get(digest)
        if hit is not None:
            _custom.move_to_end(digest)
            _remember_object(data, hit)
            return hit
    info = inspect_font(data)
    if not info.embeddable:
        raise FontError(f"{info.full_name}: its licence (OS/2 fsType) does not allow embedding")
    style = info.style.replace(" ", "")
    loaded = (info, Font(f"{info.family.replace(' ', '')}-{style}-{digest.hex()[:8]}", data))
    with _custom_lock:
        _custom[digest] = loaded
        while len(_custom) > _CUSTOM_CACHE_SIZE:
            _custom.popitem(last=False)
        _remember_object(data, loaded)
    return loaded


def _remember_object(data: bytes, loaded: tuple[FontInfo, Font]) -> None:
    # Called with _custom_lock held.
    _custom_by_id[id(data)] = (data, loaded)
    _custom_by_id.move_to_end(id(data))
    while len(_custom_by_id) > _CUSTOM_CACHE_SIZE:
        _custom_by_id.popitem(last=False)


def _custom_choices(
    family: str, fonts: tuple[bytes, ...], bold: bool, italic: bool
) -> list[FontChoice]:
    key = _family_key(family)
    faces = []
    for data in fonts:
        try:
            info, font = custom_font(data)
        except FontError:
            continue  # reported by check_template; the field falls back to the bundled fonts
        if _family_key(info.family) == key:
            faces.append((info, font))
    if not faces:
        return []

    def distance(info: FontInfo) -> int:
        return 2 * int(info.italic != italic) + int(info.bold != bold)

    info, font = min(faces, key=lambda face: distance(face[0]))
    return [FontChoice(font, bold and not info.bold, italic and not info.italic)]


class FontChain(tuple[FontChoice, ...]):
    """A fallback chain whose hash is computed once: it keys the shaping cache, which is
    consulted several times per field and per certificate (hashing 26 choices each time
    was a fifth of the cost of checking a certificate's values)."""

    _hash: int

    def __new__(cls, choices: Iterable[FontChoice]) -> FontChain:
        chain = super().__new__(cls, choices)
        chain._hash = tuple.__hash__(chain)
        return chain

    def __hash__(self) -> int:
        return self._hash


@functools.cache
def _bundled_chain(family: str, bold: bool, italic: bool) -> FontChain:
    style = int(bold) + 2 * int(italic)
    families = dict.fromkeys((resolve_family(family), DEFAULT_FAMILY))
    choices = [FontChoice(load(_FAMILIES[f][style]), False, False) for f in families]
    for regular, bold_face in _SCRIPT_FALLBACKS:
        name = bold_face if bold and bold_face else regular
        choices.append(FontChoice(load(name), bold and bold_face is None, italic))
    return FontChain(choices)


def chain(
    family: str, bold: bool, italic: bool, fonts: tuple[bytes, ...] = ()
) -> tuple[FontChoice, ...]:
    """Fonts to try in order for a field: its family, the Latin default, then script fallbacks.

    `fonts` are caller-supplied font files; a face whose family matches `family` comes first.
    """
    bundled = _bundled_chain(family, bold, italic)
    if not fonts:
        return bundled
    return FontChain((*_custom_choices(family, fonts, bold, italic), *bundled))


# Default-ignorable characters: never drawn, so never "missing" (ZWJ, variation selectors...).
def is_ignorable(char: str) -> bool:
    """True for characters that have no glyph of their own (format controls, selectors)."""
    code = ord(char)
    return (
        unicodedata.category(char) == "Cf"
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
        or code == 0x034F
    )


_system_lock = threading.Lock()
_system_fonts: dict[tuple[str, int], Font | None] = {}


@functools.cache
def _fc_list() -> str | None:
    return shutil.which("fc-list")


@functools.cache
def _installed_coverage() -> tuple[list[int], list[int]] | None:
    """Every code point some installed outline font covers, as merged (starts, ends) ranges;
    None when fontconfig cannot say. Asked once per process: one `fc-list` call."""
    fc_list = _fc_list()
    if fc_list is None:
        return None
    try:
        listed = subprocess.run(  # noqa: S603 - a fixed binary and fixed arguments
            [fc_list, ":outline=true", "--format", "%{charset}\n"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        ranges = []
        for part in listed.split():
            first, _, last = part.partition("-")
            ranges.append((int(first, 16), int(last or first, 16)))
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    starts: list[int] = []
    ends: list[int] = []
    for low, high in sorted(ranges):
        if ends and low <= ends[-1] + 1:
            ends[-1] = max(ends[-1], high)
        else:
            starts.append(low)
            ends.append(high)
    return starts, ends


def _maybe_installed(code: int) -> bool:
    """False when no installed font covers `code` (private use, unassigned, rare scripts):
    then no `fc-list` is spawned for it, however many such characters a value holds."""
    coverage = _installed_coverage()
    if coverage is None:
        return True
    starts, ends = coverage
    index = bisect.bisect_right(starts, code) - 1
    return index >= 0 and code <= ends[index]


@functools.lru_cache(maxsize=4096)
def _system_candidates(code: int) -> tuple[tuple[str, int], ...]:
    """Font files fontconfig says cover `code`, Noto and regular faces first."""
    fc_list = _fc_list()
    if fc_list is None or not _maybe_installed(code):
        return ()
    try:
        listed = subprocess.run(  # noqa: S603 - a fixed binary and a generated pattern
            [fc_list, f":charset={code:x}:outline=true", "file", "index", "style"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    found = []
    for line in listed.splitlines():
        path, _, rest = line.partition(": ")
        if not path.lower().endswith((".ttf", ".otf", ".ttc", ".otc")):
            continue
        index = 0
        style = ""
        for part in rest.split(":"):
            key, _, value = part.partition("=")
            if key == "index" and value.isdigit():
                index = int(value)
            elif key == "style":
                style = value.split(",")[0]
        rank = (
            "noto" not in path.lower(),
            style not in ("Regular", "Book"),
            "Mono" in path,
            "Serif" in path,
            index,
            path,
        )
        found.append((rank, path, index))
    return tuple((path, index) for _, path, index in sorted(found))


def system_font(code: int) -> Font | None:
    """A font installed on this machine (via fontconfig) that can draw `code`, if any."""
    for path, index in _system_candidates(code):
        key = (path, index)
        with _system_lock:
            known = key in _system_fonts
            font = _system_fonts.get(key)
        if not known:
            try:
                with open(path, "rb") as handle:
                    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
                    font = Font(f"{stem}-{index}" if index else stem, handle.read(), index)
            except (OSError, FontError, ValueError):
                font = None
            with _system_lock:
                _system_fonts[key] = font
        if font is not None and code in font.cmap:
            return font
    return None
