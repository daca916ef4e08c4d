"""Never issue missing text: values the design cannot draw or fit are refused before any
credit is spent; boxes, logos and locales come out in the issued certificate."""

from __future__ import annotations

import base64
import io
import time
from datetime import datetime
from typing import Any

import httpx
import pytest
from PIL import Image

from akowe.rendering import CertificateData, FieldSpec, TemplateSpec, check, format_date
from tests.certificates.conftest import FIELDS, Issuer, make_issuer, png_data_uri
from tests.rendering.readers import pdftotext
from tests.storage.factories import SVG_LOGO, image_bytes

ISSUE = "/api/certificates/issue"
# 80 characters, the longest name the issue asks to fit.
LONG_NAME = "Oluwadamilare Babatunde Adeyemi-Okonkwo Chukwuemeka Nnamdi Ifeanyichukwu Balogun"
# Real scripts, rare enough that a machine may have no font for them at all: recent
# additions to Unicode first (Toto, a living script of West Bengal, Unicode 14; Nag Mundari,
# living, and Kawi, Unicode 15), then old ones that system font packages often carry.
RARE_SCRIPTS = {
    "Toto": "\U0001e290\U0001e291\U0001e292",
    "Nag Mundari": "\U0001e4d0\U0001e4d1",
    "Kawi": "\U00011f04\U00011f05",
    "Linear B": "𐀀𐀁𐀂",
    "Egyptian hieroglyphs": "𓀀𓀁",
    "Cuneiform": "𒀀𒀁",
    "Adlam": "𞤀𞤣𞤤𞤢𞤥",
    "Mende Kikakui": "𞠀𞠁",
    "Bamum": "ꚠꚡ",
    "Vai": "ꕙꔤ",
}


def balance(client: httpx.Client, issuer: Issuer) -> int:
    response = client.get("/api/users/balance", headers=issuer.headers)
    return int(response.json()["data"]["balance"])


def certificates(client: httpx.Client, issuer: Issuer) -> list[dict[str, Any]]:
    return client.get("/api/certificates", headers=issuer.headers).json()["data"]  # type: ignore[no-any-return]


