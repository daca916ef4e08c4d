"""Images made in memory for upload tests, and helpers to send them."""

from __future__ import annotations

import base64
import io
import os
import struct
import zlib
from functools import cache

from PIL import Image

SVG_LOGO = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<rect width="10" height="10" fill="#123456"/></svg>'
)


def image_bytes(
    width: int = 40, height: int = 20, fmt: str = "PNG", color: str = "#3366cc"
) -> bytes:
    """A flat image of the given size and format."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, fmt)
    return buf.getvalue()


def noise_image(width: int, height: int, fmt: str, **save: object) -> bytes:
    """An incompressible (random noise) image: large files from small sizes."""
    buf = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(buf, fmt, **save)
    return buf.getvalue()


@cache
def jpeg_4mb() -> bytes:
    """A real JPEG of at least 4 MB (2260x1598 noise at quality 95)."""
    data = noise_image(2260, 1598, "JPEG", quality=95)
    assert 4_000_000 <= len(data) <= 10 * 1024 * 1024, len(data)
    return data


@cache
def png_1600x1131() -> bytes:
    """A 1600x1131 PNG with some texture."""
    img = Image.new("RGB", (1600, 1131), "#f4efe1")
    img.paste(Image.frombytes("RGB", (400, 300), os.urandom(400 * 300 * 3)), (600, 400))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims `width`x`height` (a decompression-bomb shape)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def data_uri(data: bytes, media_type: str = "image/png") -> str:
    """`data:<type>;base64,<data>`."""
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def b64(data: bytes) -> str:
    """Bare base64."""
    return base64.b64encode(data).decode()
