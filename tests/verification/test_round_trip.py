"""Issue -> credential -> page, JSON API, upload (credential, PDF, baked PNG) and CLI: every
surface gives the same verdict with the same named checks, for valid, revoked, expired and
test-mode certificates."""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from pypdf import PdfReader

from akowe.config import Settings
from akowe.signing import extract_credential_from_pdf, extract_credential_from_png
from akowe.signing.baking import unbake
from akowe.signing.status_list import MIN_LIST_LENGTH, StatusBitstring
from tests.certificates.conftest import Issuer, make_issuer
from tests.verification.conftest import (
    CHECKS,
    cli_verify,
    issue,
    public_verdict,
    summary,
    upload,
)


def _files(client: httpx.Client, certificate_id: str, tmp_path: Path) -> dict[str, Path]:
    base = f"/api/public/certificates/{certificate_id}"
    paths = {}
    for name, suffix in (("credential", "credential.json"), ("pdf", "pdf"), ("image.png", "png")):
        response = client.get(f"{base}/{name}")
        assert response.status_code == 200, response.text
        path = tmp_path / f"{certificate_id}.{suffix}"
        path.write_bytes(response.content)
        paths[suffix] = path
    return paths


def _every_surface(
    client: httpx.Client, settings: Settings, certificate_id: str, tmp_path: Path
) -> dict[str, dict]:
    files = _files(client, certificate_id, tmp_path)
    verdicts = {"api": public_verdict(client, certificate_id)}
    for kind, content_type in (
        ("credential.json", "application/json"),
        ("pdf", "application/pdf"),
        ("png", "image/png"),
    ):
        verdicts[f"upload {kind}"] = upload(client, files[kind].read_bytes(), content_type)
        code, verdicts[f"cli {kind}"] = cli_verify(settings, files[kind])
        assert code == (0 if verdicts[f"cli {kind}"]["valid"] else 1)
    return verdicts


