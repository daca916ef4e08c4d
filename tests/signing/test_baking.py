"""Open Badges 3.0 baked PNGs."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from akowe.signing import bake, extract_credential_from_png, unbake
from akowe.signing.exceptions import InvalidImage
from tests.signing.conftest import Issuer


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 20), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def test_baked_png_carries_the_credential_in_an_itxt_chunk_pillow_can_read(
    issuer: Issuer,
) -> None:
    credential = issuer.signed()
    baked = bake(_png(), credential)

    assert extract_credential_from_png(baked) == credential
    with Image.open(io.BytesIO(baked)) as image:
        image.load()
        assert json.loads(image.text["openbadgecredential"]) == credential
        assert image.size == (40, 20)


def test_baking_keeps_the_image_bytes_and_puts_the_chunk_before_iend(issuer: Issuer) -> None:
    original = _png()
    baked = bake(original, issuer.signed())

    assert baked.startswith(original[: original.rindex(b"IEND") - 4])
    assert baked.endswith(original[original.rindex(b"IEND") - 4 :])
    assert baked.index(b"iTXtopenbadgecredential") < baked.index(b"IEND")


def test_baking_again_replaces_the_earlier_credential(issuer: Issuer) -> None:
    first = bake(_png(), {"id": "first"})
    second = bake(first, {"id": "second"})

    assert second.count(b"openbadgecredential") == 1
    assert json.loads(unbake(second) or "") == {"id": "second"}


def test_a_png_without_a_credential_has_none() -> None:
    assert extract_credential_from_png(_png()) is None


def test_non_png_and_damaged_png_are_refused() -> None:
    with pytest.raises(InvalidImage, match="not a PNG"):
        bake(b"GIF89a", {})
    damaged = bytearray(_png())
    damaged[20] ^= 0xFF
    with pytest.raises(InvalidImage, match="CRC"):
        unbake(bytes(damaged))
