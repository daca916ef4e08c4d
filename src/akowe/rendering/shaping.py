"""Turn a string into positioned glyph runs: bidi order, font fallback, HarfBuzz shaping.

Bidi levels come from python-bidi (the Rust `unicode-bidi` crate, a full implementation of
UAX #9 including isolates and bracket pairs). Each run is shaped by HarfBuzz with
character-level clusters, so marks keep their own glyph-to-character link, and each glyph is
told the text it stands for in the order the PDF writer draws it (see `Glyph`).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import uharfbuzz as hb  # type: ignore[import-untyped]
from bidi import get_display  # type: ignore[import-untyped]

from akowe.rendering.fonts import Font, FontChoice, is_ignorable, system_font

# Characters that belong to whichever script surrounds them (spaces, punctuation, marks).
_STICKY = frozenset(("Mn", "Mc", "Me", "Cf", "Zs", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po"))
# Bidi classes that make a paragraph need the full algorithm; without them every level is 0.
_RTL_CLASSES = frozenset(("R", "AL", "AN", "RLE", "RLO", "RLI", "FSI", "LRE", "LRO", "LRI"))
# Below the Hebrew block no character has one of those classes (the first is U+05BE), none is
# kana, Hangul or CJK: text all below it is laid out left to right, language as given.
_FIRST_BIDI = "\u0590"
_LEVELS = re.compile(r"levels: \[(.*?)\n    \]", re.DOTALL)
_LEVEL = re.compile(r"Level\(\s*(\d+),?\s*\)")
_OVERLAP_EM = 0.15
_MAX_PERMUTED = 6  # glyphs in a group whose drawing orders are all tried (720 at most)


class Glyph(NamedTuple):
    """One shaped glyph, in drawing order (a named tuple: a line makes one per glyph, and a
    frozen dataclass took three times as long to make, a fifth of shaping a name).

    `x` is where its origin sits from the start of the run (offset included), `text` what it
    copies as. A group of glyphs whose characters cannot be split one to one (conjuncts,
    split vowels) starts with `actual` (the group's text) and `span` (its glyph count): the
    writer wraps it in an ActualText span, and still gives each glyph some of the characters
    so that readers ignoring ActualText copy the same string.
    """

    gid: int
    text: str
    x: int
    y_offset: int
    actual: str | None = None
    span: int = 0


class _Shaped(NamedTuple):
    """HarfBuzz's output for one run, read once: glyph ids, cluster indexes, (x, y) offsets
    and pen positions (one more than glyphs), in visual left-to-right order."""

    text: str
    font: Font
    rtl: bool
    gids: list[int]
    clusters: list[int]
    offsets: list[tuple[int, int]]
    pens: list[int]


class Run:
    """Glyphs of one font, drawn in logical order at visual positions; units are the font's.

    The width is known once HarfBuzz has shaped the run; the glyphs (which characters each one
    copies as, in which drawing order) are worked out when first read. Checking that a value
    fits needs the width alone, and that is most of what a bulk job's check does per row.
    """

    __slots__ = ("_glyphs", "_shaped", "choice", "rtl", "start", "width")

    def __init__(
        self, choice: FontChoice, shaped: _Shaped, width: int, rtl: bool, start: int = 0
    ) -> None:
        self.choice = choice
        self.width = width
        self.rtl = rtl
        self.start = start  # index in the line's text of the run's first character
        self._shaped = shaped
        self._glyphs: tuple[Glyph, ...] | None = None

    @property
    def glyphs(self) -> tuple[Glyph, ...]:
        """The run's glyphs in drawing order (computed once; the same from any thread)."""
        glyphs = self._glyphs
        if glyphs is None:
            glyphs = self._glyphs = _glyphs(self._shaped)[0]
        return glyphs

    def __repr__(self) -> str:
        return f"Run({self.choice!r}, width={self.width}, rtl={self.rtl}, start={self.start})"


@dataclass(slots=True)
class Line:
    """One shaped line: runs in visual order, plus the characters no font could draw."""

    runs: list[Run]
    missing: list[str] = field(default_factory=list)

    def width(self, size: float) -> float:
        """The advance width of the line at `size` (template pixels)."""
        return sum(run.width * size / run.choice.font.upem for run in self.runs)


def bidi_levels(text: str) -> list[int]:
    """Resolved embedding level of each character (UAX #9, paragraph direction from the text)."""
    if not any(unicodedata.bidirectional(c) in _RTL_CLASSES for c in text):
        return [0] * len(text)
    # python-bidi exposes the resolved levels only in its debug output: one level per UTF-8
    # byte of the text. The format is pinned with the package version (see tests).
    debug = str(get_display(text, debug=True))
    match = _LEVELS.search(debug)
    if match is None:
        raise RuntimeError("python-bidi debug output changed: no levels")
    per_byte = [int(level) for level in _LEVEL.findall(match.group(1))]
    levels = []
    position = 0
    for char in text:
        levels.append(per_byte[position])
        position += len(char.encode("utf-8"))
    if position != len(per_byte):
        raise RuntimeError("python-bidi debug output changed: level count")
    return levels


def guess_language(text: str) -> str | None:
    """A language for CJK glyph forms guessed from kana (Japanese) or Hangul (Korean)."""
    for char in text:
        code = ord(char)
        if 0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF or 0xFF66 <= code <= 0xFF9F:
            return "ja"
        if 0xAC00 <= code <= 0xD7A3 or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F:
            return "ko"
    return None


def shaping_language(text: str, language: str | None) -> str | None:
    """The BCP 47 tag HarfBuzz shapes with: the given one, else kana/Hangul, else Chinese."""
    if language:
        return language
    guessed = guess_language(text)
    if guessed:
        return guessed
    if any(0x3400 <= ord(c) <= 0x9FFF or 0x20000 <= ord(c) <= 0x3FFFF for c in text):
        return "zh-Hans"
    return None


def _pick_fonts(text: str, chain: tuple[FontChoice, ...]) -> tuple[list[FontChoice], list[str]]:
    first = chain[0]
    cmap = first.font.cmap
    if cmap.issuperset(map(ord, text)):
        # The usual case, a name the field's own font draws whole: the loop below would pick
        # it for every character (a sticky one keeps it, any other finds it first).
        return [first] * len(text), []
    picks: list[FontChoice] = []
    missing: list[str] = []
    for char in text:
        code = ord(char)
        current = picks[-1] if picks else None
        if current and unicodedata.category(char) in _STICKY and code in current.font.cmap:
            picks.append(current)
            continue
        choice = next((c for c in chain if code in c.font.cmap), None)
        if choice is None and current is not None and is_ignorable(char):
            choice = current
        if choice is None and not is_ignorable(char):
            found = system_font(code)
            if found is not None:
                # The last bundled fallback has no bold or italic face: it knows what to fake.
                choice = FontChoice(found, chain[-1].fake_bold, chain[-1].fake_italic)
        if choice is None:
            if not is_ignorable(char) and not char.isspace():
                missing.append(char)
            choice = current or first
        picks.append(choice)
    return picks, missing


def _drawing_order(group: list[int], xs: list[int], end: Callable[[int], int]) -> list[int]:
    """Order a group's glyphs so that drawing them leaves no forward gap a reader would copy
    as a space: start at the group's left edge, end at its right edge, no jumps ahead."""
    if len(group) == 1:
        return group
    left = min(xs[i] for i in group)
    right = max(end(i) for i in group)

    def gaps(order: Sequence[int]) -> int:
        total = max(0, xs[order[0]] - left) + max(0, right - end(order[-1]))
        for before, after in itertools.pairwise(order):
            total += max(0, xs[after] - end(before))
        return total

    if len(group) > _MAX_PERMUTED:
        return group
    best = list(group)
    best_gap = gaps(best)
    for order in itertools.permutations(group):
        gap = gaps(order)
        if gap < best_gap:
            best, best_gap = list(order), gap
    return best


def _visual(text: str) -> str:
    """A right-to-left run's text in visual order, for readers that re-run bidi on ActualText.

    Their reordering leaves a leading non-letter (a final vowel mark, reversed to the front)
    where it is; a right-to-left mark before it keeps the whole span right-to-left.
    """
    reversed_text = text[::-1]
    if unicodedata.bidirectional(reversed_text[0]) not in ("R", "AL"):
        return "\u200f" + reversed_text
    return reversed_text


def _texts(cluster_texts: list[str], counts: list[int]) -> tuple[list[str], list[int]]:
    """Split each group's characters over its glyphs in drawing order; mark ActualText groups.

    Returns per-glyph text and, per group, 1 when it needs ActualText. Groups whose glyphs
    outnumber their characters borrow characters from the following clusters.
    """
    texts: list[str] = []
    flags: list[int] = []
    for text, count in zip(cluster_texts, counts, strict=True):
        if count == 1:
            texts.append(text)
            flags.append(0)
            continue
        chars = list(text)
        parts = [chars[i] if i < len(chars) else "" for i in range(count)]
        if len(chars) > count:
            parts[-1] = "".join(chars[count - 1 :])
        texts.extend(parts)
        flags.append(1)
    return texts, flags


def _shape(
    text: str, choice: FontChoice, rtl: bool, language: str | None, start: int
) -> tuple[Run, list[str]]:
    buf = hb.Buffer()
    buf.add_codepoints([ord(c) for c in text])
    buf.direction = "rtl" if rtl else "ltr"
    buf.cluster_level = hb.BufferClusterLevel.MONOTONE_CHARACTERS
    buf.guess_segment_properties()
    if language:
        buf.language = language
    font = choice.font
    hb.shape(font.hb_font, buf, {})
    # HarfBuzz's glyph records read once into lists: every pass over them indexes them, and
    # each attribute read on the records is a call into the extension.
    infos = buf.glyph_infos
    positions = buf.glyph_positions
    gids = [info.codepoint for info in infos]
    shaped = _Shaped(
        text,
        font,
        rtl,
        gids,
        [info.cluster for info in infos],
        [(pos.x_offset, pos.y_offset) for pos in positions],
        [0, *itertools.accumulate(pos.x_advance for pos in positions)],
    )
    run = Run(choice, shaped, shaped.pens[-1], rtl, start)
    if 0 not in gids:
        return run, []  # every character has a glyph: nothing is missing
    # Glyph 0 (.notdef): the characters it stands for come from the glyph grouping.
    glyphs, missing = _glyphs(shaped)
    run._glyphs = glyphs
    return run, missing


def _glyphs(shaped: _Shaped) -> tuple[tuple[Glyph, ...], list[str]]:
    """A shaped run's glyphs in drawing order, each with the text it copies as, and the
    characters drawn with glyph 0 (none unless some glyph is 0)."""
    text, font, rtl, gids, clusters, offsets, pens = shaped
    # Visual x of every glyph, and where its ink reaches, in HarfBuzz's (visual,
    # left-to-right) order.
    xs = [at + x_offset for at, (x_offset, _) in zip(pens, offsets, strict=False)]
    reach = [int(x + font.advance(gid)) for x, gid in zip(xs, gids, strict=True)]
    order = list(range(len(gids)))
    if rtl:
        order.reverse()  # draw in logical order: readers copy text in drawing order
    # Groups of glyphs sharing a cluster, in drawing order, with the characters they stand for.
    starts = sorted(set(clusters))
    ends = dict(zip(starts, [*starts[1:], len(text)], strict=True))
    groups: list[list[int]] = []
    group_text: list[str] = []
    last = -1
    for index in order:
        cluster = clusters[index]
        if cluster != last:
            groups.append([])
            group_text.append(text[cluster : ends[cluster]])
            last = cluster
        groups[-1].append(index)
    # Merge a group with more glyphs than characters into the next one (split vowels), and
    # the last such group into the one before it.
    merged: list[list[int]] = []
    merged_text: list[str] = []
    overlap = font.upem * _OVERLAP_EM
    for indexes, chars in zip(groups, group_text, strict=True):
        # Also merge a cluster drawn back over the previous one (subjoined consonants, vowel
        # signs placed by GPOS): readers would take the overlap for a word or line break.
        overlaps = (
            not rtl
            and merged
            and min(map(xs.__getitem__, indexes))
            < max(map(reach.__getitem__, merged[-1])) - overlap
        )
        if merged and (len(merged[-1]) > len(merged_text[-1]) or overlaps):
            merged[-1].extend(indexes)
            merged_text[-1] += chars
        else:
            merged.append(list(indexes))
            merged_text.append(chars)
    while len(merged) > 1 and len(merged[-1]) > len(merged_text[-1]):
        tail, tail_text = merged.pop(), merged_text.pop()
        merged[-1].extend(tail)
        merged_text[-1] += tail_text
    if not rtl:
        # Inside a group any drawing order copies the same text (characters are shared out in
        # drawing order); ending on the glyph that reaches furthest leaves no false gap before
        # the next cluster, which readers would copy as a space.
        merged = [_drawing_order(group, xs, reach.__getitem__) for group in merged]
    texts, flags = _texts(merged_text, [len(g) for g in merged])
    if rtl:
        # Readers that honour ActualText (poppler, PDFium) take it as visual text and run
        # their own bidi over it: one span per run, with the text in visual order.
        flags = [0] * len(flags)
    glyphs = []
    missing: list[str] = []
    at = 0
    for indexes, chars, flag in zip(merged, merged_text, flags, strict=True):
        for n, index in enumerate(indexes):
            gid = gids[index]
            if gid == 0:
                missing += [c for c in chars if not is_ignorable(c) and not c.isspace()]
            actual = chars if flag and n == 0 else None
            span = len(indexes) if actual is not None else 0
            if rtl and at == 0:
                actual, span = _visual(text), len(gids)
            glyphs.append(Glyph(gid, texts[at], xs[index], offsets[index][1], actual, span))
            at += 1
    return tuple(glyphs), list(dict.fromkeys(missing))


def layout(text: str, chain: tuple[FontChoice, ...], language: str | None = None) -> Line:
    """Shape one line of text into runs in visual order."""
    if not text:
        return Line([])
    if max(text) < _FIRST_BIDI:  # Latin, Greek, Cyrillic... (most names): no bidi, no CJK
        levels = [0] * len(text)
    else:
        levels = bidi_levels(text)
        language = shaping_language(text, language)
    picks, missing = _pick_fonts(text, chain)
    items: list[tuple[int, FontChoice, str, int]] = []
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or levels[i] != levels[start] or picks[i] is not picks[start]:
            items.append((levels[start], picks[start], text[start:i], start))
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
    runs = []
    for level, choice, chunk, offset in items:
        run, lost = _shape(chunk, choice, level % 2 == 1, language, offset)
        runs.append(run)
        missing += lost
    return Line(runs, list(dict.fromkeys(missing)))