def test_a_valid_certificate_verifies_alike_everywhere(
    client: httpx.Client, issuer: Issuer, settings: Settings, tmp_path: Path
) -> None:
    expires = (datetime.now(UTC) + timedelta(days=365)).replace(microsecond=0)
    data = issue(client, issuer, expiresAt=expires.isoformat())
    certificate_id = data["certificateId"]
    assert data["expiresAt"] == expires.strftime("%Y-%m-%dT%H:%M:%S.000Z")

    credential = client.get(f"/api/public/certificates/{certificate_id}/credential").json()
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["id"].endswith(f"/api/public/certificates/{certificate_id}/credential")
    issuer_did = credential["issuer"]["id"]
    assert issuer_did.startswith("did:web:127.0.0.1%3A") and issuer_did.endswith(
        f":orgs:{issuer.organization_id}"
    )
    assert credential["issuer"]["name"] == "Lagos Academy"
    subject = credential["credentialSubject"]
    assert subject["name"] == "John Doe"
    assert "john@example.com" not in json.dumps(credential)
    [identity] = subject["identifier"]
    expected = hashlib.sha256(("john@example.com" + identity["salt"]).encode()).hexdigest()
    assert identity["identityHash"] == f"sha256${expected}" and identity["hashed"] is True
    names = {d["id"]: d["name"] for d in subject["achievement"]["resultDescription"]}
    results = {names[r["resultDescription"]]: r["value"] for r in subject["result"]}
    assert results == {"Course Name": "Machine Learning", "Grade": "Excellent"}
    assert credential["validUntil"] == expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    status = credential["credentialStatus"]
    assert status["type"] == "BitstringStatusListEntry"
    assert 0 <= int(status["statusListIndex"]) < MIN_LIST_LENGTH
    assert credential["proof"]["cryptosuite"] == "eddsa-rdfc-2022"

    verdicts = _every_surface(client, settings, certificate_id, tmp_path)
    expected_summary = (True, "valid", tuple((name, True) for name in CHECKS))
    for surface, verdict in verdicts.items():
        assert summary(verdict) == expected_summary, surface
        assert verdict["certificate"]["recipientName"] == "John Doe", surface
        assert verdict["certificate"]["certificateId"] == certificate_id, surface
        assert verdict["certificate"]["achievement"] == "Diploma", surface
    assert [c["name"] for c in verdicts["api"]["checks"]] == CHECKS

    page = client.get(f"/verify/{certificate_id}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1" in page.text and "VALID</h1>" in page.text
    for title in ("Signature", "Issuer key", "Integrity", "Revocation status", "Expiry"):
        assert f'<th scope="row">{title}</th>' in page.text
    assert "John Doe" in page.text and "Lagos Academy" in page.text
    assert "<script" not in page.text.lower()  # works without JavaScript
    linkedin = re.search(r'href="(https://www\.linkedin\.com/profile/add\?[^"]+)"', page.text)
    assert linkedin is not None
    query = linkedin.group(1).replace("&amp;", "&")
    for part in (
        "startTask=CERTIFICATION_NAME",
        "name=Diploma",
        "organizationName=Lagos+Academy",
        f"issueYear={datetime.now(UTC).year}",
        f"expirationYear={expires.year}",
        f"expirationMonth={expires.month}",
        f"certId={certificate_id}",
        "certUrl=http",
    ):
        assert part in query, part
    assert f'<meta property="og:url" content="{data["verificationUrl"]}">' in page.text
    assert 'property="og:image"' in page.text and 'property="og:title"' in page.text


def test_the_pdf_and_png_carry_the_credential_and_the_qr_points_at_the_page(
    client: httpx.Client, issuer: Issuer, tmp_path: Path
) -> None:
    data = issue(client, issuer)
    certificate_id = data["certificateId"]
    credential = client.get(f"/api/public/certificates/{certificate_id}/credential").json()
    files = _files(client, certificate_id, tmp_path)
    pdf = files["pdf"].read_bytes()
    assert extract_credential_from_pdf(pdf) == credential
    did = extract_credential_from_pdf(pdf, filename="did.json")
    assert did is not None and did["id"] == credential["issuer"]["id"]
    reader = PdfReader(io.BytesIO(pdf))
    assert "credential.json" in reader.attachments
    keyed = client.get(f"/api/certificates/{certificate_id}/pdf", headers=issuer.headers)
    assert keyed.status_code == 200 and extract_credential_from_pdf(keyed.content) == credential
    png = files["png"].read_bytes()
    assert extract_credential_from_png(png) == credential
    assert json.loads(unbake(png, keyword=b"diddocument") or "{}")["id"] == did["id"]
    text = "".join(page.extract_text() for page in reader.pages)
    assert certificate_id in text or "John Doe" in text
    assert data["verificationUrl"] == f"{client.base_url}/verify/{certificate_id}"


def test_a_revoked_certificate_is_revoked_everywhere_with_reason_and_date(
    client: httpx.Client, issuer: Issuer, settings: Settings, tmp_path: Path
) -> None:
    certificate_id = issue(client, issuer)["certificateId"]
    assert public_verdict(client, certificate_id)["status"] == "valid"  # signed and cached
    revoked = client.post(
        f"/api/certificates/{certificate_id}/revoke",
        headers=issuer.headers,
        json={"reason": "Issued to the wrong person"},
    )
    assert revoked.status_code == 200
    assert revoked.json()["data"]["status"] == "revoked"

    verdicts = _every_surface(client, settings, certificate_id, tmp_path)
    expected = (
        False,
        "revoked",
        tuple((name, name != "status") for name in CHECKS),
    )
    for surface, verdict in verdicts.items():
        assert summary(verdict) == expected, surface
        assert verdict["certificate"]["status"] == "revoked", surface
    status_check = verdicts["api"]["checks"][3]
    assert status_check["message"] == "The credential has been revoked."
    assert verdicts["api"]["certificate"]["revocationReason"] == "Issued to the wrong person"
    assert verdicts["upload pdf"]["certificate"]["revocationReason"] == "Issued to the wrong person"
    page = client.get(f"/verify/{certificate_id}").text
    assert "REVOKED</h1>" in page
    assert "Reason: Issued to the wrong person" in page
    assert f"Revoked on {datetime.now(UTC).day} " in page
    assert "linkedin.com" not in page

    # The list credential is re-signed with the bit set, and served with Cache-Control = ttl.
    credential = json.loads(files_credential(client, certificate_id))
    entry = credential["credentialStatus"]
    listed = client.get(entry["statusListCredential"])
    assert listed.status_code == 200
    ttl = listed.json()["credentialSubject"]["ttl"]
    assert listed.headers["cache-control"] == f"public, max-age={ttl // 1000}"
    bits = StatusBitstring.decode(listed.json()["credentialSubject"]["encodedList"])
    assert bits.length >= MIN_LIST_LENGTH and bits.get(int(entry["statusListIndex"]))


def files_credential(client: httpx.Client, certificate_id: str) -> str:
    return client.get(f"/api/public/certificates/{certificate_id}/credential").text


def test_an_expired_certificate_verifies_expired(
    client: httpx.Client, issuer: Issuer, settings: Settings, tmp_path: Path
) -> None:
    expires = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
    expires += timedelta(seconds=1)
    data = issue(client, issuer, expiresAt=expires.isoformat())
    certificate_id = data["certificateId"]
    assert data["status"] == "issued"
    assert public_verdict(client, certificate_id)["status"] == "valid"
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 1.1)

    verdicts = _every_surface(client, settings, certificate_id, tmp_path)
    expected = (False, "expired", tuple((name, name != "expiry") for name in CHECKS))
    for surface, verdict in verdicts.items():
        assert summary(verdict) == expected, surface
        assert verdict["certificate"]["status"] == "expired", surface
    assert verdicts["api"]["checks"][4]["message"].startswith("Expired on ")
    read = client.get(f"/api/certificates/{certificate_id}", headers=issuer.headers).json()
    assert read["data"]["status"] == "expired"
    assert read["data"]["expiresAt"] == data["expiresAt"]
    listed = client.get(
        "/api/certificates", params={"status": "expired"}, headers=issuer.headers
    ).json()["data"]
    assert certificate_id in {c["certificateId"] for c in listed}
    still = client.get(
        "/api/certificates", params={"status": "issued"}, headers=issuer.headers
    ).json()["data"]
    assert certificate_id not in {c["certificateId"] for c in still}
    assert "EXPIRED</h1>" in client.get(f"/verify/{certificate_id}").text


