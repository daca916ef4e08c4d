"""Every check is named, and each kind of tampering fails the check it should, with a reason:
uploaded to `POST /api/public/verify` and given to `akowe verify`."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from akowe.config import Settings
from tests.certificates.conftest import Issuer, make_issuer
from tests.verification.conftest import CHECKS, cli_verify, issue


def _credential(client: httpx.Client, issuer: Issuer) -> dict[str, Any]:
    certificate_id = issue(client, issuer)["certificateId"]
    response = client.get(f"/api/public/certificates/{certificate_id}/credential")
    document: dict[str, Any] = response.json()
    return document


def _verify(client: httpx.Client, document: Any) -> dict[str, Any]:
    response = client.post("/api/public/verify", json=document)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    assert [check["name"] for check in data["checks"]] == CHECKS
    return data


def _failed(verdict: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["message"] for c in verdict["checks"] if not c["passed"]}


def test_tampered_subject_fails_the_signature(client: httpx.Client, issuer: Issuer) -> None:
    document = _credential(client, issuer)
    document["credentialSubject"]["name"] = "Mallory"
    verdict = _verify(client, document)
    assert verdict["status"] == "invalid" and verdict["valid"] is False
    assert set(_failed(verdict)) == {"signature"}
    assert "altered" in _failed(verdict)["signature"]


def test_tampered_proof_fails_the_signature(client: httpx.Client, issuer: Issuer) -> None:
    document = _credential(client, issuer)
    value = document["proof"]["proofValue"]
    document["proof"]["proofValue"] = value[:-4] + ("1111" if value[-4:] != "1111" else "2222")
    verdict = _verify(client, document)
    assert set(_failed(verdict)) == {"signature"}


def test_another_issuer_fails_the_issuer_key(
    client: httpx.Client, issuer: Issuer, make_account
) -> None:
    document = _credential(client, issuer)
    other = make_issuer(client, make_account(credits=1))
    other_did = _credential(client, other)["issuer"]["id"]
    document["issuer"]["id"] = other_did
    verdict = _verify(client, document)
    failed = _failed(verdict)
    assert "issuer key" in failed
    assert f"names {other_did} as issuer but was signed by a key of" in failed["issuer key"]
    assert verdict["status"] == "invalid"


def test_a_key_the_issuer_does_not_list_fails_the_issuer_key(
    client: httpx.Client, issuer: Issuer
) -> None:
    document = _credential(client, issuer)
    method = document["proof"]["verificationMethod"]
    document["proof"]["verificationMethod"] = method.split("#")[0] + "#z6MkunknownKey"
    verdict = _verify(client, document)
    assert "does not list the key" in _failed(verdict)["issuer key"]
    assert _failed(verdict)["signature"].startswith("Not checked")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.update(favouriteColour="blue"), "properties its contexts do not define"),
        (
            lambda d: d["@context"].append("https://example.com/evil-context.jsonld"),
            "is not supported",
        ),
        (lambda d: d.pop("proof"), "no proof"),
        (lambda d: d.update(type=["OpenBadgeCredential"]), "VerifiableCredential"),
    ],
    ids=["undefined term", "unknown context", "no proof", "not a VC"],
)
def test_malformed_documents_fail_integrity(
    client: httpx.Client, issuer: Issuer, change: Any, reason: str
) -> None:
    document = _credential(client, issuer)
    change(document)
    verdict = _verify(client, document)
    failed = _failed(verdict)
    assert "integrity" in failed and reason in failed["integrity"], failed
    assert verdict["status"] == "invalid"


def test_unreadable_uploads_are_a_400_never_a_500(client: httpx.Client) -> None:
    for content, content_type in (
        (b"not json at all", "text/plain"),
        (b"[1, 2, 3]", "application/json"),
        (b"%PDF-1.7 broken", "application/pdf"),
        (b"\x89PNG\r\n\x1a\nbroken", "image/png"),
        (b"", "application/json"),
    ):
        response = client.post(
            "/api/public/verify", content=content, headers={"content-type": content_type}
        )
        assert response.status_code == 400, (content, response.text)
        body = response.json()
        assert body["success"] is False and body["code"] == "unreadable_document"
    deep = {"a": None}
    for _ in range(200):
        deep = {"a": deep}
    response = client.post("/api/public/verify", json={"@context": [], "x": deep})
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "invalid"


def test_a_multipart_upload_works_and_the_size_is_bounded(
    client: httpx.Client, issuer: Issuer, settings: Settings
) -> None:
    document = _credential(client, issuer)
    response = client.post(
        "/api/public/verify",
        files={"file": ("credential.json", json.dumps(document), "application/json")},
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["status"] == "valid"
    big = b"{" + b" " * (3 * 1024 * 1024) + b"}"  # above the test server's 2 MiB body limit
    response = client.post(
        "/api/public/verify", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["success"] is False


def test_the_cli_names_the_same_failures_and_exits_1(
    client: httpx.Client, issuer: Issuer, settings: Settings, tmp_path: Path
) -> None:
    document = _credential(client, issuer)
    tampered = copy.deepcopy(document)
    tampered["credentialSubject"]["name"] = "Mallory"
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(tampered))
    code, verdict = cli_verify(settings, path)
    assert code == 1
    assert set(_failed(verdict)) == {"signature"}
    assert _failed(verdict) == _failed(_verify(client, tampered))


def test_offline_cli_checks_signature_with_the_cached_key_and_says_status_unchecked(
    client: httpx.Client, issuer: Issuer, settings: Settings, tmp_path: Path
) -> None:
    certificate_id = issue(client, issuer)["certificateId"]
    pdf = client.get(f"/api/public/certificates/{certificate_id}/pdf").content
    path = tmp_path / "certificate.pdf"
    path.write_bytes(pdf)
    code, verdict = cli_verify(settings, path, "--offline")
    assert code == 0 and verdict["offline"] is True
    checks = {c["name"]: c for c in verdict["checks"]}
    assert checks["signature"]["passed"]
    assert "cached in the file" in checks["issuer key"]["message"]
    assert checks["status"]["message"].startswith("Not checked (offline)")

    # A bare credential has no cached DID document: offline, the key cannot be resolved...
    credential = tmp_path / "credential.json"
    credential.write_bytes(
        client.get(f"/api/public/certificates/{certificate_id}/credential").content
    )
    code, verdict = cli_verify(settings, credential, "--offline")
    assert code == 1 and "could not be resolved" in _failed(verdict)["issuer key"]
    # ...unless one is given.
    did = tmp_path / "did.json"
    did.write_bytes(client.get(f"/orgs/{issuer.organization_id}/did.json").content)
    code, verdict = cli_verify(settings, credential, "--offline", "--did-document", str(did))
    assert code == 0

    # Tampering is caught offline too.
    tampered = json.loads(credential.read_text())
    tampered["credentialSubject"]["name"] = "Mallory"
    credential.write_text(json.dumps(tampered))
    code, verdict = cli_verify(settings, credential, "--offline", "--did-document", str(did))
    assert code == 1 and set(_failed(verdict)) == {"signature"}


def test_the_cli_refuses_what_it_cannot_read(settings: Settings, tmp_path: Path) -> None:
    from tests.verification.conftest import akowe

    path = tmp_path / "nothing.txt"
    path.write_text("hello")
    done = akowe(settings, "verify", str(path))
    assert done.returncode == 2
    assert "Send a credential" in done.stderr
