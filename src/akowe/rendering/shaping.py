"""Turn a string into positioned glyph runs: bidi order, font fallback, HarfBuzz shaping."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import uharfbuzz as hb  # type: ignore[import-untyped]

from akowe.rendering.fonts import FontChoice

# Characters that belong to whichever script surrounds them (spaces, punctuation, marks).
_STICKY = frozenset(("Mn", "Mc", "Me", "Cf", "Zs", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po"))


@dataclass(frozen=True, slots=True)
class Glyph:
    """One shaped glyph; `text` is what it copies as ("" after the first glyph of a cluster)."""

    gid: int
    text: str
    x_offset: int
    y_offset: int
    x_advance: int


@dataclass(frozen=True, slots=True)
class Run:
    """Glyphs of one font in visual (left-to-right) order; units are the font's."""

    choice: FontChoice
    glyphs: tuple[Glyph, ...]
    width: int
    rtl: bool


def _bidi_levels(text: str) -> list[int]:
    """Return simplified bidi embedding levels: enough for names mixing RTL and LTR words."""
    kinds: list[str] = []
    for char in text:
        bidi = unicodedata.bidirectional(char)
        if bidi in ("R", "AL"):
            kinds.append("R")
        elif bidi in ("L", "EN", "AN"):
            kinds.append("L")
        elif bidi == "NSM" and kinds:
            kinds.append(kinds[-1])
        else:
            kinds.append("N")
    base = next((k for k in kinds if k != "N"), "L")
    # Neutrals take the direction of their neighbours when both agree, else the paragraph's.
    i = 0
    while i < len(kinds):
        if kinds[i] != "N":
            i += 1
            continue
        j = i
        while j < len(kinds) and kinds[j] == "N":
            j += 1
        before = kinds[i - 1] if i else base
        after = kinds[j] if j < len(kinds) else base
        kinds[i:j] = [before if before == after else base] * (j - i)
        i = j
    if base == "L":
        return [1 if k == "R" else 0 for k in kinds]
    return [1 if k == "R" else 2 for k in kinds]


def _pick_fonts(text: str, chain: tuple[FontChoice, ...]) -> list[FontChoice]:
    picks: list[FontChoice] = []
    for char in text:
        code = ord(char)
        current = picks[-1] if picks else None
        if current and code in current.font.cmap and unicodedata.category(char) in _STICKY:
            picks.append(current)
            continue
        picks.append(next((c for c in chain if code in c.font.cmap), chain[0]))
    return picks


def _shape(text: str, choice: FontChoice, rtl: bool) -> Run:
    buf = hb.Buffer()
    buf.add_codepoints([ord(c) for c in text])
    buf.direction = "rtl" if rtl else "ltr"
    buf.guess_segment_properties()
    hb.shape(choice.font.hb_font, buf, {})
    starts = sorted({info.cluster for info in buf.glyph_infos})
    ends = dict(zip(starts, [*starts[1:], len(text)], strict=True))
    seen: set[int] = set()
    glyphs = []
    for info, pos in zip(buf.glyph_infos, buf.glyph_positions, strict=True):
        cluster = info.cluster
        label = "" if cluster in seen else text[cluster : ends[cluster]]
        seen.add(cluster)
        glyphs.append(Glyph(info.codepoint, label, pos.x_offset, pos.y_offset, pos.x_advance))
    return Run(choice, tuple(glyphs), sum(g.x_advance for g in glyphs), rtl)


def layout(text: str, chain: tuple[FontChoice, ...]) -> list[Run]:
    """Shape one line of text into runs in visual order."""
    if not text:
        return []
    levels = _bidi_levels(text)
    picks = _pick_fonts(text, chain)
    items: list[tuple[int, FontChoice, str]] = []
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or levels[i] != levels[start] or picks[i] is not picks[start]:
            items.append((levels[start], picks[start], text[start:i]))
            start = i
    # Rule L2 of the bidi algorithm, applied to whole items: their insides are shaped in order.
    for level in range(max(levels), 0, -1):
        i = 0
        while i < len(items):
            if items[i][0] < level:
                i += 1
                continue
            j = i
            while j < len(items) and items[j][0] >= level:
                j += 1
            items[i:j] = items[i:j][::-1]
            i = j
    return [_shape(chunk, choice, level % 2 == 1) for level, choice, chunk in items]
