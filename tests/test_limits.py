"""Every size has a limit and every limit a clear 4xx: decoded image pixels (decompression
bombs refused from the header), template dimensions, render widths and pixels, the render
cache's disk budget, the render gate's per-account and queue limits, names on one line,
SVG logos that only draw, and no personal data in database errors or logs."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from PIL import Image

from akowe.api.logging import redact
from akowe.certificates.renders import (
    MAX_RENDER_PIXELS,
    PNG_WIDTHS,
    RenderCache,
    RenderGate,
    png_width,
)
from akowe.config import Settings
from akowe.db.engine import make_engine
from akowe.errors import TooManyRequests, Unavailable
from tests.certificates.conftest import FIELDS, Issuer, make_issuer


def _png(width: int, height: int, mode: str = "RGBA") -> str:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), (255, 255, 255, 255)[: len(mode)]).save(
        buffer, "PNG", optimize=True
    )
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _template(client: httpx.Client, headers: dict[str, str], image: str, w: int, h: int):
    return client.post(
        "/api/templates",
        headers=headers,
        json={
            "name": "T",
            "imageUrl": image,
            "dimensions": {"width": w, "height": h},
            "fields": FIELDS,
        },
    )


@pytest.fixture
def issuer(client: httpx.Client, make_account) -> Issuer:
    return make_issuer(client, make_account(credits=10))


def test_a_decompression_bomb_is_refused_at_template_creation(
    client: httpx.Client, issuer: Issuer
) -> None:
    bomb = _png(7000, 7000)  # about 200 KB that would decode to 196 MB
    assert len(bomb) < 1_000_000
    started = time.monotonic()
    response = _template(client, issuer.headers, bomb, 7000, 7000)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "imageUrl"
    assert "too many pixels (7000x7000; at most 20 million)" in response.json()["message"]
    assert time.monotonic() - started < 2  # refused from the header, never decoded


def test_template_dimensions_have_a_limit(client: httpx.Client, issuer: Issuer) -> None:
    response = _template(client, issuer.headers, _png(100, 100), 20_000, 20_000)
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {
        "dimensions.width",
        "dimensions.height",
    }


def test_png_widths_are_a_fixed_set_within_a_pixel_budget() -> None:
    assert png_width(None, 800, 566) == 800
    assert png_width(300, 800, 566) == 400
    assert png_width(4000, 800, 566) == PNG_WIDTHS[-1]
    assert png_width(None, 10_000, 10_000) == PNG_WIDTHS[-1]
    tall = png_width(2400, 1000, 10_000)
    assert tall * tall * 10 <= MAX_RENDER_PIXELS


def test_a_huge_template_renders_at_a_bounded_size(client: httpx.Client, issuer: Issuer) -> None:
    template = _template(client, issuer.headers, _png(100, 100, "RGB"), 10_000, 10_000)
    assert template.status_code == 201, template.text
    template_id = template.json()["data"]["id"]
    started = time.monotonic()
    for width in (None, 4000, 1000):
        params = {"width": width} if width else {}
        preview = client.get(
            f"/api/templates/{template_id}/preview", params=params, headers=issuer.headers
        )
        assert preview.status_code == 200, preview.text
        with Image.open(io.BytesIO(preview.content)) as image:
            assert image.size[0] in PNG_WIDTHS and image.size[0] * image.size[1] <= 8_000_000
    assert time.monotonic() - started < 30


def test_the_render_cache_keeps_to_its_budget_least_recently_used_first(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path, max_bytes=1000)
    for name in ("a", "b", "c"):
        cache.get_or_render(name, lambda: b"x" * 300)
        past = time.time() - {"a": 30, "b": 20, "c": 10}[name]
        os.utime(tmp_path / name, (past, past))
    assert cache.get_or_render("a", lambda: b"never") == b"x" * 300  # a hit: now the newest
    cache.get_or_render("d", lambda: b"y" * 300)  # 1200 > 1000: evict down to 900
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "c", "d"]


def test_the_render_gate_caps_each_account_and_the_queue() -> None:
    async def scenario() -> None:
        gate = RenderGate(slots=1, per_account=2, queue=2)
        order: list[str] = []
        release = asyncio.Event()

        async def render(account: str, tag: str) -> None:
            async with gate.slot(account):
                order.append(tag)
                await release.wait()

        first = asyncio.create_task(render("flood", "flood-1"))
        await asyncio.sleep(0)
        second = asyncio.create_task(render("flood", "flood-2"))
        await asyncio.sleep(0)
        with pytest.raises(TooManyRequests):
            async with gate.slot("flood"):
                pass
        other = asyncio.create_task(render("other", "other-1"))
        await asyncio.sleep(0)
        with pytest.raises(Unavailable):  # two waiting: the queue is full
            async with gate.slot("third"):
                pass
        release.set()
        await asyncio.gather(first, second, other)
        assert order[0] == "flood-1"
        assert set(order[1:]) == {"flood-2", "other-1"}

    asyncio.run(scenario())


def test_waiting_accounts_take_turns() -> None:
    async def scenario() -> list[str]:
        gate = RenderGate(slots=1, per_account=10, queue=10)
        order: list[str] = []

        async def render(account: str, n: int) -> None:
            async with gate.slot(account):
                order.append(f"{account}{n}")
                await asyncio.sleep(0.01)

        tasks = [asyncio.create_task(render("a", n)) for n in range(4)]
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(render("b", 0)))
        await asyncio.gather(*tasks)
        return order

    order = asyncio.run(scenario())
    assert order.index("b0") <= 2, order  # not behind all of a's queue


@pytest.mark.parametrize("name", ["Acme\r\nBcc: victim@example.com", "Acme\nLtd", "A\tB", "A\x85B"])
def test_names_are_one_line(client: httpx.Client, issuer: Issuer, name: str) -> None:
    org = client.post("/api/profile/organization", headers=issuer.headers, json={"name": name})
    assert org.status_code == 400 and org.json()["errors"][0]["field"] == "name"
    body = issuer.body()
    body["recipientData"]["name"] = name
    issued = client.post("/api/certificates/issue", headers=issuer.headers, json=body)
    assert issued.status_code == 400
    assert issued.json()["errors"][0]["field"] == "recipientData.name"


SVG_OK = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<rect width="10" height="10" fill="url(#g)"/></svg>'
)


@pytest.mark.parametrize(
    ("svg", "why"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "<script>"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "event handlers"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><p>x</p></foreignObject></svg>',
            "<foreignObject>",
        ),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink">'
            b'<use x:href="https://evil.example/a.svg#x"/></svg>',
            "href",
        ),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill:url(https://e.x/t)"/></svg>',
            "load anything",
        ),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><style>*{}</style></svg>', "<style>"),
        (b'<!DOCTYPE svg [<!ENTITY a "b">]><svg xmlns="http://www.w3.org/2000/svg"/>', "DTD"),
    ],
)
def test_svg_logos_may_only_draw(
    client: httpx.Client, issuer: Issuer, svg: bytes, why: str
) -> None:
    logo = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
    response = client.post(
        "/api/profile/organization", headers=issuer.headers, json={"name": "A", "logo": logo}
    )
    assert response.status_code == 400, response.text
    assert why in response.json()["message"]
    ok = "data:image/svg+xml;base64," + base64.b64encode(SVG_OK).decode()
    accepted = client.post(
        "/api/profile/organization", headers=issuer.headers, json={"name": "A", "logo": ok}
    )
    assert accepted.status_code == 201, accepted.text


def test_database_errors_carry_no_personal_data(settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as caught:
            conn.execute(
                sa.text("SELECT * FROM no_such_table WHERE email = :e"), {"e": "ada@example.com"}
            )
    finally:
        engine.dispose()
    assert "ada@example.com" not in str(caught.value)
    detail = 'DETAIL:  Key (account_id, email)=(x, ada@example.com) already exists. "Ada Lovelace"'
    assert "ada@example.com" not in redact(detail)


def test_image_and_preview_renders_are_cached_at_fixed_widths(
    client: httpx.Client, issuer: Issuer, settings: Settings
) -> None:
    issued = client.post("/api/certificates/issue", json=issuer.body(), headers=issuer.headers)
    certificate_id = issued.json()["data"]["certificateId"]
    for width in (300, 350, 399, 400):
        image = client.get(
            f"/api/certificates/{certificate_id}/image",
            params={"width": width},
            headers=issuer.headers,
        )
        assert image.status_code == 200
        with Image.open(io.BytesIO(image.content)) as png:
            assert png.size[0] == 400
    renders = settings.data_dir / "renders"
    assert [p.name for p in renders.glob(f"{certificate_id}-*.png")] == [
        f"{certificate_id}-400.png"
    ]
    for width in (150, 199):
        preview = client.get(
            f"/api/templates/{issuer.template_id}/preview",
            params={"width": width},
            headers=issuer.headers,
        )
        assert preview.status_code == 200
    assert len(list(renders.glob(f"preview-{issuer.template_id}-*-200.png"))) == 1
