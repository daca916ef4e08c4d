"""did:web identifiers, DID documents and did:key."""

from __future__ import annotations

import pytest

from akowe.signing import did, keys
from akowe.signing.canon import canonicalize
from akowe.signing.exceptions import InvalidDid


@pytest.mark.parametrize(
    ("base", "expected_did", "expected_url"),
    [
        (
            "http://127.0.0.1:8000",
            "did:web:127.0.0.1%3A8000:orgs:X",
            "http://127.0.0.1:8000/orgs/X/did.json",
        ),
        (
            "https://certs.example.edu",
            "did:web:certs.example.edu:orgs:X",
            "https://certs.example.edu/orgs/X/did.json",
        ),
        (
            "https://example.com:8443/akowe/v1/",
            "did:web:example.com%3A8443:akowe:v1:orgs:X",
            "https://example.com:8443/akowe/v1/orgs/X/did.json",
        ),
        (
            "http://localhost:8000/prefix",
            "did:web:localhost%3A8000:prefix:orgs:X",
            "http://localhost:8000/prefix/orgs/X/did.json",
        ),
        (
            "http://[::1]:8000",
            "did:web:%5B%3A%3A1%5D%3A8000:orgs:X",
            "http://[::1]:8000/orgs/X/did.json",
        ),
    ],
)
def test_organization_did_maps_base_url_and_round_trips_to_its_document_url(
    base: str, expected_did: str, expected_url: str
) -> None:
    identifier = did.organization_did(base, "X")
    assert identifier == expected_did
    assert did.did_web_url(identifier) == expected_url
    assert did.organization_did_document_url(base, "X") == expected_url


def test_host_names_are_case_insensitive_in_the_did() -> None:
    assert did.organization_did("https://Certs.Example.EDU", "X") == (
        "did:web:certs.example.edu:orgs:X"
    )


def test_non_loopback_hosts_resolve_over_https_unless_told_otherwise() -> None:
    identifier = did.organization_did("http://akowe.lan:8000", "X")
    assert did.did_web_url(identifier) == "https://akowe.lan:8000/orgs/X/did.json"
    assert did.did_web_url(identifier, scheme="http") == "http://akowe.lan:8000/orgs/X/did.json"


def test_a_bare_domain_did_resolves_to_well_known() -> None:
    assert did.did_web_url("did:web:example.com") == "https://example.com/.well-known/did.json"


def test_did_url_of_a_key_id_resolves_the_did() -> None:
    assert did.did_web_url("did:web:example.com:orgs:X#z6Mkabc") == (
        "https://example.com/orgs/X/did.json"
    )


def test_malformed_base_urls_and_dids_are_refused() -> None:
    with pytest.raises(InvalidDid):
        did.organization_did("ftp://example.com", "X")
    with pytest.raises(InvalidDid):
        did.organization_did("https://user:pw@example.com", "X")
    with pytest.raises(InvalidDid):
        did.did_web_url("did:key:z6Mkabc")
    with pytest.raises(InvalidDid):
        did.did_web_url("did:web:example.com::orgs")


def test_did_document_lists_every_key_as_multikey_and_assertion_method() -> None:
    identifier = did.organization_did("http://127.0.0.1:8000", "X")
    old, new = keys.generate_private_key(), keys.generate_private_key()
    document = did.did_document(
        identifier, [keys.public_key_multibase(old), keys.public_key_multibase(new)]
    )

    assert document["@context"] == [
        "https://www.w3.org/ns/did/v1",
        "https://w3id.org/security/multikey/v1",
    ]
    assert document["id"] == identifier
    methods = document["verificationMethod"]
    assert [m["type"] for m in methods] == ["Multikey", "Multikey"]
    assert all(m["controller"] == identifier for m in methods)
    assert methods[0]["id"] == f"{identifier}#{keys.public_key_multibase(old)}"
    assert document["assertionMethod"] == [m["id"] for m in methods]
    # Every term is defined by the pinned DID and Multikey contexts.
    assert "https://w3id.org/security#publicKeyMultibase" in canonicalize(document)


def test_did_key_resolves_offline_to_its_single_key() -> None:
    key = keys.generate_private_key()
    identifier = did.did_key(key)
    multibase = keys.public_key_multibase(key)
    assert identifier == f"did:key:{multibase}"

    document = did.did_key_document(identifier + "#" + multibase)

    assert document["verificationMethod"][0]["id"] == f"{identifier}#{multibase}"
    assert did.is_assertion_method(document, f"{identifier}#{multibase}")
