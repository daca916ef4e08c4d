"""Background images, encoded into a PDF image object once per template version and reused."""

from __future__ import annotations

import io
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image, ImageOps

# Larger sources are downscaled to this multiple of the page size (plenty for print).
_MAX_SCALE = 2.0
# A JPEG at most this big is embedded byte for byte; larger ones are re-encoded once.
_JPEG_PASSTHROUGH_BYTES = 400_000
_JPEG_QUALITY = 85
# Lossless (Flate) is kept when it is not much bigger than the JPEG: flat designs stay crisp.
_LOSSLESS_RATIO = 1.5
_MAX_FLAT_COLORS = 65_536
_CACHE_SIZE = 32

_cache: OrderedDict[str, bytes] = OrderedDict()
_lock = threading.Lock()


def image_object(key: str, data: bytes, width: int, height: int) -> bytes:
    """Return the PDF image object (dictionary and stream) of a background, cached by `key`."""
    with _lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    encoded = _encode(data, width, height)
    with _lock:
        _cache[key] = encoded
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return encoded


def _stream(entries: str, payload: bytes) -> bytes:
    head = f"<</Type/XObject/Subtype/Image/BitsPerComponent 8{entries}/Length {len(payload)}>>"
    return head.encode("ascii") + b"stream\n" + payload + b"\nendstream"


def _encode(data: bytes, page_width: int, page_height: int) -> bytes:
    # Not `with Image.open(...)`: closing would discard the pixels, and exif_transpose copies
    # even an upright image (60 MB more for the largest design allowed).
    source = Image.open(io.BytesIO(data))
    limit = (round(page_width * _MAX_SCALE), round(page_height * _MAX_SCALE))
    fits = source.width <= limit[0] and source.height <= limit[1]
    upright = source.getexif().get(0x0112, 1) == 1  # EXIF orientation
    small = len(data) <= _JPEG_PASSTHROUGH_BYTES
    if source.format == "JPEG" and source.mode in ("RGB", "L") and fits and upright and small:
        return _jpeg_object(data, source.width, source.height, source.mode)
    image = source if upright else ImageOps.exif_transpose(source)
    image.load()
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.new("RGB", rgba.size, "white")
        image.paste(rgba, mask=rgba.getchannel("A"))
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    image.thumbnail(limit, Image.Resampling.LANCZOS)
    jpeg = io.BytesIO()
    image.save(jpeg, format="JPEG", quality=_JPEG_QUALITY, optimize=True)
    # A photo has far more colours than a flat design and never wins losslessly; skipping
    # the PNG attempt saves over a second of one-time work for a 1600x1131 photo.
    if image.getcolors(_MAX_FLAT_COLORS) is None:
        return _jpeg_object(jpeg.getvalue(), image.width, image.height, image.mode)
    lossless = _png_idat(image)
    if len(lossless) <= _LOSSLESS_RATIO * jpeg.tell():
        colors = 3 if image.mode == "RGB" else 1
        space = "/DeviceRGB" if colors == 3 else "/DeviceGray"
        params = f"/DecodeParms<</Predictor 15/Colors {colors}/Columns {image.width}>>"
        entries = f"/Width {image.width}/Height {image.height}/ColorSpace{space}/Filter/FlateDecode"
        return _stream(entries + params, lossless)
    return _jpeg_object(jpeg.getvalue(), image.width, image.height, image.mode)


def _png_idat(image: Image.Image) -> bytes:
    """Return the zlib data of a PNG encoding, which PDF's Flate predictor 15 reads as it is."""
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=9)
    png = out.getvalue()
    chunks = []
    pos = 8
    while pos < len(png):
        (length,) = struct.unpack_from(">I", png, pos)
        if png[pos + 4 : pos + 8] == b"IDAT":
            chunks.append(png[pos + 8 : pos + 8 + length])
        pos += length + 12
    return b"".join(chunks)


def _jpeg_object(data: bytes, width: int, height: int, mode: str) -> bytes:
    space = "/DeviceRGB" if mode == "RGB" else "/DeviceGray"
    return _stream(f"/Width {width}/Height {height}/ColorSpace{space}/Filter/DCTDecode", data)


@dataclass(frozen=True, slots=True)
class Picture:
    """A small image (a logo) as a PDF image object, with its alpha as a soft mask object."""

    image: bytes
    mask: bytes | None
    width: int
    height: int


_pictures: OrderedDict[tuple[str, tuple[int, int]], Picture] = OrderedDict()


def logo_object(key: str, data: bytes, box: tuple[int, int]) -> Picture:
    """Return a logo (PNG or JPEG) as a PDF image, at most twice `box` in pixels, cached."""
    cache_key = (key, box)
    with _lock:
        cached = _pictures.get(cache_key)
        if cached is not None:
            _pictures.move_to_end(cache_key)
            return cached
    try:
        with Image.open(io.BytesIO(data)) as source:
            if source.format not in ("PNG", "JPEG"):
                raise ValueError(f"logo must be PNG or JPEG, got {source.format}")
            image = ImageOps.exif_transpose(source)
            image.load()
    except (OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"logo is not a readable image: {exc}") from exc
    image.thumbnail((box[0] * 2, box[1] * 2), Image.Resampling.LANCZOS)
    mask = None
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        alpha = rgba.getchannel("A")
        image = rgba.convert("RGB")
        if alpha.getextrema() != (255, 255):
            mask = _flate_image(alpha, "/DeviceGray")
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    space = "/DeviceRGB" if image.mode == "RGB" else "/DeviceGray"
    picture = Picture(_flate_image(image, space), mask, image.width, image.height)
    with _lock:
        _pictures[cache_key] = picture
        while len(_pictures) > _CACHE_SIZE:
            _pictures.popitem(last=False)
    return picture


def _flate_image(image: Image.Image, space: str) -> bytes:
    colors = 3 if space == "/DeviceRGB" else 1
    params = f"/DecodeParms<</Predictor 15/Colors {colors}/Columns {image.width}>>"
    entries = f"/Width {image.width}/Height {image.height}/ColorSpace{space}/Filter/FlateDecode"
    return _stream(entries + params, _png_idat(image))