def test_a_test_mode_certificate_is_never_valid_and_says_test(
    client: httpx.Client, make_account, settings: Settings, tmp_path: Path
) -> None:
    account = make_account(credits=0, test_credits=3)
    sandbox = make_issuer(client, account, test=True)
    data = issue(client, sandbox)
    certificate_id = data["certificateId"]
    assert data["test"] is True
    credential = client.get(f"/api/public/certificates/{certificate_id}/credential").json()
    assert ":test:orgs:" in credential["issuer"]["id"]
    assert credential["name"].startswith("[TEST] ")
    assert credential["issuer"]["name"].endswith("(TEST)")
    assert client.get(f"/test/orgs/{sandbox.organization_id}/did.json").status_code == 200
    assert client.get(f"/orgs/{sandbox.organization_id}/did.json").status_code == 404

    verdicts = _every_surface(client, settings, certificate_id, tmp_path)
    for surface, verdict in verdicts.items():
        assert summary(verdict) == (False, "test", tuple((n, True) for n in CHECKS)), surface
        assert verdict["test"] is True, surface
    page = client.get(f"/verify/{certificate_id}").text
    assert "TEST</h1>" in page and "not a real certificate" in page
    assert "linkedin.com" not in page


def test_key_rotation_keeps_older_credentials_valid(
    client: httpx.Client, issuer: Issuer, settings: Settings, tmp_path: Path
) -> None:
    from tests.verification.conftest import akowe

    before = issue(client, issuer)["certificateId"]
    old = client.get(f"/api/public/certificates/{before}/credential").json()
    rotated = akowe(settings, "signing", "rotate", issuer.organization_id, "--json")
    assert rotated.returncode == 0, rotated.stderr
    new_key = json.loads(rotated.stdout)["publicKey"]
    after = issue(client, issuer)["certificateId"]
    new = client.get(f"/api/public/certificates/{after}/credential").json()
    assert old["proof"]["verificationMethod"] != new["proof"]["verificationMethod"]
    assert new["proof"]["verificationMethod"].endswith("#" + new_key)

    document = client.get(f"/orgs/{issuer.organization_id}/did.json").json()
    methods = [m["id"] for m in document["verificationMethod"]]
    assert methods == [old["proof"]["verificationMethod"], new["proof"]["verificationMethod"]]
    assert document["assertionMethod"] == methods
    listed = akowe(settings, "signing", "keys", issuer.organization_id, "--json")
    keys = json.loads(listed.stdout)
    assert [k["retiredAt"] is not None for k in keys] == [True, False]

    for certificate_id in (before, after):
        assert summary(public_verdict(client, certificate_id))[:2] == (True, "valid")
        code, verdict = cli_verify(settings, _files(client, certificate_id, tmp_path)["pdf"])
        assert code == 0 and verdict["status"] == "valid"
    # Revoking the old one re-signs its status list with the new key: both still check out.
    client.post(f"/api/certificates/{before}/revoke", headers=issuer.headers, json={"reason": "x"})
    assert public_verdict(client, before)["status"] == "revoked"
    assert public_verdict(client, after)["status"] == "valid"


