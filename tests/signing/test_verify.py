"""Round trips through sign and verify, and each failure named by the right check."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from akowe.signing import (
    did_document,
    did_key,
    offline_did_resolver,
    proofs,
    public_key_multibase,
    sign,
    sign_many,
    verify_credential,
)
from akowe.signing.canon import canonicalize
from akowe.signing.exceptions import UnsafeDocument
from akowe.signing.keys import generate_private_key
from akowe.signing.verify import VerificationResult
from tests.signing.conftest import NOW, Issuer


def _verify(issuer: Issuer, document: Any, **kwargs: Any) -> VerificationResult:
    return verify_credential(
        document,
        resolve_did=issuer.resolve_did,
        resolve_status_list=issuer.resolve_status_list,
        now=kwargs.pop("now", NOW),
        **kwargs,
    )


def _failed(result: VerificationResult) -> set[str]:
    return {check.name for check in result.checks if not check.passed}


def test_signed_credential_verifies_with_all_five_checks_passing(issuer: Issuer) -> None:
    result = _verify(issuer, issuer.signed())

    assert result.valid
    assert result.status == "valid"
    assert [c.as_dict()["name"] for c in result.checks] == [
        "integrity",
        "signature",
        "issuer key",
        "status",
        "expiry",
    ]
    assert all(set(c.as_dict()) == {"name", "passed", "message"} for c in result.checks)


def test_tampered_subject_name_fails_the_signature_check(issuer: Issuer) -> None:
    credential = issuer.signed()
    credential["credentialSubject"]["name"] = "Mallory"

    result = _verify(issuer, credential)

    assert _failed(result) == {"signature"}
    assert result.status == "invalid"
    assert "altered" in result.check("signature").message


def test_tampered_proof_value_fails_the_signature_check(issuer: Issuer) -> None:
    credential = issuer.signed()
    value = credential["proof"]["proofValue"]
    credential["proof"]["proofValue"] = value[:-4] + ("1111" if value[-4:] != "1111" else "2222")

    assert _failed(_verify(issuer, credential)) == {"signature"}


def test_changed_issuer_fails_the_issuer_key_check(issuer: Issuer) -> None:
    other = Issuer(did="did:web:127.0.0.1%3A8000:orgs:other", keys=[generate_private_key()])
    credential = issuer.signed()
    credential["issuer"]["id"] = other.did

    result = verify_credential(
        credential,
        resolve_did=lambda d: {
            issuer.did: issuer.did_document(),
            other.did: other.did_document(),
        }.get(d),
        now=NOW,
    )

    assert "issuer key" in _failed(result)
    assert "signed by a key of" in result.check("issuer key").message


def test_issuer_signing_with_its_own_key_for_a_credential_naming_another_issuer_fails(
    issuer: Issuer,
) -> None:
    # Re-signed properly by a key that is not the named issuer's: the signature holds, the key
    # check does not.
    other = Issuer(did="did:web:127.0.0.1%3A8000:orgs:other", keys=[generate_private_key()])
    unsigned = issuer.credential()
    signed = sign(unsigned, other.key, verification_method=other.method(), created=NOW)

    result = verify_credential(
        signed,
        resolve_did=lambda d: {
            issuer.did: issuer.did_document(),
            other.did: other.did_document(),
        }.get(d),
        now=NOW,
    )

    assert _failed(result) == {"issuer key"}


def test_key_not_in_assertion_method_fails_the_issuer_key_check(issuer: Issuer) -> None:
    credential = issuer.signed()
    document = issuer.did_document()
    document["assertionMethod"] = []

    result = verify_credential(credential, resolve_did=lambda _: document, now=NOW)

    assert _failed(result) == {"issuer key"}
    assert "does not authorise" in result.check("issuer key").message


def test_unknown_key_fails_the_issuer_key_and_signature_checks(issuer: Issuer) -> None:
    credential = issuer.signed()
    document = did_document(issuer.did, [public_key_multibase(generate_private_key())])

    result = verify_credential(credential, resolve_did=lambda _: document, now=NOW)

    assert _failed(result) == {"issuer key", "signature"}


def test_revoked_bit_fails_the_status_check_and_says_revoked(issuer: Issuer) -> None:
    credential = issuer.signed(index=1234)
    issuer.status.set(1234)

    result = _verify(issuer, credential)

    assert _failed(result) == {"status"}
    assert result.status == "revoked"
    assert "revoked" in result.check("status").message


def test_a_forged_status_list_does_not_unrevoke(issuer: Issuer) -> None:
    credential = issuer.signed(index=1234)
    issuer.status.set(1234)
    forged = issuer.status_list_credential()
    forged["credentialSubject"]["encodedList"] = type(issuer.status)().encode()

    result = verify_credential(
        credential, resolve_did=issuer.resolve_did, resolve_status_list=lambda _: forged, now=NOW
    )

    assert _failed(result) == {"status"}
    assert "does not verify" in result.check("status").message


def test_valid_until_in_the_past_fails_the_expiry_check(issuer: Issuer) -> None:
    credential = issuer.signed(valid_until=NOW + timedelta(days=30))

    assert _verify(issuer, credential).valid
    result = _verify(issuer, credential, now=NOW + timedelta(days=31))
    assert _failed(result) == {"expiry"}
    assert result.status == "expired"


def test_not_yet_valid_fails_the_expiry_check(issuer: Issuer) -> None:
    result = _verify(issuer, issuer.signed(), now=NOW - timedelta(hours=36))
    assert _failed(result) == {"expiry"}


def test_key_rotation_keeps_old_credentials_valid(issuer: Issuer) -> None:
    old_key = issuer.key
    old_credential = issuer.signed()
    issuer.rotate()
    new_credential = issuer.signed()

    assert old_credential["proof"]["verificationMethod"] == issuer.method(old_key)
    assert (
        new_credential["proof"]["verificationMethod"]
        != old_credential["proof"]["verificationMethod"]
    )
    assert _verify(issuer, old_credential).valid
    assert _verify(issuer, new_credential).valid


def test_malformed_documents_fail_integrity_with_a_reason(issuer: Issuer) -> None:
    credential = issuer.signed()
    for broken, reason in (
        ("not a credential", "JSON object"),
        ({**credential, "@context": ["https://example.com"]}, "first @context"),
        ({k: v for k, v in credential.items() if k != "proof"}, "no proof"),
    ):
        result = _verify(issuer, broken)
        assert "integrity" in _failed(result)
        assert reason in result.check("integrity").message


def test_an_unsafe_document_fails_integrity_not_with_an_exception(issuer: Issuer) -> None:
    credential = issuer.signed()
    credential["credentialSubject"]["sneaky"] = "unsigned claim"

    result = _verify(issuer, credential)

    assert {"integrity", "signature"} <= _failed(result)
    assert "sneaky" in result.check("integrity").message


def test_offline_verification_checks_signature_and_says_status_was_not_checked(
    issuer: Issuer,
) -> None:
    credential = issuer.signed()
    result = verify_credential(
        credential, resolve_did=offline_did_resolver({issuer.did: issuer.did_document()}), now=NOW
    )

    status = result.check("status")
    assert result.valid
    assert status.checked is False
    assert "Not checked" in status.message


def test_did_key_credentials_verify_offline_without_any_cached_document() -> None:
    key = generate_private_key()
    issuer = Issuer(did=did_key(key), keys=[key])
    credential = issuer.credential()
    del credential["credentialStatus"]
    signed = sign(credential, key, verification_method=issuer.method(), created=NOW)

    result = verify_credential(signed, resolve_did=offline_did_resolver(), now=NOW)

    assert result.valid, result.checks


def test_sign_many_signs_each_document_with_one_created_time(issuer: Issuer) -> None:
    documents = [issuer.credential(name=f"Person {n}", index=n) for n in range(5)]

    signed = sign_many(documents, issuer.key, verification_method=issuer.method())

    assert len({d["proof"]["created"] for d in signed}) == 1
    assert len({d["proof"]["proofValue"] for d in signed}) == 5
    assert all(_verify(issuer, d).valid for d in signed)


def test_signing_does_not_modify_the_input(issuer: Issuer) -> None:
    unsigned = issuer.credential()
    before = copy.deepcopy(unsigned)
    sign(unsigned, issuer.key, verification_method=issuer.method(), created=datetime.now(UTC))
    assert unsigned == before


def test_odd_shapes_are_reported_as_failed_checks_never_raised(issuer: Issuer) -> None:
    signed = issuer.signed()
    nested: dict[str, Any] = {}
    cursor = nested
    for _ in range(3000):
        cursor["name"] = {}
        cursor = cursor["name"]
    variants: list[Any] = [
        None,
        [],
        {**signed, "type": 5},
        {**signed, "credentialSubject": {"name": {"@value": 5, "@language": 7}}},
        {**signed, "validFrom": 12},
        {**signed, "issuer": {"id": 3}},
        {**signed, "proof": {**signed["proof"], "proofValue": "zzzz"}},
        {**signed, "proof": {**signed["proof"], "verificationMethod": "https://x"}},
        {**signed, "credentialStatus": {"type": "BitstringStatusListEntry"}},
        {**signed, "credentialSubject": nested},
    ]
    for variant in variants:
        result = _verify(issuer, variant)
        assert not result.valid
        assert result.status == "invalid"


def test_remembered_proof_options_hash_as_fresh_ones_and_failures_are_never_remembered(
    issuer: Issuer,
) -> None:
    document = issuer.credential()
    options = proofs.proof_config(document, verification_method=issuer.method(), created=NOW)
    first = proofs.hash_data(document, options)
    again = proofs.hash_data(document, dict(options))  # the remembered canonical form
    fresh = canonicalize({**options, "@context": document["@context"]})
    assert first == again and first.canonical_proof_config == fresh

    # Options too long to remember are canonicalised each time, to the same bytes.
    long_method = issuer.method() + "?" + "x" * 3000
    long = dict(options, verificationMethod=long_method)
    assert proofs.hash_data(document, long).canonical_proof_config == canonicalize(
        {**long, "@context": document["@context"]}
    )
    # A refused option (a term the contexts do not define) is refused every time.
    for _ in range(2):
        with pytest.raises(UnsafeDocument):
            proofs.hash_data(document, dict(options, madeUpTerm="x"))