def template(client: httpx.Client, issuer: Issuer, *extra: dict[str, Any], **changes: Any) -> str:
    """The issuing fixtures' design, its name field changed by `changes`, plus `extra` fields."""
    fields = [dict(f) for f in FIELDS]
    fields[0] = {**fields[0], **changes}
    response = client.post(
        "/api/templates",
        headers=issuer.headers,
        json={
            "name": "Design",
            "imageUrl": png_data_uri(),
            "dimensions": {"width": 800, "height": 566},
            "fields": [*fields, *extra],
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def issue(
    client: httpx.Client,
    issuer: Issuer,
    name: str,
    template_id: str | None = None,
    **attributes: str,
) -> httpx.Response:
    body = issuer.body(
        recipientData={
            "name": name,
            "email": "ada@example.com",
            "attributes": {"Course Name": "Machine Learning", "Grade": "Excellent", **attributes},
        },
        mailData={"templateId": template_id or issuer.template_id},
    )
    return client.post(ISSUE, headers=issuer.headers, json=body)


def refused(response: httpx.Response) -> dict[str, str]:
    """The 422 refusal's errors by field."""
    assert response.status_code == 422, response.text
    payload = response.json()
    assert (payload["success"], payload["code"]) == (False, "unrenderable_text")
    assert payload["message"].startswith("The certificate cannot be drawn as designed: ")
    return {e["field"]: e["message"] for e in payload["errors"]}


def first_uncovered_script() -> tuple[str, str] | None:
    """A real script no bundled or installed font covers on this machine, if any remains."""
    spec = TemplateSpec(
        "probe", 800, 400, b"",
        (FieldSpec("n", "name", "", 40, "Noto Sans", "#000000", False, False, "center", 50, 50),),
    )  # fmt: skip
    for script, text in RARE_SCRIPTS.items():
        data = CertificateData("c", text, datetime(2026, 1, 1), {}, "")
        if any(p.kind == "missing_glyphs" for p in check(spec, data)):
            return script, text
    return None


@pytest.mark.parametrize(
    ("name", "codes"),
    [
        ("Ada \ue000 Lovelace", ["U+E000"]),  # private use: no public font has it
        ("Ada \u0378\U000e0ff0", ["U+0378", "U+E0FF0"]),  # unassigned code points
    ],
)
def test_a_name_no_font_can_draw_is_refused_before_charging(
    client: httpx.Client, issuer: Issuer, name: str, codes: list[str]
) -> None:
    before = balance(client, issuer)
    errors = refused(issue(client, issuer, name))
    assert list(errors) == ["recipientData.name"]
    for code in codes:
        assert code in errors["recipientData.name"]
    assert balance(client, issuer) == before
    assert certificates(client, issuer) == []


def test_a_real_script_no_font_covers_is_refused_before_charging(
    client: httpx.Client, issuer: Issuer
) -> None:
    found = first_uncovered_script()
    if found is None:
        pytest.skip("every candidate script is covered by the bundled or installed fonts")
    script, text = found
    before = balance(client, issuer)
    errors = refused(issue(client, issuer, f"Ada {text}"))
    assert f"U+{ord(text[0]):04X}" in errors["recipientData.name"], script
    assert balance(client, issuer) == before


def test_an_attribute_no_font_can_draw_names_its_key(client: httpx.Client, issuer: Issuer) -> None:
    errors = refused(issue(client, issuer, "Ada", Grade="A\ue001"))
    assert list(errors) == ["recipientData.attributes.Grade"]
    assert "\ue001 (U+E001)" in errors["recipientData.attributes.Grade"]
    # Attributes no field draws are kept, not checked.
    assert issue(client, issuer, "Ada", Note="\ue001").status_code == 201


def test_test_mode_refuses_the_same_and_spends_nothing(client: httpx.Client, make_account) -> None:
    sandbox = make_issuer(client, make_account(test_credits=2), test=True)
    before = balance(client, sandbox)
    refused(issue(client, sandbox, "\ue000"))
    assert balance(client, sandbox) == before


def test_an_80_character_name_must_fit_its_box(client: httpx.Client, issuer: Issuer) -> None:
    assert len(LONG_NAME) == 80
    box = {"fontSize": 48, "width": 80, "minFontSize": 24}
    one_line = template(client, issuer, **box)
    before = balance(client, issuer)
    errors = refused(issue(client, issuer, LONG_NAME, one_line))
    assert (
        "does not fit its box (640 px wide, one line) at the minimum size 24 px"
        in errors["recipientData.name"]
    )
    assert balance(client, issuer) == before
    assert certificates(client, issuer) == []

    two_lines = template(client, issuer, **box, maxLines=2)
    issued = issue(client, issuer, LONG_NAME, two_lines)
    assert issued.status_code == 201, issued.text
    assert balance(client, issuer) == before - 1
    url = issued.json()["data"]["pdfUrl"]
    pdf = client.get(url, headers=issuer.headers)
    assert pdf.status_code == 200  # rendered with strict=True: it fits
    lines = pdftotext(pdf.content)
    assert " ".join(lines[:2]) == LONG_NAME
    # Every pixel of the name lies inside its box (10% to 90% of the width).
    image = client.get(
        f"{url[: -len('/pdf')]}/image", params={"width": 800}, headers=issuer.headers
    )
    picture = Image.open(io.BytesIO(image.content)).convert("RGB")
    band = [(x, y) for y in range(170, 280) for x in range(800)]
    ink = [(x, y) for x, y in band if sum(picture.getpixel((x, y))) < 300]
    assert ink, "the name is drawn"
    assert min(x for x, _ in ink) >= 80 and max(x for x, _ in ink) < 720


def _organization(client: httpx.Client, issuer: Issuer, logo: str | None) -> str:
    body = {"name": "Lagos Academy", **({"logo": logo} if logo else {})}
    response = client.post("/api/profile/organization", headers=issuer.headers, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


LOGO_FIELD = {
    "type": "logo", "fontSize": 80, "width": 10, "x": 10, "y": 15,
    "alignment": "left", "verticalAlignment": "top",
}  # fmt: skip


def test_a_logo_field_draws_the_organization_logo(client: httpx.Client, issuer: Issuer) -> None:
    red = (
        "data:image/png;base64,"
        + base64.b64encode(image_bytes(100, 100, "PNG", "#e01010")).decode()
    )
    organization_id = _organization(client, issuer, red)
    design = template(client, issuer, LOGO_FIELD)
    body = issuer.body(organizationId=organization_id, mailData={"templateId": design})
    issued = client.post(ISSUE, headers=issuer.headers, json=body)
    assert issued.status_code == 201, issued.text
    certificate_id = issued.json()["data"]["certificateId"]
    image = client.get(
        f"/api/certificates/{certificate_id}/image", params={"width": 800}, headers=issuer.headers
    )
    picture = Image.open(io.BytesIO(image.content)).convert("RGB")
    # The box is 80x80 design pixels from (80, 85); the logo fills it, the page around stays.
    for point in ((90, 95), (120, 125), (155, 160)):
        r, g, b = picture.getpixel(point)
        assert r > 200 and g < 60 and b < 60, (point, (r, g, b))
    assert picture.getpixel((70, 125)) == picture.getpixel((60, 125))  # background
    # The organization changing its logo later changes nothing already issued.
    client.patch(
        f"/api/profile/organization/{organization_id}",
        headers=issuer.headers,
        json={"logo": "data:image/png;base64,"
              + base64.b64encode(image_bytes(100, 100, "PNG", "#1010e0")).decode()},
    )  # fmt: skip
    again = client.get(f"/api/certificates/{certificate_id}/pdf", headers=issuer.headers)
    assert again.status_code == 200


@pytest.mark.parametrize(
    "logo", [None, "data:image/svg+xml;base64," + base64.b64encode(SVG_LOGO).decode()]
)
def test_a_logo_field_needs_a_png_jpeg_or_webp_logo(
    client: httpx.Client, issuer: Issuer, logo: str | None
) -> None:
    organization_id = _organization(client, issuer, logo)
    design = template(client, issuer, LOGO_FIELD)
    before = balance(client, issuer)
    body = issuer.body(organizationId=organization_id, mailData={"templateId": design})
    errors = refused(client.post(ISSUE, headers=issuer.headers, json=body))
    assert "no PNG, JPEG or WebP logo" in errors["organizationId"]
    assert balance(client, issuer) == before


def test_dates_are_written_in_the_template_locale(client: httpx.Client, issuer: Issuer) -> None:
    response = client.post(
        "/api/templates",
        headers=issuer.headers,
        json={
            "name": "Diplôme",
            "imageUrl": png_data_uri(),
            "dimensions": {"width": 800, "height": 566},
            "fields": FIELDS,
            "locale": "fr",
        },
    )
    assert response.status_code == 201, response.text
    issued = issue(client, issuer, "Amélie Poulain", response.json()["data"]["id"])
    assert issued.status_code == 201, issued.text
    issued_at = datetime.fromisoformat(issued.json()["data"]["issuedAt"].replace("Z", "+00:00"))
    expected = format_date(issued_at, "", "fr")  # e.g. "26 novembre 2026"
    assert expected != format_date(issued_at, "", "en")
    pdf = client.get(issued.json()["data"]["pdfUrl"], headers=issuer.headers)
    assert expected in pdftotext(pdf.content)


def test_many_characters_no_font_has_are_refused_quickly(
    client: httpx.Client, issuer: Issuer
) -> None:
    # A thousand distinct supplementary private-use characters: none is looked up one by one
    # in fontconfig (a process each), so the refusal takes milliseconds, not half a minute.
    value = "".join(chr(0xF0000 + i) for i in range(1000))
    started = time.monotonic()
    response = issue(client, issuer, "Ada", **{"Course Name": value})
    assert time.monotonic() - started < 5
    refused(response)
    [missing, overflow] = response.json()["errors"]
    assert missing["field"] == overflow["field"] == "recipientData.attributes.Course Name"
    assert "U+F0000" in missing["message"] and "U+F03E7" in missing["message"]
    assert "does not fit its box" in overflow["message"]
