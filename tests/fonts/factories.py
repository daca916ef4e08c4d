"""Font files made from the bundled fonts for upload tests (real fonts, renamed with fontTools)."""

from __future__ import annotations

import io
from functools import cache
from importlib import resources
from typing import Any

import httpx
from fontTools.ttLib import TTFont


@cache
def bundled(stem: str) -> bytes:
    """A bundled font file's bytes."""
    return (resources.files("akowe.rendering") / "fonts" / f"{stem}.ttf").read_bytes()


def font_file(stem: str = "NotoSerif-Italic", family: str = "Great Vibes", **os2: int) -> bytes:
    """A bundled font renamed to `family`, with OS/2 attributes (e.g. fsType) overridden."""
    font = TTFont(io.BytesIO(bundled(stem)))
    style = font["name"].getBestSubFamilyName()
    for record in font["name"].names:
        if record.nameID in (1, 16):
            record.string = family
        elif record.nameID == 4:
            record.string = f"{family} {style}"
        elif record.nameID == 6:
            record.string = f"{family.replace(' ', '')}-{style.replace(' ', '')}"
    for name, value in os2.items():
        setattr(font["OS/2"], name, value)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def upload(
    client: httpx.Client, headers: dict[str, str], data: bytes, name: str = "font.ttf"
) -> httpx.Response:
    """POST /api/fonts as multipart with one `file` part."""
    return client.post("/api/fonts", headers=headers, files={"file": (name, data, "font/ttf")})


def uploaded(client: httpx.Client, headers: dict[str, str], data: bytes) -> dict[str, Any]:
    """Upload a font that must be accepted; its answer's data."""
    response = upload(client, headers, data)
    assert response.status_code in (200, 201), response.text
    return response.json()["data"]  # type: ignore[no-any-return]
