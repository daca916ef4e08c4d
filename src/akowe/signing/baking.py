"""Open Badges 3.0 baked images: the credential in a PNG `iTXt` chunk named `openbadgecredential`.

A small PNG chunk reader/writer, written here because Pillow can only add text chunks while
re-encoding the whole image (slow, and it changes the image bytes) and cannot remove one; this
keeps every other chunk byte for byte, drops any earlier `openbadgecredential` chunk, and puts
the new one just before `IEND`. The chunk is uncompressed (compression flag 0), with empty
language tag and translated keyword, and the credential as UTF-8 JSON, as OB 3.0 section 5.3
("Baking") describes.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator, Mapping
from typing import Any, Final

from akowe.signing.exceptions import InvalidImage, SigningInputError

PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
KEYWORD: Final = b"openbadgecredential"
MAX_CHUNK_BYTES: Final = 2**31 - 1


def bake(png: bytes, credential: Mapping[str, Any] | str, *, keyword: bytes = KEYWORD) -> bytes:
    """The PNG with `credential` in an `openbadgecredential` iTXt chunk (replacing any old one).

    Another `keyword` bakes another JSON document the same way (akowe bakes the issuer's DID
    document as `diddocument`, so the image verifies offline).
    """
    text = credential if isinstance(credential, str) else json.dumps(credential, ensure_ascii=False)
    payload = keyword + b"\x00" + b"\x00\x00" + b"\x00" + b"\x00" + text.encode("utf-8")
    out = [PNG_SIGNATURE]
    seen_end = False
    for chunk_type, data in _chunks(png):
        if chunk_type == b"iTXt" and _is_chunk(data, keyword):
            continue
        if chunk_type == b"IEND":
            out.append(_chunk(b"iTXt", payload))
            seen_end = True
        out.append(_chunk(chunk_type, data))
    if not seen_end:
        raise InvalidImage("The PNG has no IEND chunk.")
    return b"".join(out)


def unbake(png: bytes, *, keyword: bytes = KEYWORD) -> str | None:
    """The text of the PNG's `openbadgecredential` (or `keyword`) iTXt chunk, or None."""
    for chunk_type, data in _chunks(png):
        if chunk_type == b"iTXt" and _is_chunk(data, keyword):
            return _itxt_text(data)
    return None


def extract_credential_from_png(png: bytes) -> dict[str, Any] | None:
    """The baked credential as JSON, or None if the PNG carries none."""
    text = unbake(png)
    if text is None:
        return None
    try:
        credential = json.loads(text)
    except json.JSONDecodeError as error:
        raise SigningInputError(
            "The baked credential is not JSON (a JWT is not supported)."
        ) from error
    if not isinstance(credential, dict):
        raise SigningInputError("The baked credential is not a JSON object.")
    return credential


def _chunks(png: bytes) -> Iterator[tuple[bytes, bytes]]:
    if not png.startswith(PNG_SIGNATURE):
        raise InvalidImage("The file is not a PNG image.")
    position = len(PNG_SIGNATURE)
    while position < len(png):
        if position + 8 > len(png):
            raise InvalidImage("The PNG is truncated.")
        length, chunk_type = struct.unpack(">I4s", png[position : position + 8])
        end = position + 12 + length
        if length > MAX_CHUNK_BYTES or end > len(png):
            raise InvalidImage("The PNG is truncated.")
        data = png[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", png[position + 8 + length : end])
        if zlib.crc32(chunk_type + data) != crc:
            raise InvalidImage(f"The PNG's {chunk_type!r} chunk is damaged (CRC mismatch).")
        yield chunk_type, data
        position = end
        if chunk_type == b"IEND":
            return


def _chunk(chunk_type: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I4s", len(data), chunk_type)
        + data
        + struct.pack(">I", zlib.crc32(chunk_type + data))
    )


def _is_chunk(data: bytes, keyword: bytes) -> bool:
    return data.split(b"\x00", 1)[0] == keyword


def _itxt_text(data: bytes) -> str:
    try:
        _keyword, rest = data.split(b"\x00", 1)
        compressed, _method = rest[0], rest[1]
        _language, rest = rest[2:].split(b"\x00", 1)
        _translated, text = rest.split(b"\x00", 1)
        if compressed:
            text = zlib.decompressobj().decompress(text, 16 * 1024 * 1024)
        return text.decode("utf-8")
    except (ValueError, IndexError, zlib.error, UnicodeDecodeError) as error:
        raise InvalidImage("The PNG's openbadgecredential chunk is malformed.") from error
