"""CI verifies credentials issued by a running server with an independent implementation.

Certificates are issued through the real HTTP API; their credentials, the issuers' DID
documents and the status lists are fetched over HTTP from the running test server, and
Digital Bazaar's npm libraries (tests/signing/node, run by Node) verify them: valid passes,
tampered subject, proof or issuer fails, revoked shows revoked, the status list verifies,
and a credential signed before a key rotation still verifies against the new DID document.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx

from akowe.config import Settings
from akowe.signing.did import did_web_url
from akowe.signing.loader import DEFAULT_CONTEXTS, read_pinned_context
from tests.certificates.conftest import Issuer, make_issuer
from tests.signing.test_node_verifier import _run
from tests.verification.conftest import akowe, issue


def _credential(client: httpx.Client, certificate_id: str) -> dict[str, Any]:
    response = client.get(f"/api/public/certificates/{certificate_id}/credential")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _fetch(url: str) -> dict[str, Any]:
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, (url, response.text)
    document: dict[str, Any] = response.json()
    return document


def test_npm_verifier_checks_credentials_fetched_from_the_running_server(
    client: httpx.Client, issuer: Issuer, make_account, settings: Settings, tmp_path: Path
) -> None:
    old = _credential(client, issue(client, issuer)["certificateId"])
    rotated = akowe(settings, "signing", "rotate", issuer.organization_id)
    assert rotated.returncode == 0, rotated.stderr
    valid = _credential(client, issue(client, issuer)["certificateId"])
    revoked_id = issue(client, issuer)["certificateId"]
    revoked = _credential(client, revoked_id)
    response = client.post(
        f"/api/certificates/{revoked_id}/revoke", headers=issuer.headers, json={"reason": "x"}
    )
    assert response.status_code == 200
    other = make_issuer(client, make_account(credits=1))
    other_did = _credential(client, issue(client, other)["certificateId"])["issuer"]["id"]
    sandbox = make_issuer(client, make_account(test_credits=1), test=True)
    test_mode = _credential(client, issue(client, sandbox)["certificateId"])

    documents: dict[str, Any] = {url: read_pinned_context(url) for url in DEFAULT_CONTEXTS}
    for credential in (valid, test_mode):
        did = credential["issuer"]["id"]
        documents[did] = _fetch(did_web_url(did))  # http for the loopback test server
        status_url = credential["credentialStatus"]["statusListCredential"]
        documents[status_url] = _fetch(status_url)
    documents[other_did] = _fetch(did_web_url(other_did))
    status_list_url = valid["credentialStatus"]["statusListCredential"]
    assert revoked["credentialStatus"]["statusListCredential"] == status_list_url

    tampered_subject = copy.deepcopy(valid)
    tampered_subject["credentialSubject"]["name"] = "Mallory"
    tampered_proof = copy.deepcopy(valid)
    value = tampered_proof["proof"]["proofValue"]
    tampered_proof["proof"]["proofValue"] = value[:-4] + (
        "1111" if value[-4:] != "1111" else "2222"
    )
    changed_issuer = copy.deepcopy(valid)
    changed_issuer["issuer"]["id"] = other_did
    cases = [
        {"name": "valid", "credential": valid},
        {"name": "signed before rotation", "credential": old},
        {"name": "tampered subject", "credential": tampered_subject},
        {"name": "tampered proof", "credential": tampered_proof},
        {"name": "changed issuer", "credential": changed_issuer},
        {"name": "revoked", "credential": revoked},
        {"name": "status list", "credential": documents[status_list_url]},
        {"name": "test mode", "credential": test_mode},
    ]
    output = _run(tmp_path, documents, cases)
    results = {result["name"]: result for result in output["results"]}
    (tmp_path / "node-results.json").write_text(json.dumps(output, indent=2))

    assert output["contextsMatchNpm"] == {url: True for url in DEFAULT_CONTEXTS}
    for name in ("valid", "signed before rotation"):
        assert results[name]["verified"], (name, results[name]["errors"])
        assert results[name]["status"] == {"verified": True, "revoked": False}, name
    for name in ("tampered subject", "tampered proof", "changed issuer"):
        assert not results[name]["verified"], name
    assert not results["tampered subject"]["signature"]
    assert not results["tampered proof"]["signature"]
    assert results["revoked"]["signature"]
    # The library reports the bit; deciding that a set bit means "not valid" is the caller's.
    assert results["revoked"]["status"] == {"verified": True, "revoked": True}
    assert results["status list"]["verified"], results["status list"]["errors"]
    # Cryptographically sound, but its issuer is the organization's test-mode DID.
    assert results["test mode"]["verified"], results["test mode"]["errors"]
    assert ":test:orgs:" in test_mode["issuer"]["id"]
