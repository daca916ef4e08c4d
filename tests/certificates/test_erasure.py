"""Erasure through the API: a tombstone, a withdrawn page and verdict, no search hit, final,
audited, and other accounts cannot touch it."""

from __future__ import annotations

import json

import httpx

from akowe.certificates.schemas import CertificateRead
from akowe.verification.schemas import VerificationRead
from tests.certificates.conftest import Issuer
from tests.certificates.test_corrections import credential, issue
from tests.certificates.test_issue import balance
from tests.test_wire import assert_conforms
from tests.verification.conftest import upload


def test_erasure_withdraws_the_certificate_everywhere(
    client: httpx.Client, issuer: Issuer, make_account
) -> None:
    cid = issue(client, issuer, "Folasade Erasable")["certificateId"]
    old = credential(client, cid)
    other = make_account().headers()
    assert client.post(f"/api/certificates/{cid}/erase", headers=other).status_code == 404
    before = balance(client, issuer.headers)

    response = client.post(f"/api/certificates/{cid}/erase", headers=issuer.headers)
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "The recipient's personal data has been erased"
    tombstone = client.get(f"/api/certificates/{cid}", headers=issuer.headers).json()["data"]
    assert tombstone["status"] == "erased"
    assert tombstone["recipientName"] == "" and tombstone["recipientEmail"] is None
    assert tombstone["issuedAt"] and tombstone["erasedAt"] and tombstone["revokedAt"]
    assert balance(client, issuer.headers) == before  # nothing refunded, nothing spent

    page = client.get(f"/verify/{cid}")
    assert page.status_code == 200
    assert "withdrawn" in page.text and "Folasade" not in page.text
    verdict = client.get(f"/api/public/verify/{cid}").json()["data"]
    assert verdict["status"] == "withdrawn" and verdict["valid"] is False
    assert verdict["certificate"]["recipientName"] is None
    assert "Folasade" not in json.dumps(verdict)
    assert_conforms(VerificationRead, verdict)
    assert_conforms(CertificateRead, tombstone)
    assert client.get(f"/api/public/certificates/{cid}/credential").status_code == 404
    assert client.get(f"/api/public/certificates/{cid}/pdf").status_code == 404
    for path in ("/pdf", "/image"):
        gone = client.get(f"/api/certificates/{cid}{path}", headers=issuer.headers)
        assert gone.status_code == 409 and gone.json()["code"] == "certificate_erased"
    # The credential the recipient kept is revoked for every verifier.
    assert upload(client, json.dumps(old).encode(), "application/json")["status"] == "revoked"

    found = client.get("/api/certificates", headers=issuer.headers, params={"q": "folasade"})
    assert found.json()["data"] == []
    listed = client.get("/api/certificates", headers=issuer.headers, params={"status": "erased"})
    assert [c["certificateId"] for c in listed.json()["data"]] == [cid]

    for method, path, body in (
        ("POST", "/erase", None),
        ("PATCH", "", {"name": "Back Again"}),
        ("POST", "/revoke", {"reason": "x"}),
        ("POST", "/resend", {"email": "back@example.com"}),
    ):
        answer = client.request(
            method, f"/api/certificates/{cid}{path}", headers=issuer.headers, json=body
        )
        assert answer.status_code == 409, (path, answer.text)
        assert answer.json()["code"] == "certificate_erased"

    events = client.get("/api/audit", headers=issuer.headers).json()["data"]
    mine = [e for e in events if e["certificateId"] == cid]
    assert [e["action"] for e in mine] == ["certificate.erased", "certificate.issued"]
    assert mine[0]["actor"] == f"key:{issuer.account.live_key_id}"
    assert "Folasade" not in json.dumps(events)


def test_audit_trail_records_revoke_and_resend_and_pages(
    client: httpx.Client, issuer: Issuer, make_account
) -> None:
    cid = issue(client, issuer)["certificateId"]
    resent = client.post(f"/api/certificates/{cid}/resend", headers=issuer.headers)
    assert resent.status_code == 202, resent.text
    client.post(f"/api/certificates/{cid}/revoke", headers=issuer.headers, json={"reason": "x"})
    actions: list[str] = []
    cursor = None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/audit", headers=issuer.headers, params=params)
        assert page.status_code == 200
        actions += [e["action"] for e in page.json()["data"]]
        cursor = page.headers.get("x-next-cursor")
        if not cursor:
            break
    assert actions == ["certificate.revoked", "certificate.resent", "certificate.issued"]
    # Another account sees none of it; unknown parameters are refused.
    assert client.get("/api/audit", headers=make_account().headers()).json()["data"] == []
    bad = client.get("/api/audit", headers=issuer.headers, params={"action": "x"})
    assert bad.status_code == 400
