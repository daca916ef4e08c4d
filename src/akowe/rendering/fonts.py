"""Bundled fonts and the fallback chain that lets any field cover any script."""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from importlib import resources

import uharfbuzz as hb  # type: ignore[import-untyped]

DEFAULT_FAMILY = "noto sans"

# Faces per family: regular, bold, italic, bold italic (file stems under fonts/).
_FAMILIES: dict[str, tuple[str, str, str, str]] = {
    "noto sans": ("NotoSans-Regular", "NotoSans-Bold", "NotoSans-Italic", "NotoSans-BoldItalic"),
    "noto serif": (
        "NotoSerif-Regular",
        "NotoSerif-Bold",
        "NotoSerif-Italic",
        "NotoSerif-BoldItalic",
    ),
}

# Common names a template designer may pick, mapped to the closest bundled family.
_ALIASES: dict[str, str] = {
    **dict.fromkeys(
        ("sans", "sans-serif", "arial", "helvetica", "inter", "roboto", "open sans", "noto"),
        "noto sans",
    ),
    **dict.fromkeys(
        ("serif", "times", "times new roman", "georgia", "garamond", "playfair display"),
        "noto serif",
    ),
}

# Per-script fallbacks after the Latin default: (regular, bold or None), tried in order.
_SCRIPT_FALLBACKS: tuple[tuple[str, str | None], ...] = (
    ("NotoSansArabic-Regular", "NotoSansArabic-Bold"),
    ("NotoSansHebrew-Regular", "NotoSansHebrew-Bold"),
    ("NotoSansDevanagari-Regular", "NotoSansDevanagari-Bold"),
    ("NotoSansBengali-Regular", "NotoSansBengali-Bold"),
    ("NotoSansTamil-Regular", "NotoSansTamil-Bold"),
    ("NotoSansThai-Regular", "NotoSansThai-Bold"),
    # Chinese, Japanese and Korean (Hangul) in one TrueType font.
    ("DroidSansFallback", None),
)

# A PDF CID font needs only outlines and metrics; shaping already happened.
_SUBSET_DROP_TABLES = (
    *("GSUB", "GPOS", "GDEF", "BASE", "JSTF", "name", "post", "cmap", "OS/2"),
    *("vhea", "vmtx", "gasp", "kern", "morx", "meta", "STAT"),
)


def _tag(name: str) -> int:
    return int.from_bytes(name.encode("ascii"), "big")


class Font:
    """A loaded font file: shaping font, cmap coverage, metrics and a subsetter."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        face = hb.Face(hb.Blob(data))
        self.hb_font = hb.Font(face)
        self.upem: int = face.upem
        self.cmap: frozenset[int] = frozenset(face.unicodes)
        # Preprocessing once makes every later subset of this face several times faster.
        self._subset_face = hb.subset_preprocess(face)
        head = face.reference_table("head").data
        self.bbox: tuple[int, int, int, int] = struct.unpack_from(">4h", head, 36)
        extents = self.hb_font.get_font_extents("ltr")
        self.ascent: int = extents.ascender
        self.descent: int = extents.descender
        cap = self.hb_font.get_metric_position(hb.OTMetricsTag.CAP_HEIGHT)
        self.cap_height: int = cap if cap else round(self.ascent * 0.7)

    def advance(self, gid: int) -> int:
        """Return the nominal advance width of a glyph in font units."""
        return int(self.hb_font.get_glyph_h_advance(gid))

    def subset(self, gids: set[int]) -> tuple[bytes, dict[int, int]]:
        """Return a TrueType subset holding `gids` (and components) and the old-to-new glyph map."""
        spec = hb.SubsetInput()
        spec.glyph_set.update(sorted(gids))
        spec.flags = hb.SubsetFlags.NO_HINTING | hb.SubsetFlags.NO_LAYOUT_CLOSURE
        for name in _SUBSET_DROP_TABLES:
            spec.drop_table_tag_set.add(_tag(name))
        plan = hb.SubsetPlan(self._subset_face, spec)
        mapping = {int(old): int(new) for old, new in plan.old_to_new_glyph_mapping.items()}
        return bytes(plan.execute().blob.data), mapping


@dataclass(frozen=True, slots=True)
class FontChoice:
    """A font plus the styles that must be synthesized because the font lacks that face."""

    font: Font
    fake_bold: bool
    fake_italic: bool


@functools.cache
def load(name: str) -> Font:
    """Load a bundled font by file stem (read once per process)."""
    data = (resources.files(__package__) / "fonts" / f"{name}.ttf").read_bytes()
    return Font(name, data)


def resolve_family(family: str) -> str:
    """Map a requested family name to a bundled family, defaulting to Noto Sans."""
    key = " ".join(family.lower().replace("_", " ").split())
    if key in _FAMILIES:
        return key
    return _ALIASES.get(key, DEFAULT_FAMILY)


@functools.cache
def chain(family: str, bold: bool, italic: bool) -> tuple[FontChoice, ...]:
    """Fonts to try in order for a field: its family, the Latin default, then script fallbacks."""
    style = int(bold) + 2 * int(italic)
    families = dict.fromkeys((resolve_family(family), DEFAULT_FAMILY))
    choices = [FontChoice(load(_FAMILIES[f][style]), False, False) for f in families]
    for regular, bold_face in _SCRIPT_FALLBACKS:
        name = bold_face if bold and bold_face else regular
        choices.append(FontChoice(load(name), bold and bold_face is None, italic))
    return tuple(choices)
