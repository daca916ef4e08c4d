"""VC-API in test mode: issue and verify with W3C shapes, for conformance suites."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from tests.certificates.conftest import make_issuer
from tests.verification.conftest import issue


def _unsigned(issuer_did: str) -> dict[str, Any]:
    return {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://www.w3.org/ns/credentials/examples/v2",
        ],
        "type": ["VerifiableCredential", "ExampleAlumniCredential"],
        "issuer": issuer_did,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {
            "id": "did:example:abcdefgh",
            "alumniOf": "The School of Examples",
        },
    }


def _test_did(client: httpx.Client, make_account) -> tuple[Any, str]:  # type: ignore[no-untyped-def]
    account = make_account(credits=1, test_credits=2)
    sandbox = make_issuer(client, account, test=True)
    certificate_id = issue(client, sandbox)["certificateId"]
    credential = client.get(f"/api/public/certificates/{certificate_id}/credential").json()
    return sandbox, credential["issuer"]["id"]


def test_issue_then_verify_with_vc_api_shapes(client: httpx.Client, make_account) -> None:
    sandbox, did = _test_did(client, make_account)
    issued = client.post(
        "/vc-api/credentials/issue",
        headers=sandbox.headers,
        json={"credential": _unsigned(did), "options": {}},
    )
    assert issued.status_code == 201, issued.text
    signed = issued.json()["verifiableCredential"]
    assert signed["proof"]["type"] == "DataIntegrityProof"
    assert signed["proof"]["cryptosuite"] == "eddsa-rdfc-2022"
    assert signed["proof"]["verificationMethod"].startswith(did + "#")

    verified = client.post(
        "/vc-api/credentials/verify",
        headers=sandbox.headers,
        json={"verifiableCredential": signed, "options": {}},
    )
    assert verified.status_code == 200, verified.text
    body = verified.json()
    assert body["verified"] is True and body["errors"] == []
    assert {"integrity", "signature", "issuer key", "expiry"} <= set(body["checks"])

    tampered = copy.deepcopy(signed)
    tampered["credentialSubject"]["alumniOf"] = "Another School"
    refused = client.post(
        "/vc-api/credentials/verify",
        headers=sandbox.headers,
        json={"verifiableCredential": tampered},
    )
    assert refused.status_code == 400
    assert refused.json()["verified"] is False
    assert any(error.startswith("signature:") for error in refused.json()["errors"])


def test_vc_api_is_for_test_keys_and_own_test_organizations(
    client: httpx.Client, make_account
) -> None:
    sandbox, did = _test_did(client, make_account)
    live = client.post(
        "/vc-api/credentials/issue",
        headers=sandbox.account.headers(),
        json={"credential": _unsigned(did)},
    )
    assert live.status_code == 403 and live.json()["code"] == "test_mode_only"
    other, _ = _test_did(client, make_account)
    foreign = client.post(
        "/vc-api/credentials/issue", headers=other.headers, json={"credential": _unsigned(did)}
    )
    assert foreign.status_code == 400
    assert foreign.json()["errors"][0]["field"] == "credential.issuer"
    unknown_term = _unsigned(did)
    unknown_term["@context"] = ["https://www.w3.org/ns/credentials/v2"]
    undefined = client.post(
        "/vc-api/credentials/issue", headers=sandbox.headers, json={"credential": unknown_term}
    )
    assert undefined.status_code == 400
    assert undefined.json()["code"] == "unsafe_document"
    nobody = client.post("/vc-api/credentials/verify", json={"verifiableCredential": {}})
    assert nobody.status_code == 401
