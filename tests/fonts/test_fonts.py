"""/api/fonts: uploads checked and their licence enforced, listing, use by family, tenancy."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from akowe.fonts.service import FONT_MAX_BYTES
from akowe.templates.models import TemplateVersion
from tests.certificates.conftest import ATTRIBUTES, FIELDS, make_issuer, png_data_uri
from tests.fonts.factories import bundled, cff_font, font_file, upload, uploaded
from tests.rendering.readers import drawn_glyph_ids, mutool_text, pdftotext

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def template_body(family: str, **name_field: Any) -> dict[str, Any]:
    """The issuing fixtures' design with the name field drawn in `family`."""
    fields = [dict(f) for f in FIELDS]
    fields[0] = {**fields[0], "fontFamily": family, "isBold": False, **name_field}
    return {
        "name": "Diploma",
        "imageUrl": png_data_uri(),
        "dimensions": {"width": 800, "height": 566},
        "fields": fields,
    }


def errors_of(response: httpx.Response, code: str = "validation_error") -> dict[str, str]:
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["success"] is False
    assert payload["code"] == code
    assert payload["message"]
    return {e["field"]: e["message"] for e in payload["errors"]}


def test_upload_answers_the_font_and_lists_it(client: httpx.Client, make_account) -> None:
    account = make_account()
    data = font_file("NotoSerif-Italic", "Great Vibes")
    response = upload(client, account.headers(), data, name="../GreatVibes-Regular.ttf")
    assert response.status_code == 201, response.text
    payload = response.json()
    assert (payload["success"], payload["message"]) == (True, "Font has been uploaded successfully")
    font = payload["data"]
    assert uuid.UUID(font["id"]).version == 4
    assert {k: font[k] for k in ("family", "style", "isBold", "isItalic", "outlines")} == {
        "family": "Great Vibes",
        "style": "italic",
        "isBold": False,
        "isItalic": True,
        "outlines": "truetype",
    }
    assert (font["fsType"], font["embeddable"]) == (0, True)
    assert "Open Font License" in font["license"]
    assert font["licenseUrl"].startswith("http")
    assert font["fileName"] == "GreatVibes-Regular.ttf"  # no path kept
    assert font["sizeBytes"] == len(data)
    assert font["glyphCount"] > 1000
    assert TIMESTAMP.match(font["createdAt"])

    listed = client.get("/api/fonts", headers=account.headers())
    assert listed.json() == {"success": True, "message": "", "data": [font]}
    one = client.get(f"/api/fonts/{font['id']}", headers=account.headers())
    assert one.json() == {"success": True, "message": "", "data": font}

    again = upload(client, account.headers(), data)
    assert again.status_code == 200
    assert again.json()["message"] == "This font file was already uploaded"
    assert again.json()["data"] == font
    assert len(client.get("/api/fonts", headers=account.headers()).json()["data"]) == 1


def test_uploaded_font_files_are_never_served(client: httpx.Client, make_account) -> None:
    account = make_account()
    data = font_file("NotoSerif-Regular", "House Serif")
    uploaded(client, account.headers(), data)
    key = hashlib.sha256(data).hexdigest() + ".ttf"
    response = client.get(f"/files/{key}")
    assert response.status_code == 404
    assert response.json()["code"] == "file_not_found"


@pytest.mark.parametrize(
    ("data", "wanted"),
    [
        (b"", "is empty"),
        (b"definitely not a font", "not a TrueType or OpenType font"),
        (b"\x00\x01\x00\x00" + b"\x00" * 500, "damaged"),
        (bundled("NotoSans-Regular")[:2000], "damaged"),
        (b"wOFF" + bundled("NotoSans-Regular")[4:], "WOFF"),
    ],
)
def test_garbage_is_refused(client: httpx.Client, account, data: bytes, wanted: str) -> None:
    errors = errors_of(upload(client, account.headers(), data), "invalid_font")
    assert list(errors) == ["file"]
    assert wanted in errors["file"]


@pytest.mark.parametrize(
    ("fs_type", "wanted"),
    [
        (0x0002, "does not allow embedding"),  # Restricted License embedding
        (0x0200, "does not allow embedding"),  # Bitmap embedding only
        (0x0100, "does not allow subsetting"),  # No subsetting
    ],
)
def test_fonts_whose_licence_forbids_embedding_are_refused(
    client: httpx.Client, make_account, fs_type: int, wanted: str
) -> None:
    account = make_account()
    data = font_file("NotoSerif-Regular", "Locked Serif", fsType=fs_type)
    errors = errors_of(upload(client, account.headers(), data), "font_not_embeddable")
    assert wanted in errors["file"]
    assert f"0x{fs_type:04x}" in errors["file"]
    assert client.get("/api/fonts", headers=account.headers()).json()["data"] == []


