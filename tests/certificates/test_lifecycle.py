"""Certificates after issue: get, list with filters and paging, PDF and PNG, revoke,
and immunity to later edits of the organization or template."""

from __future__ import annotations

import io
import shutil
import time

import httpx
from PIL import Image
from pypdf import PdfReader

from tests.certificates.conftest import ATTRIBUTES, Issuer, make_template
from tests.certificates.test_issue import balance


def issue(client: httpx.Client, issuer: Issuer, name: str = "John Doe", **overrides) -> dict:
    body = issuer.body(**overrides)
    body["recipientData"] = {**body["recipientData"], "name": name}
    response = client.post("/api/certificates/issue", headers=issuer.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


def test_get_answers_what_issue_answered(client: httpx.Client, issuer: Issuer) -> None:
    issued = issue(client, issuer)
    response = client.get(f"/api/certificates/{issued['certificateId']}", headers=issuer.headers)
    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "", "data": issued}


def test_unknown_or_foreign_certificate_is_404(
    client: httpx.Client, issuer: Issuer, make_account
) -> None:
    issued = issue(client, issuer)
    other = make_account().headers()
    cid = issued["certificateId"]
    for path in (
        f"/api/certificates/{cid}",
        f"/api/certificates/{cid}/pdf",
        f"/api/certificates/{cid}/image",
    ):
        response = client.get(path, headers=other)
        assert response.status_code == 404, path
        assert response.json()["message"] == "The requested certificate could not be found"
    revoke = client.post(f"/api/certificates/{cid}/revoke", headers=other, json={"reason": "x"})
    assert revoke.status_code == 404
    assert client.get("/api/certificates/nope", headers=issuer.headers).status_code == 404