def test_a_recipient_named_like_a_script_is_shown_as_text(
    client: httpx.Client, make_account
) -> None:
    account = make_account(credits=2)
    headers = account.headers()
    org = client.post(
        "/api/profile/organization",
        headers=headers,
        json={"name": '"><img src=x onerror=alert(2)>', "website": "https://evil.example"},
    ).json()["data"]
    from tests.certificates.conftest import make_template

    template_id = make_template(client, headers, name="<b>Bold</b> & co")
    response = client.post(
        "/api/certificates/issue",
        headers=headers,
        json={
            "recipientData": {
                "name": "<script>alert(1)</script>",
                "email": "x@example.com",
                "attributes": {
                    "Course Name": "<i>Machine Learning</i>",
                    "Grade": "</dd><script>alert(3)</script>",
                },
            },
            "organizationId": org["id"],
            "templateId": template_id,
        },
    )
    assert response.status_code == 201, response.text
    certificate_id = response.json()["data"]["certificateId"]
    page = client.get(f"/verify/{certificate_id}").text
    assert "<script" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;/dd&gt;&lt;script&gt;alert(3)&lt;/script&gt;" in page
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; co" in page
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    verdict = public_verdict(client, certificate_id)
    assert verdict["certificate"]["recipientName"] == "<script>alert(1)</script>"
    assert verdict["status"] == "valid"


def test_unknown_and_malformed_ids_get_a_friendly_404(client: httpx.Client) -> None:
    for path in (
        "/verify/not-a-certificate",
        "/verify/00000000-0000-4000-8000-000000000000",
        "/verify/00000000-0000-4000-8000-000000000000/extra/parts",
        "/verify/%3Cscript%3E",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert "Certificate not found" in response.text
        assert "<script>" not in response.text
    for path in (
        "/api/public/verify/00000000-0000-4000-8000-000000000000",
        "/api/public/verify/nope",
        "/api/public/certificates/nope/credential",
        "/api/public/certificates/00000000-0000-4000-8000-000000000000/pdf",
        "/api/public/status-lists/nope",
        "/orgs/nope/did.json",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["success"] is False, path


def test_indexes_are_random_and_the_list_is_large(client: httpx.Client, issuer: Issuer) -> None:
    indexes = []
    for _ in range(4):
        certificate_id = issue(client, issuer)["certificateId"]
        credential = client.get(f"/api/public/certificates/{certificate_id}/credential").json()
        indexes.append(int(credential["credentialStatus"]["statusListIndex"]))
    assert len(set(indexes)) == 4
    assert sorted(indexes) != list(range(min(indexes), min(indexes) + 4))
    listed = client.get(credential["credentialStatus"]["statusListCredential"]).json()
    assert StatusBitstring.decode(listed["credentialSubject"]["encodedList"]).length == (
        MIN_LIST_LENGTH
    )
