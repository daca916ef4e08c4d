"""PNG output: size, where fields land, alignment anchors, QR readability, the TEST mark."""

from __future__ import annotations

import io
import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from akowe.rendering import CertificateData, TemplateSpec, render_png
from akowe.rendering.fonts import load
from tests.npm import require_node
from tests.rendering.factories import URL, field, flat_background


def image(png: bytes) -> Image.Image:
    """Decode a PNG into RGB."""
    return Image.open(io.BytesIO(png)).convert("RGB")


def ink_box(png: bytes) -> tuple[int, int, int, int]:
    """Bounding box of everything that is not white."""
    box = ImageChops.invert(image(png)).convert("L").point(lambda v: 255 if v > 40 else 0).getbbox()
    assert box is not None
    return box


def test_png_has_the_requested_width_and_keeps_the_aspect_ratio(
    jpeg_template: TemplateSpec, data: CertificateData
) -> None:
    assert image(render_png(jpeg_template, data, width=800)).size == (800, 566)
    assert image(render_png(jpeg_template, data)).size == (1600, 1131)


def test_fields_change_pixels_only_where_they_sit(
    jpeg_template: TemplateSpec, data: CertificateData
) -> None:
    bare = replace(jpeg_template, fields=())
    diff = ImageChops.difference(
        image(render_png(jpeg_template, data)), image(render_png(bare, data))
    ).convert("L")
    name_area = diff.crop((400, 640, 1200, 760))  # name: centred at 50 %, 38 % (y 430 px)
    assert name_area.getbbox() is not None
    assert diff.crop((0, 0, 1600, 300)).getbbox() is None  # nothing is placed up there


def test_qr_code_decodes_to_the_verification_url(
    jpeg_template: TemplateSpec, data: CertificateData
) -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    codes = zxingcpp.read_barcodes(image(render_png(jpeg_template, data)))
    assert [c.text for c in codes] == [URL]


def test_very_long_url_still_gets_a_readable_qr_code(data: CertificateData) -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    url = "https://verify.akowe.example/c/" + "x" * 400
    template = TemplateSpec("long-qr:1", 800, 800, flat_background(800, 800), ())
    template = replace(template, fields=(field("qr", "qr", font_size=600),))
    codes = zxingcpp.read_barcodes(image(render_png(template, replace(data, verification_url=url))))
    assert [c.text for c in codes] == [url]


def test_test_mode_visibly_marks_the_png(
    jpeg_template: TemplateSpec, data: CertificateData
) -> None:
    plain = image(render_png(jpeg_template, data, width=400))
    marked = image(render_png(jpeg_template, replace(data, test_mode=True), width=400))
    diff = ImageChops.difference(plain, marked).convert("L").point(lambda v: 255 if v > 30 else 0)
    changed = diff.histogram()[255]
    assert changed > 0.03 * 400 * 283


@pytest.mark.parametrize("alignment", ["left", "center", "right"])
def test_alignment_puts_that_edge_of_the_text_at_x(data: CertificateData, alignment: str) -> None:
    spec = field("n", "name", font_size=100, x=50, y=50, alignment=alignment)
    template = TemplateSpec("align:1", 1000, 400, flat_background(1000, 400), (spec,))
    left, top, right, bottom = ink_box(render_png(template, replace(data, recipient_name="HIH")))
    # "H" has a small side bearing (under 10 % of the size) between its edge and the pen.
    edge = {"left": left, "center": (left + right) / 2, "right": right}[alignment]
    tolerance = 2 if alignment == "center" else 10
    assert abs(edge - 500) <= tolerance
    # y is the middle of the capital letters.
    assert abs((top + bottom) / 2 - 200) <= 2


def test_cap_height_is_what_centres_the_line(data: CertificateData) -> None:
    font = load("NotoSans-Regular")
    spec = field("n", "name", font_size=100, y=50)
    template = TemplateSpec("cap:1", 1000, 400, flat_background(1000, 400), (spec,))
    _, top, _, bottom = ink_box(render_png(template, replace(data, recipient_name="HIH")))
    assert abs((bottom - top) - 100 * font.cap_height / font.upem) <= 2


def test_transparent_background_is_flattened_on_white(data: CertificateData) -> None:
    source = Image.new("RGBA", (400, 300), (200, 0, 0, 255))
    source.paste((0, 0, 0, 0), (0, 0, 200, 300))  # left half fully transparent
    out = io.BytesIO()
    source.save(out, format="PNG")
    template = TemplateSpec("alpha:1", 400, 300, out.getvalue(), ())
    rendered = image(render_png(template, data))
    assert rendered.getpixel((100, 150)) == (255, 255, 255)
    assert rendered.getpixel((300, 150)) == (200, 0, 0)


WEB_NODE = Path(__file__).parent.parent / "web"


def _jsqr(tmp_path: Path, pictures: list[Image.Image]) -> list[str | None]:
    """Decode with jsQR from npm: a decoder independent of zxing-cpp, which draws the codes."""
    node = require_node(WEB_NODE / "node_modules" / "jsqr", "independent (npm) QR decoder")
    listed = []
    for number, picture in enumerate(pictures):
        path = tmp_path / f"{number}.rgba"
        path.write_bytes(picture.convert("RGBA").tobytes())
        listed.append({"path": str(path), "width": picture.width, "height": picture.height})
    (tmp_path / "images.json").write_text(json.dumps(listed))
    done = subprocess.run(
        [node, str(WEB_NODE / "decode_qr.mjs"), str(tmp_path / "images.json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    texts: list[str | None] = json.loads(done.stdout)
    return texts


def test_an_independent_decoder_reads_every_qr_code_as_its_url(
    tmp_path: Path, jpeg_template: TemplateSpec, data: CertificateData
) -> None:
    long_url = "https://verify.akowe.example/c/" + "x" * 400
    square = TemplateSpec("long-qr:1", 800, 800, flat_background(800, 800), ())
    square = replace(square, fields=(field("qr", "qr", font_size=600),))
    ids = [f"{n:08x}-1c2d-4e5f-8a9b-{n:012x}" for n in (1, 977, 65_535)]
    urls = [f"https://verify.akowe.example/verify/{i}" for i in ids]
    pictures = [image(render_png(jpeg_template, replace(data, verification_url=u))) for u in urls]
    pictures.append(image(render_png(square, replace(data, verification_url=long_url))))
    assert _jsqr(tmp_path, pictures) == [*urls, long_url]