def test_list_pages_newest_first_with_a_cursor_header(client: httpx.Client, issuer: Issuer) -> None:
    ids = [issue(client, issuer, f"Person {i}")["certificateId"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = client.get("/api/certificates", headers=issuer.headers, params=params)
        assert response.status_code == 200
        seen += [c["certificateId"] for c in response.json()["data"]]
        pages += 1
        cursor = response.headers.get("x-next-cursor")
        if not cursor:
            break
    assert pages == 3
    assert seen == list(reversed(ids))
    bad = client.get("/api/certificates", headers=issuer.headers, params={"cursor": "%%%"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "cursor"
    bad = client.get("/api/certificates", headers=issuer.headers, params={"limit": 0})
    assert bad.status_code == 400 and bad.json()["success"] is False


def test_list_filters(client: httpx.Client, issuer: Issuer) -> None:
    first = issue(client, issuer, "Ada")
    time.sleep(0.01)
    other_template = make_template(client, issuer.headers, "Second design")
    body_mail = {"templateId": other_template}
    second = issue(
        client,
        issuer,
        "Bola",
        mailData=body_mail,
        recipientData={"name": "Bola", "email": "Bola@Example.com", "attributes": ATTRIBUTES},
    )
    client.post(
        f"/api/certificates/{first['certificateId']}/revoke",
        headers=issuer.headers,
        json={"reason": "wrong grade"},
    )

    def ids(**params: str) -> list[str]:
        response = client.get("/api/certificates", headers=issuer.headers, params=params)
        assert response.status_code == 200, response.text
        return [c["certificateId"] for c in response.json()["data"]]

    assert ids(templateId=other_template) == [second["certificateId"]]
    assert ids(organizationId=issuer.organization_id) == [
        second["certificateId"],
        first["certificateId"],
    ]
    assert ids(recipientEmail="bola@example.com") == [second["certificateId"]]
    assert ids(status="revoked") == [first["certificateId"]]
    assert ids(status="issued") == [second["certificateId"]]
    assert ids(issuedAfter=second["issuedAt"]) == [second["certificateId"]]
    assert ids(issuedBefore=second["issuedAt"]) == [first["certificateId"]]
    bad = client.get("/api/certificates", headers=issuer.headers, params={"status": "lost"})
    assert bad.status_code == 400


def test_revoke_is_final_records_when_and_why_and_refunds_nothing(
    client: httpx.Client, issuer: Issuer
) -> None:
    cid = issue(client, issuer)["certificateId"]
    missing = client.post(f"/api/certificates/{cid}/revoke", headers=issuer.headers, json={})
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["field"] == "reason"
    response = client.post(
        f"/api/certificates/{cid}/revoke",
        headers=issuer.headers,
        json={"reason": "Issued to the wrong person"},
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["status"] == "revoked"
    assert data["revocationReason"] == "Issued to the wrong person"
    assert data["revokedAt"] is not None
    again = client.post(
        f"/api/certificates/{cid}/revoke", headers=issuer.headers, json={"reason": "again"}
    )
    assert again.status_code == 409
    assert again.json()["code"] == "already_revoked"
    fetched = client.get(f"/api/certificates/{cid}", headers=issuer.headers).json()["data"]
    assert fetched["status"] == "revoked"
    assert fetched["revocationReason"] == "Issued to the wrong person"
    assert balance(client, issuer.headers) == 9


def test_pdf_carries_the_names_in_its_text_layer(client: httpx.Client, issuer: Issuer) -> None:
    cid = issue(client, issuer, "Adéwálé 王小明")["certificateId"]
    response = client.get(f"/api/certificates/{cid}/pdf", headers=issuer.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    page = reader.pages[0]
    # An 800x566 design (no pageSize) prints on its closest real paper: A4 landscape.
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (842, 595)
    text = page.extract_text()
    for expected in ("Adéwálé", "王小明", "Machine Learning", "Excellent"):
        assert expected in text, (expected, text)


def test_png_at_a_requested_width(client: httpx.Client, issuer: Issuer) -> None:
    cid = issue(client, issuer)["certificateId"]
    response = client.get(
        f"/api/certificates/{cid}/image", headers=issuer.headers, params={"width": 400}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (400, 283)
    too_wide = client.get(
        f"/api/certificates/{cid}/image", headers=issuer.headers, params={"width": 99999}
    )
    assert too_wide.status_code == 400


def test_test_mode_pdf_is_marked(client: httpx.Client, make_account) -> None:
    from tests.certificates.conftest import make_issuer

    sandbox = make_issuer(client, make_account(test_credits=2), test=True)
    cid = issue(client, sandbox)["certificateId"]
    pdf = client.get(f"/api/certificates/{cid}/pdf", headers=sandbox.headers).content
    assert "TEST" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


def test_editing_or_deleting_organization_and_template_changes_no_certificate(
    client: httpx.Client, issuer: Issuer, settings
) -> None:
    cid = issue(client, issuer)["certificateId"]
    before = client.get(f"/api/certificates/{cid}/pdf", headers=issuer.headers).content
    edited = client.patch(
        f"/api/templates/{issuer.template_id}",
        headers=issuer.headers,
        json={
            "fields": [
                {
                    "type": "name",
                    "text": "",
                    "fontSize": 20,
                    "fontFamily": "Noto Sans",
                    "color": "#ff0000",
                    "isBold": False,
                    "isItalic": False,
                    "alignment": "left",
                    "x": 5,
                    "y": 5,
                }
            ]
        },
    )
    assert edited.status_code == 200, edited.text
    assert (
        client.delete(f"/api/templates/{issuer.template_id}", headers=issuer.headers).status_code
        == 200
    )
    assert (
        client.delete(
            f"/api/profile/organization/{issuer.organization_id}", headers=issuer.headers
        ).status_code
        == 200
    )
    shutil.rmtree(settings.data_dir / "renders")  # force a fresh render from stored data
    after = client.get(f"/api/certificates/{cid}/pdf", headers=issuer.headers)
    assert after.status_code == 200
    assert after.content == before
    data = client.get(f"/api/certificates/{cid}", headers=issuer.headers).json()["data"]
    assert data["organizationId"] == issuer.organization_id
    assert data["status"] == "issued"


def test_template_preview_draws_sample_values(client: httpx.Client, issuer: Issuer) -> None:
    response = client.get(f"/api/templates/{issuer.template_id}/preview", headers=issuer.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content)).convert("RGB")
    assert image.size == (800, 566)
    # the name field sits at (50%, 40%): sample text darkens pixels around it
    band = image.crop((250, 200, 550, 250))
    assert band.getextrema() != ((245, 245), (240, 240), (228, 228))
    blank_corner = image.crop((0, 0, 40, 40))
    assert blank_corner.getextrema() == ((245, 245), (240, 240), (228, 228))
    scaled = client.get(
        f"/api/templates/{issuer.template_id}/preview",
        headers=issuer.headers,
        params={"width": 200},
    )
    assert Image.open(io.BytesIO(scaled.content)).size == (200, 142)
    other = client.get(
        "/api/templates/00000000-0000-4000-8000-000000000000/preview", headers=issuer.headers
    )
    assert other.status_code == 404
