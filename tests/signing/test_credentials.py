"""The Open Badges 3.0 credential builder."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from akowe.signing import identity_hash
from akowe.signing.canon import canonicalize, expand
from akowe.signing.exceptions import SigningInputError
from tests.signing.conftest import BASE_URL, Issuer

OB = "https://purl.imsglobal.org/spec/vc/ob/vocab.html#"


def test_credential_is_an_open_badge_with_vc2_and_ob303_contexts(issuer: Issuer) -> None:
    credential = issuer.credential()

    assert credential["@context"] == [
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
    ]
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["issuer"]["id"] == issuer.did
    assert credential["issuer"]["type"] == ["Profile"]
    assert credential["issuer"]["image"] == {
        "id": f"{BASE_URL}/files/org-logo.png",
        "type": "Image",
    }
    assert credential["credentialSubject"]["achievement"]["criteria"]["narrative"].startswith(
        "Passed"
    )
    assert credential["credentialStatus"]["type"] == "BitstringStatusListEntry"
    assert credential["credentialStatus"]["statusListIndex"] == "94567"


def test_credential_passes_safe_mode_expansion_with_every_term_defined(issuer: Issuer) -> None:
    expanded = json.dumps(expand(issuer.credential(valid_until=datetime(2030, 1, 1, tzinfo=UTC))))

    for term in ("IdentityObject", "identityHash", "Result", "ResultDescription", "achievement"):
        assert OB + term in expanded
    assert "https://www.w3.org/2018/credentials#validUntil" in expanded
    assert "https://www.w3.org/ns/credentials/status#statusListIndex" in expanded


def test_recipient_email_never_appears_only_its_salted_hash(issuer: Issuer) -> None:
    credential = issuer.credential()
    identity = credential["credentialSubject"]["identifier"][0]

    assert "john@example.com" not in json.dumps(credential)
    assert "john@example.com" not in canonicalize(credential)
    assert identity == {
        "type": "IdentityObject",
        "identityHash": "sha256$"
        + hashlib.sha256(b"john@example.com" + identity["salt"].encode()).hexdigest(),
        "identityType": "emailAddress",
        "hashed": True,
        "salt": identity["salt"],
    }


def test_identity_hash_ignores_case_and_surrounding_spaces() -> None:
    assert identity_hash(" John@Example.com ", "s") == identity_hash("john@example.com", "s")
    assert identity_hash("john@example.com", "s") != identity_hash("john@example.com", "t")


def test_attributes_become_results_with_named_result_descriptions(issuer: Issuer) -> None:
    credential = issuer.credential(attributes={"Course Name": "Machine Learning", "Grade": "A"})
    achievement = credential["credentialSubject"]["achievement"]
    results = credential["credentialSubject"]["result"]

    names = {d["id"]: d["name"] for d in achievement["resultDescription"]}
    assert {names[r["resultDescription"]]: r["value"] for r in results} == {
        "Course Name": "Machine Learning",
        "Grade": "A",
    }
    assert all(d["resultType"] == "Result" for d in achievement["resultDescription"])
    assert "#attribute-Course%20Name" in achievement["resultDescription"][0]["id"]


def test_credential_without_attributes_or_expiry_has_neither(issuer: Issuer) -> None:
    credential = issuer.credential(attributes={})
    assert "result" not in credential["credentialSubject"]
    assert "validUntil" not in credential
    canonicalize(credential)


def test_valid_until_before_valid_from_is_refused(issuer: Issuer) -> None:
    with pytest.raises(SigningInputError, match="validUntil"):
        issuer.credential(valid_until=datetime(2000, 1, 1, tzinfo=UTC))
