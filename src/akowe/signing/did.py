"""did:web identifiers for organizations, their DID documents, and did:key for offline checks.

The did:web mapping (W3C CCG did:web method, "Create" and "Read"):

- The base URL's host, with its port, is percent-encoded as one method-specific-id segment
  (`127.0.0.1:8000` -> `127.0.0.1%3A8000`; an IPv6 literal `[::1]:8000` -> `%5B%3A%3A1%5D%3A8000`).
- Each path segment of the base URL, then `orgs` and the organization id, follow as further
  colon-separated segments, each percent-encoded (`:` inside a segment becomes `%3A`).
- Resolution reverses this: `did:web:h:p1:p2` -> `<scheme>://h/p1/p2/did.json`; a DID of one
  segment only would resolve to `/.well-known/did.json` (we never issue those).

Examples: base `http://127.0.0.1:8000`, org `X` -> `did:web:127.0.0.1%3A8000:orgs:X` ->
`http://127.0.0.1:8000/orgs/X/did.json`; base `https://certs.example.edu/akowe`, org `X` ->
`did:web:certs.example.edu:akowe:orgs:X` -> `https://certs.example.edu/akowe/orgs/X/did.json`.

The DID does not carry the scheme. did:web mandates HTTPS; `did_web_url` uses `http` only
for loopback hosts (localhost, 127.0.0.0/8, ::1) so that `make run` works and round-trips. A
plain-HTTP base URL on any other host cannot round-trip (pass `scheme="http"` explicitly).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import quote, unquote, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from akowe.signing.exceptions import InvalidDid
from akowe.signing.keys import public_key_from_multibase, public_key_multibase
from akowe.signing.loader import DID_V1, MULTIKEY_V1

DID_DOCUMENT_CONTEXT: Final = (DID_V1, MULTIKEY_V1)
ORGS_SEGMENT: Final = "orgs"


def organization_did(base_url: str, organization_id: str) -> str:
    """The did:web DID of an organization on this service's base URL."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidDid(f"The base URL {base_url!r} is not an absolute http(s) URL.")
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise InvalidDid(f"The base URL {base_url!r} may not carry credentials, query or fragment.")
    if not organization_id:
        raise InvalidDid("An organization id is required.")
    host = parts.netloc.lower()
    path = [segment for segment in parts.path.split("/") if segment]
    segments = [host, *path, ORGS_SEGMENT, organization_id]
    return "did:web:" + ":".join(quote(segment, safe="") for segment in segments)


def organization_did_document_url(base_url: str, organization_id: str) -> str:
    """Where the organization's DID document is served (`<base>/orgs/<id>/did.json`)."""
    return f"{base_url.rstrip('/')}/{ORGS_SEGMENT}/{quote(organization_id, safe='')}/did.json"


def did_web_url(did: str, *, scheme: str | None = None) -> str:
    """The HTTPS (or loopback HTTP) URL of a did:web DID's document."""
    did = did_of(did)
    if not did.startswith("did:web:"):
        raise InvalidDid(f"{did!r} is not a did:web DID.")
    encoded = did[len("did:web:") :].split(":")
    if any(not segment for segment in encoded):
        raise InvalidDid(f"{did!r} has an empty segment.")
    segments = [unquote(segment) for segment in encoded]
    host = segments[0]
    if "/" in host or not host:
        raise InvalidDid(f"{did!r} does not name a valid host.")
    if scheme is None:
        scheme = "http" if _is_loopback(host) else "https"
    path = "/".join(quote(segment, safe="") for segment in segments[1:])
    if not path:
        return f"{scheme}://{host}/.well-known/did.json"
    return f"{scheme}://{host}/{path}/did.json"


def did_of(did_url: str) -> str:
    """The DID of a DID URL (drops the fragment, query and path), e.g. of a key id."""
    if not isinstance(did_url, str) or not did_url.startswith("did:"):
        raise InvalidDid(f"{did_url!r} is not a DID.")
    did = did_url.split("#", 1)[0].split("?", 1)[0].split("/", 1)[0]
    if did.count(":") < 2:
        raise InvalidDid(f"{did_url!r} is not a DID.")
    return did


def verification_method_id(did: str, public_key: str | Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The id of a key in a DID document: `<did>#<publicKeyMultibase>` (stable, self-describing)."""
    multibase = public_key if isinstance(public_key, str) else public_key_multibase(public_key)
    return f"{did}#{multibase}"


def multikey(did: str, public_key: str) -> dict[str, str]:
    """A Multikey verification method controlled by `did`."""
    public_key_from_multibase(public_key)  # refuses a malformed key early
    return {
        "id": verification_method_id(did, public_key),
        "type": "Multikey",
        "controller": did,
        "publicKeyMultibase": public_key,
    }


def did_document(did: str, public_keys: Iterable[str]) -> dict[str, Any]:
    """A DID document listing every key the organization ever had, all usable for assertions.

    Pass the public keys (`publicKeyMultibase`) oldest first, including rotated-out ones, so
    credentials signed with them keep verifying. Leave out only a key known to be compromised:
    every credential it signed then stops verifying, which is what one wants.
    """
    methods = [multikey(did, key) for key in dict.fromkeys(public_keys)]
    if not methods:
        raise InvalidDid("A DID document needs at least one key.")
    return {
        "@context": list(DID_DOCUMENT_CONTEXT),
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": [method["id"] for method in methods],
    }


def did_key(public_key: str | Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The did:key DID of an Ed25519 key (`did:key:z6Mk...`)."""
    multibase = public_key if isinstance(public_key, str) else public_key_multibase(public_key)
    public_key_from_multibase(multibase)
    return f"did:key:{multibase}"


def did_key_document(did: str) -> dict[str, Any]:
    """Resolve a did:key DID (Ed25519 only) to its DID document, offline."""
    did = did_of(did)
    if not did.startswith("did:key:"):
        raise InvalidDid(f"{did!r} is not a did:key DID.")
    multibase = did[len("did:key:") :]
    if not multibase.startswith("z6Mk"):
        raise InvalidDid(f"{did!r} is not an Ed25519 did:key.")
    return did_document(did, [multibase])


def find_verification_method(document: Mapping[str, Any], method_id: str) -> dict[str, Any] | None:
    """The verification method `method_id` in a DID document, or None."""
    methods = document.get("verificationMethod")
    for method in methods if isinstance(methods, list) else []:
        if isinstance(method, dict) and method.get("id") == method_id:
            return method
    return None


def is_assertion_method(document: Mapping[str, Any], method_id: str) -> bool:
    """Whether the DID document lists `method_id` under `assertionMethod`."""
    listed = document.get("assertionMethod")
    for entry in listed if isinstance(listed, list) else []:
        if entry == method_id or (isinstance(entry, dict) and entry.get("id") == method_id):
            return True
    return False


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if host.startswith("["):
        name = host[1:].split("]", 1)[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