def test_embeddable_permissions_are_accepted_and_recorded(
    client: httpx.Client, make_account
) -> None:
    account = make_account()
    font = uploaded(
        client, account.headers(), font_file("NotoSerif-Regular", "Print Serif", fsType=0x0004)
    )
    assert (font["fsType"], font["embeddable"]) == (4, True)


def test_a_bundled_family_name_is_refused(client: httpx.Client, account) -> None:
    errors = errors_of(upload(client, account.headers(), bundled("NotoSans-Bold")), "invalid_font")
    assert "bundled family name" in errors["file"]


def test_size_limit_and_malformed_uploads_answer_the_envelope(
    client: httpx.Client, account
) -> None:
    too_big = upload(client, account.headers(), b"\x00\x01\x00\x00" + b"\x00" * FONT_MAX_BYTES)
    assert too_big.status_code in (400, 413), too_big.text
    assert too_big.json()["success"] is False
    assert too_big.json()["code"] in ("invalid_font", "payload_too_large")
    oversized_body = client.post(
        "/api/fonts",
        headers=account.headers(),
        files={"file": ("big.ttf", b"\x00" * (FONT_MAX_BYTES + 200_000), "font/ttf")},
    )
    assert oversized_body.status_code == 413
    assert oversized_body.json()["code"] == "payload_too_large"
    broken = {"content-type": "multipart/form-data; boundary=xx"}
    for response in (
        client.post("/api/fonts", headers=account.headers(), json={"file": "data:font/ttf,x"}),
        client.post("/api/fonts", headers=account.headers(), files={"other": ("a", b"x")}),
        client.post("/api/fonts", headers={**account.headers(), **broken}, content=b"junk"),
    ):
        errors = errors_of(response, "invalid_font")
        assert "multipart/form-data in a part named `file`" in errors["file"]
    # Authentication comes before the body, whatever it holds.
    for keyless in (
        client.post("/api/fonts", files={"file": ("a.ttf", b"x")}),
        client.post("/api/fonts", json={"file": "x"}),
        client.post("/api/fonts", headers=broken, content=b"junk"),
    ):
        assert keyless.status_code == 401
        assert keyless.json()["code"] == "invalid_api_key"


def test_template_draws_with_the_uploaded_family_and_noto_covers_the_rest(
    client: httpx.Client, make_account
) -> None:
    account = make_account(credits=5)
    issuer = make_issuer(client, account)
    uploaded(client, issuer.headers, font_file("NotoSerif-Italic", "Great Vibes"))
    template = client.post(
        "/api/templates", headers=issuer.headers, json=template_body("great  vibes")
    )
    assert template.status_code == 201, template.text
    name = "Adéwálé محمد 王"
    body = issuer.body(
        recipientData={"name": name, "attributes": {"Course Name": "ML", "Grade": "A"}},
        mailData={"templateId": template.json()["data"]["id"]},
    )
    issued = client.post("/api/certificates/issue", headers=issuer.headers, json=body)
    assert issued.status_code == 201, issued.text
    pdf = client.get(issued.json()["data"]["pdfUrl"], headers=issuer.headers)
    assert pdf.status_code == 200
    fonts = drawn_glyph_ids(pdf.content)
    assert any("GreatVibes" in font for font in fonts)
    assert any("NotoSansArabic" in font for font in fonts)
    assert any("NotoSansCJK" in font for font in fonts)
    # The same reader allowance as the renderer's own tests (poppler spaces mixed runs).
    assert name in pdftotext(pdf.content) or name in mutool_text(pdf.content)


def test_unknown_family_is_a_400_not_a_silent_substitute(client: httpx.Client, account) -> None:
    response = client.post("/api/templates", headers=account.headers(), json=template_body("Arial"))
    errors = errors_of(response)
    assert list(errors) == ["fields.0.fontFamily"]
    assert "unknown font family 'Arial'" in errors["fields.0.fontFamily"]
    assert "POST /api/fonts" in errors["fields.0.fontFamily"]
    assert response.json()["message"].startswith("Unknown font families: Arial.")


