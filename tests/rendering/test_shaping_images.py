"""Shaping regression images: fixed strings rasterised and compared with reference PNGs.

Any change to shaping, bidi, fallback fonts or glyph placement changes pixels here. To accept
a deliberate change, regenerate the references and review them before committing:

    AKOWE_REGENERATE_REFERENCES=1 .venv/bin/pytest tests/rendering/test_shaping_images.py
"""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from akowe.rendering import CertificateData, TemplateSpec, render_png
from tests.rendering.factories import field, flat_background

REFERENCES = Path(__file__).parent / "references"
REGENERATE = os.environ.get("AKOWE_REGENERATE_REFERENCES") == "1"
# Anti-aliasing may differ between PDFium builds: a pixel counts as changed past this
# difference, and the image as changed past this share of changed pixels.
PIXEL_TOLERANCE = 48
CHANGED_SHARE = 0.004

STRINGS = {
    "yoruba": "Adéwálé Ògúnlẹ̀",
    "arabic": "مُحَمَّد عبد الله",
    "hebrew": "דָּוִד לוי 3%",
    "devanagari": "अर्जुन शर्मा",
    "bengali": "সৌমিত্র চট্টোপাধ্যায়",
    "tamil": "கொண்டல் கோபி",
    "thai": "สมชาย น้ำใจ",
    "khmer": "សុខ ចាន់ណា",
    "myanmar": "အောင်ဆန်းစုကြည်",
    "ethiopic": "አበበ ቢቂላ",
    "tibetan": "བསྟན་འཛིན་རྒྱ་མཚོ",
    "japanese": "直樹 骨 角 さくら",
    "chinese": "直樹 骨 角 王小明",
    "korean": "김민준",
    "emoji": "Ada 🎓 👩🏾‍🎓",
    "mixed": "Dr. محمد 2 (A+)",
}


def render(name: str) -> Image.Image:
    """One string drawn at 48 px on white, 900x120, as RGB."""
    spec = field("n", "name", font_size=48, width=96)
    language = "zh-Hans" if name == "chinese" else "ja" if name == "japanese" else None
    template = TemplateSpec(
        "shape",
        900,
        120,
        flat_background(8, 8),
        (spec,),
        page_size=(190.5, 25.4),
        language=language,
    )
    data = CertificateData("C", STRINGS[name], datetime(2026, 1, 1, tzinfo=UTC), {}, "https://v")
    return Image.open(io.BytesIO(render_png(template, data))).convert("RGB")


@pytest.mark.parametrize("name", sorted(STRINGS))
def test_shaped_string_matches_its_reference_image(name: str) -> None:
    image = render(name)
    path = REFERENCES / f"{name}.png"
    if REGENERATE or not path.exists():
        if not REGENERATE:
            pytest.fail(f"no reference {path.name}; regenerate with AKOWE_REGENERATE_REFERENCES=1")
        image.save(path, optimize=True)
        return
    reference = Image.open(path).convert("RGB")
    assert image.size == reference.size
    diff = ImageChops.difference(image, reference).convert("L")
    changed = diff.point(lambda v: 255 if v > PIXEL_TOLERANCE else 0).histogram()[255]
    share = changed / (image.width * image.height)
    assert share <= CHANGED_SHARE, f"{name}: {share:.2%} of pixels changed"
