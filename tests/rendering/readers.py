"""Real PDF readers: poppler's pdftotext and MuPDF's mutool, as subprocesses; glyph checks."""

from __future__ import annotations

import io
import re
import subprocess
import tempfile
import unicodedata
from pathlib import Path

import pikepdf

# Bidi formatting characters: poppler wraps right-to-left text in embeddings (U+202A-U+202E)
# and the renderer's ActualText may start with a right-to-left mark; none is visible text.
_BIDI_FORMATTING = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def normalized(text: str) -> str:
    """NFC, bidi formatting characters removed, outer whitespace stripped."""
    return unicodedata.normalize("NFC", _BIDI_FORMATTING.sub("", text)).strip()


def _run(args: list[str], pdf: bytes) -> bytes:
    """Run a reader on the PDF saved as a file; `{}` in `args` stands for its path."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "certificate.pdf"
        path.write_bytes(pdf)
        command = [str(path) if arg == "{}" else arg for arg in args]
        done = subprocess.run(command, capture_output=True, timeout=60, check=True)
    return done.stdout


def pdftotext(pdf: bytes) -> list[str]:
    """Non-empty lines poppler's pdftotext (reading order) extracts, normalized."""
    out = _run(["pdftotext", "-enc", "UTF-8", "{}", "-"], pdf).decode("utf-8")
    return [normalized(line) for line in out.splitlines() if line.strip()]


def mutool_text(pdf: bytes) -> list[str]:
    """Non-empty lines MuPDF's `mutool draw -F txt` extracts, normalized.

    MuPDF 1.21 writes characters outside the BMP that share one ToUnicode entry with others
    (an emoji ZWJ sequence drawn as one glyph) as UTF-8-encoded surrogate halves (CESU-8);
    they are paired again here, which changes no character.
    """
    out = _run(["mutool", "draw", "-q", "-F", "txt", "{}"], pdf)
    text = out.decode("utf-8", "surrogatepass").encode("utf-16", "surrogatepass").decode("utf-16")
    return [normalized(line) for line in text.splitlines() if line.strip()]


def drawn_glyph_ids(pdf: bytes) -> dict[str, list[int]]:
    """Glyph ids (in each embedded subset font) of every glyph the page's text operators show."""
    found: dict[str, list[int]] = {}
    with pikepdf.open(io.BytesIO(pdf)) as document:
        page = document.pages[0]
        fonts = page.Resources.Font
        maps = {}
        for key, font in fonts.items():
            descendant = font.DescendantFonts[0]
            cid_to_gid = descendant.CIDToGIDMap.read_bytes()
            maps[key] = (str(font.BaseFont), cid_to_gid)
        current = None
        for operands, operator in pikepdf.parse_content_stream(page):
            op = str(operator)
            if op == "Tf":
                current = str(operands[0])
            elif op in ("TJ", "Tj") and current is not None:
                name, cid_to_gid = maps[current]
                items = operands[0] if op == "TJ" else [operands[0]]
                for item in items:
                    if isinstance(item, pikepdf.String):
                        raw = bytes(item)
                        for i in range(0, len(raw), 2):
                            code = int.from_bytes(raw[i : i + 2], "big")
                            gid = int.from_bytes(cid_to_gid[2 * code : 2 * code + 2], "big")
                            found.setdefault(name, []).append(gid)
    return found
