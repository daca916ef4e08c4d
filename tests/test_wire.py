"""Every answer is built as a plain dict (akowe.schemas): each must have exactly the shape its
documented `*Read` model gives it, byte for byte once re-serialised by that model."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel

from akowe.certificates.schemas import CertificateRead
from akowe.organizations.schemas import OrganizationRead
from akowe.templates.schemas import TemplateRead
from tests.certificates.conftest import make_issuer


def assert_conforms(model: type[BaseModel], wire: dict[str, Any]) -> None:
    parsed = model.model_validate(wire)
    assert parsed.model_dump(mode="json", by_alias=True) == wire
    assert list(parsed.model_dump(by_alias=True)) == list(wire)  # same keys, same order


def test_certificate_answers_match_certificate_read(client: httpx.Client, make_account) -> None:
    account = make_account(credits=5, test_credits=5)
    live, sandbox = make_issuer(client, account), make_issuer(client, account, test=True)
    issued = client.post("/api/certificates/issue", headers=live.headers, json=live.body())
    assert issued.status_code == 201
    certificate_id = issued.json()["data"]["certificateId"]
    silent = live.body()
    silent["mailData"] = {"templateId": live.template_id}
    quiet = client.post("/api/certificates/issue", headers=live.headers, json=silent)
    revoked = client.post(
        f"/api/certificates/{quiet.json()['data']['certificateId']}/revoke",
        headers=live.headers,
        json={"reason": "issued in error"},
    )
    test = client.post("/api/certificates/issue", headers=sandbox.headers, json=sandbox.body())
    fetched = client.get(f"/api/certificates/{certificate_id}", headers=live.headers)
    listed = client.get("/api/certificates", headers=live.headers)
    answers = [
        issued.json()["data"],
        revoked.json()["data"],
        test.json()["data"],
        fetched.json()["data"],
        *listed.json()["data"],
    ]
    assert revoked.json()["data"]["revokedAt"].endswith("Z")
    assert test.json()["data"]["test"] is True
    for answer in answers:
        assert_conforms(CertificateRead, answer)


def test_organization_and_template_answers_match_their_models(
    client: httpx.Client, make_account
) -> None:
    account = make_account()
    issuer = make_issuer(client, account)
    organizations = client.get("/api/profile/organization", headers=issuer.headers).json()
    templates = client.get("/api/templates", headers=issuer.headers).json()
    one = client.get(f"/api/templates/{issuer.template_id}", headers=issuer.headers).json()
    assert organizations["data"] and templates["data"]
    for organization in organizations["data"]:
        assert_conforms(OrganizationRead, organization)
    for template in [*templates["data"], one["data"]]:
        assert_conforms(TemplateRead, template)


def test_verification_answers_match_verification_read(client: httpx.Client, make_account) -> None:
    from akowe.verification.schemas import VerificationRead

    account = make_account(credits=3, test_credits=1)
    live, sandbox = make_issuer(client, account), make_issuer(client, account, test=True)
    body = live.body(expiresAt="2099-12-31T23:59:59Z")
    issued = client.post("/api/certificates/issue", headers=live.headers, json=body).json()
    certificate_id = issued["data"]["certificateId"]
    assert_conforms(CertificateRead, issued["data"])
    assert issued["data"]["expiresAt"] == "2099-12-31T23:59:59.000Z"
    test = client.post("/api/certificates/issue", headers=sandbox.headers, json=sandbox.body())
    answers = [
        client.get(f"/api/public/verify/{certificate_id}").json()["data"],
        client.get(f"/api/public/verify/{test.json()['data']['certificateId']}").json()["data"],
    ]
    credential = client.get(f"/api/public/certificates/{certificate_id}/credential").json()
    answers.append(client.post("/api/public/verify", json=credential).json()["data"])
    credential["credentialSubject"]["name"] = "Mallory"
    answers.append(client.post("/api/public/verify", json=credential).json()["data"])
    assert [a["status"] for a in answers] == ["valid", "test", "valid", "invalid"], answers
    for answer in answers:
        assert_conforms(VerificationRead, answer)
