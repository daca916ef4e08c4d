"""QR codes as rows of dark-module runs, ready to draw as vector rectangles.

The symbol is made by zxing-cpp (C++): error correction level M, the smallest version that
holds the URL, the mask chosen by the standard's penalty rules. segno, pure Python, took
1.5 ms a code here even with the version and mask fixed by hand (no mask evaluation), half
of rendering a certificate; zxing-cpp takes 0.3 ms with the full evaluation.
"""

from __future__ import annotations

import re

import zxingcpp

BORDER = 4  # quiet-zone modules drawn in white around the symbol (ISO/IEC 18004 asks 4)
_DARK = re.compile(rb"\x00+")  # the symbol's image: one byte a module, 0 dark, 255 light


def modules(data: str) -> tuple[int, list[tuple[int, int, int]]]:
    """Return the symbol size in modules and its dark runs as (column, row, length)."""
    code = zxingcpp.create_barcode(data, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    # The image supports the buffer protocol; the package's stubs do not say so.
    image = memoryview(code.to_image(scale=1, add_quiet_zones=False))  # type: ignore[arg-type]
    size = image.shape[0] if image.shape else 0
    pixels = image.tobytes()
    runs = []
    for row in range(size):
        start = row * size
        for dark in _DARK.finditer(pixels, start, start + size):
            runs.append((dark.start() - start, row, dark.end() - dark.start()))
    return size, runs