def test_another_accounts_font_is_not_found_and_not_usable(
    client: httpx.Client, make_account
) -> None:
    owner, other = make_account(), make_account()
    font = uploaded(client, owner.headers(), font_file("NotoSerif-Regular", "Owner Serif"))
    for headers in (other.headers(), owner.headers(test=True)):
        missing = client.get(f"/api/fonts/{font['id']}", headers=headers)
        assert missing.status_code == 404
        assert missing.json() == {
            "success": False,
            "message": "The requested font could not be found",
            "code": "font_not_found",
        }
        assert client.get("/api/fonts", headers=headers).json()["data"] == []
        refused = client.post("/api/templates", headers=headers, json=template_body("Owner Serif"))
        assert list(errors_of(refused)) == ["fields.0.fontFamily"]
    mine = client.post("/api/templates", headers=owner.headers(), json=template_body("Owner Serif"))
    assert mine.status_code == 201, mine.text


def test_a_version_keeps_the_font_files_it_was_saved_with(
    client: httpx.Client, make_account, db: sessionmaker[Session]
) -> None:
    account = make_account()
    first = font_file("NotoSerif-Regular", "House Serif")
    uploaded(client, account.headers(), first)
    created = client.post(
        "/api/templates", headers=account.headers(), json=template_body("House Serif")
    ).json()["data"]
    # A corrected file of the same family and style: later saves use it, version 1 does not.
    uploaded(client, account.headers(), font_file("NotoSans-Regular", "House Serif"))
    fields = created["fields"]
    fields[1]["x"] = 40
    changed = client.patch(
        f"/api/templates/{created['id']}", headers=account.headers(), json={"fields": fields}
    )
    assert changed.json()["data"]["version"] == 2
    with db() as session:
        v1 = session.get(TemplateVersion, (created["id"], 1))
        v2 = session.get(TemplateVersion, (created["id"], 2))
        assert v1 is not None and v2 is not None
        assert v1.font_keys == [hashlib.sha256(first).hexdigest() + ".ttf"]
        assert v2.font_keys != v1.font_keys and len(v2.font_keys or []) == 1


def test_fonts_are_documented(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"get", "post"} <= set(paths["/api/fonts"])
    assert "multipart/form-data" in paths["/api/fonts"]["post"]["requestBody"]["content"]
    assert "get" in paths["/api/fonts/{fontId}"]


def test_the_styles_of_one_family_are_uploaded_and_used_together(
    client: httpx.Client, make_account
) -> None:
    account = make_account(credits=2)
    issuer = make_issuer(client, account)
    regular = uploaded(client, issuer.headers, font_file("NotoSerif-Regular", "House Serif"))
    bold = uploaded(client, issuer.headers, font_file("NotoSerif-Bold", "House Serif"))
    assert (regular["style"], bold["style"]) == ("regular", "bold")
    design = template_body("House Serif", isBold=True)
    design["fields"][1]["fontFamily"] = "House Serif"  # the course name, regular
    created = client.post("/api/templates", headers=issuer.headers, json=design)
    assert created.status_code == 201, created.text
    body = issuer.body(mailData={"templateId": created.json()["data"]["id"]})
    issued = client.post("/api/certificates/issue", headers=issuer.headers, json=body)
    assert issued.status_code == 201, issued.text
    pdf = client.get(issued.json()["data"]["pdfUrl"], headers=issuer.headers)
    assert len([font for font in drawn_glyph_ids(pdf.content) if "HouseSerif" in font]) == 2


def test_an_opentype_cff_font_is_accepted_and_drawn(client: httpx.Client, make_account) -> None:
    account = make_account(credits=1)
    issuer = make_issuer(client, account)
    data = cff_font("Latin Sans")
    assert data[:4] == b"OTTO"
    font = uploaded(client, issuer.headers, data)
    assert (font["family"], font["outlines"]) == ("Latin Sans", "cff")
    assert client.get(f"/files/{hashlib.sha256(data).hexdigest()}.otf").status_code == 404
    created = client.post(
        "/api/templates", headers=issuer.headers, json=template_body("Latin Sans")
    )
    assert created.status_code == 201, created.text
    # Latin from the CFF font, Yoruba's combining marks and Arabic from the Noto chain.
    name = "Adébáyọ̀ محمد"
    body = issuer.body(
        recipientData={"name": name, "attributes": ATTRIBUTES},
        mailData={"templateId": created.json()["data"]["id"]},
    )
    issued = client.post("/api/certificates/issue", headers=issuer.headers, json=body)
    assert issued.status_code == 201, issued.text
    pdf = client.get(issued.json()["data"]["pdfUrl"], headers=issuer.headers)
    assert pdf.status_code == 200
    assert any("LatinSans" in f for f in drawn_glyph_ids(pdf.content))
    assert name in pdftotext(pdf.content) or name in mutool_text(pdf.content)
