"""Corrections (PATCH): same id and URL, a new revision, re-rendered and re-signed, no credit
spent, the previous credential superseded (an independent verifier sees it revoked)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from pypdf import PdfReader

from akowe.certificates.schemas import CertificateRead
from akowe.config import Settings
from akowe.signing.did import did_web_url
from akowe.signing.loader import DEFAULT_CONTEXTS, read_pinned_context
from akowe.verification.schemas import VerificationRead
from tests.certificates.conftest import ATTRIBUTES, Issuer
from tests.certificates.test_issue import balance
from tests.signing.test_node_verifier import _run
from tests.test_wire import assert_conforms
from tests.verification.conftest import public_verdict, upload


def issue(client: httpx.Client, issuer: Issuer, name: str = "Adewale Ogunle") -> dict[str, Any]:
    body = issuer.body(mailData={"templateId": issuer.template_id})
    body["recipientData"] = {"name": name, "email": "ade@example.com", "attributes": ATTRIBUTES}
    response = client.post("/api/certificates/issue", headers=issuer.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


def patch(client: httpx.Client, issuer: Issuer, cid: str, body: Any) -> httpx.Response:
    return client.patch(f"/api/certificates/{cid}", headers=issuer.headers, json=body)


def credential(client: httpx.Client, cid: str) -> dict[str, Any]:
    response = client.get(f"/api/public/certificates/{cid}/credential")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def pdf_text(client: httpx.Client, issuer: Issuer, cid: str) -> str:
    response = client.get(f"/api/certificates/{cid}/pdf", headers=issuer.headers)
    assert response.status_code == 200
    return "".join(
        page.extract_text() for page in PdfReader(__import__("io").BytesIO(response.content)).pages
    )


def test_a_correction_keeps_the_id_re_signs_and_spends_nothing(
    client: httpx.Client, issuer: Issuer, settings: Settings, tmp_path: Path
) -> None:
    issued = issue(client, issuer, "Adewale Ogunlle")
    cid = issued["certificateId"]
    assert "Ogunlle" in pdf_text(client, issuer, cid)
    old = credential(client, cid)
    before = balance(client, issuer.headers)

    response = patch(
        client,
        issuer,
        cid,
        {"name": "Adéwálé Ògúnlé", "attributes": {**ATTRIBUTES, "Grade": "Distinction"}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"] == "Certificate has been corrected successfully"
    data = body["data"]
    assert data["certificateId"] == cid
    assert data["verificationUrl"] == issued["verificationUrl"]
    assert data["recipientName"] == "Adéwálé Ògúnlé"
    assert data["attributes"]["Grade"] == "Distinction"
    assert data["revision"] == 2 and data["correctedAt"] is not None
    assert data["status"] == "issued"
    assert balance(client, issuer.headers) == before  # no credit spent

    # Re-rendered and re-signed.
    text = pdf_text(client, issuer, cid)
    assert "Distinction" in text and "Ogunlle" not in text
    new = credential(client, cid)
    assert new["credentialSubject"] != old["credentialSubject"]
    assert new["credentialStatus"]["statusListIndex"] != old["credentialStatus"]["statusListIndex"]

    # This service's verifier: the new one valid, the old one revoked (superseded).
    assert public_verdict(client, cid)["status"] == "valid"
    assert public_verdict(client, cid)["certificate"]["revision"] == 2
    assert_conforms(VerificationRead, public_verdict(client, cid))
    assert_conforms(CertificateRead, data)
    assert upload(client, json.dumps(new).encode(), "application/json")["status"] == "valid"
    old_verdict = upload(client, json.dumps(old).encode(), "application/json")
    assert old_verdict["status"] == "revoked"
    assert old_verdict["certificate"]["revocationReason"] == "superseded by a correction"

    # An independent verifier (Digital Bazaar's libraries, in Node) agrees.
    documents: dict[str, Any] = {url: read_pinned_context(url) for url in DEFAULT_CONTEXTS}
    did = new["issuer"]["id"]
    documents[did] = httpx.get(did_web_url(did), timeout=30).json()
    status_url = new["credentialStatus"]["statusListCredential"]
    documents[status_url] = httpx.get(status_url, timeout=30).json()
    output = _run(
        tmp_path,
        documents,
        [{"name": "new", "credential": new}, {"name": "old", "credential": old}],
    )
    results = {r["name"]: r for r in output["results"]}
    assert results["new"]["verified"] and results["new"]["status"] == {
        "verified": True,
        "revoked": False,
    }
    assert results["old"]["signature"] and results["old"]["status"] == {
        "verified": True,
        "revoked": True,
    }

    # The public page shows the current revision and when it was corrected.
    page = client.get(f"/verify/{cid}")
    assert page.status_code == 200
    assert "Adéwálé Ògúnlé" in page.text and "Ogunlle" not in page.text
    assert "Revision 2, corrected on" in page.text

    # Search follows the correction.
    found = client.get("/api/certificates", headers=issuer.headers, params={"q": "ogunle"})
    assert [c["certificateId"] for c in found.json()["data"]] == [cid]
    gone = client.get("/api/certificates", headers=issuer.headers, params={"q": "ogunlle"})
    assert gone.json()["data"] == []

    # The audit trail records the issue and the correction (field names, not values).
    events = client.get("/api/audit", headers=issuer.headers, params={"certificateId": cid}).json()[
        "data"
    ]
    assert [e["action"] for e in events] == ["certificate.corrected", "certificate.issued"]
    assert events[0]["details"] == {"fields": ["name", "attributes"], "revision": 2}
    assert "Ade" not in json.dumps(events)


def test_same_values_change_nothing_and_expiry_can_be_set_and_cleared(
    client: httpx.Client, issuer: Issuer
) -> None:
    cid = issue(client, issuer)["certificateId"]
    same = patch(client, issuer, cid, {"name": "Adewale Ogunle"})
    assert same.status_code == 200 and same.json()["data"]["revision"] == 1
    later = patch(client, issuer, cid, {"expiresAt": "2099-01-01T00:00:00Z"})
    assert later.json()["data"]["expiresAt"] == "2099-01-01T00:00:00.000Z"
    assert later.json()["data"]["revision"] == 2
    cleared = patch(client, issuer, cid, {"expiresAt": None})
    assert cleared.json()["data"]["expiresAt"] is None and cleared.json()["data"]["revision"] == 3


def test_a_correction_is_validated_like_an_issue_before_anything_changes(
    client: httpx.Client, issuer: Issuer
) -> None:
    cid = issue(client, issuer)["certificateId"]
    cases = [
        ({}, 400),
        ({"notify": True}, 400),
        ({"name": ""}, 400),
        ({"name": None}, 400),
        ({"email": "not an email"}, 400),
        ({"attributes": {"Grade": "A"}}, 400),  # the design prints "Course Name" too
        ({"expiresAt": "2001-01-01T00:00:00Z"}, 400),
        ({"name": "Ada \ue000 Lovelace"}, 422),  # a character no font draws
        ("[]", 400),
    ]
    for body, status in cases:
        if isinstance(body, str):
            response = client.patch(
                f"/api/certificates/{cid}",
                headers={**issuer.headers, "content-type": "application/json"},
                content=body,
            )
        else:
            response = patch(client, issuer, cid, body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["success"] is False
    missing = patch(client, issuer, cid, {"attributes": {"Grade": "A"}}).json()
    assert missing["errors"][0]["field"] == "attributes.Course Name"
    undrawable = patch(client, issuer, cid, {"name": "Ada \ue000"}).json()
    assert undrawable["errors"][0]["field"] == "name"
    after = client.get(f"/api/certificates/{cid}", headers=issuer.headers).json()["data"]
    assert after["revision"] == 1 and after["recipientName"] == "Adewale Ogunle"


def test_revoked_and_foreign_certificates_cannot_be_corrected(
    client: httpx.Client, issuer: Issuer, make_account
) -> None:
    cid = issue(client, issuer)["certificateId"]
    other = make_account().headers()
    foreign = client.patch(f"/api/certificates/{cid}", headers=other, json={"name": "X"})
    assert foreign.status_code == 404
    client.post(f"/api/certificates/{cid}/revoke", headers=issuer.headers, json={"reason": "r"})
    response = patch(client, issuer, cid, {"name": "Someone Else"})
    assert response.status_code == 409
    assert response.json()["code"] == "certificate_revoked"


def test_notify_emails_the_corrected_certificate(client: httpx.Client, issuer: Issuer) -> None:
    cid = issue(client, issuer)["certificateId"]
    response = patch(client, issuer, cid, {"email": "new@example.com", "notify": True})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["recipientEmail"] == "new@example.com"
    assert data["emailStatus"] == "queued"
    messages = client.get(f"/api/certificates/{cid}/messages", headers=issuer.headers).json()
    assert [m["to"] for m in messages["data"]][-1] == "new@example.com"
