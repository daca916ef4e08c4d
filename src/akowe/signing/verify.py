"""Verify a credential and say, check by check, why it passes or fails.

Checks, always in this order and always all five: `integrity` (well-formed VC 2.0 document
that canonicalises in safe mode within limits), `signature` (the eddsa-rdfc-2022 proof),
`issuer key` (the signing key belongs to the issuer's DID and is an `assertionMethod` there),
`status` (the revocation bit, read from the status list credential, itself verified), and
`expiry` (`validFrom` / `validUntil` against now).

DID documents and status lists come from injected callables, so the same code runs online
(the caller fetches over HTTP) and offline (`offline_did_resolver`: did:key, or DID documents
cached in the file; no status resolver, so status is reported as not checked).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from akowe.errors import ServiceError
from akowe.signing import did as did_module
from akowe.signing import proofs, status_list
from akowe.signing.canon import DEFAULT_LIMITS, Limits
from akowe.signing.exceptions import InvalidDid, InvalidKey, SigningInputError
from akowe.signing.keys import public_key_from_multibase
from akowe.signing.loader import VC_V2, StaticDocumentLoader

DidResolver = Callable[[str], Mapping[str, Any] | None]
"""Given a DID, its DID document (or None if it cannot be had)."""

StatusListResolver = Callable[[str], Mapping[str, Any] | None]
"""Given a status list credential URL, the (signed) status list credential (or None)."""

SIGNATURE: Final = "signature"
ISSUER_KEY: Final = "issuer key"
INTEGRITY: Final = "integrity"
STATUS: Final = "status"
EXPIRY: Final = "expiry"
CHECK_NAMES: Final = (INTEGRITY, SIGNATURE, ISSUER_KEY, STATUS, EXPIRY)


@dataclass(frozen=True, slots=True)
class Check:
    """One named check; `checked` is False when it could not be run (e.g. status offline)."""

    name: str
    passed: bool
    message: str
    checked: bool = True

    def as_dict(self) -> dict[str, Any]:
        """The API shape `{name, passed, message}`."""
        return {"name": self.name, "passed": self.passed, "message": self.message}


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """All checks, and the verdict they add up to."""

    checks: list[Check]
    revoked: bool = False
    expired: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        """True when every check passed (a check that could not run does not fail)."""
        return all(check.passed for check in self.checks)

    @property
    def status(self) -> str:
        """`valid`, `revoked`, `expired` or `invalid` (cryptographic failures win)."""
        failed = {check.name for check in self.checks if not check.passed}
        if failed & {INTEGRITY, SIGNATURE, ISSUER_KEY}:
            return "invalid"
        if self.revoked:
            return "revoked"
        if self.expired:
            return "expired"
        return "invalid" if failed else "valid"

    def check(self, name: str) -> Check:
        """The check called `name`."""
        return next(check for check in self.checks if check.name == name)


def verify_credential(
    document: Any,
    *,
    resolve_did: DidResolver,
    resolve_status_list: StatusListResolver | None = None,
    now: datetime | None = None,
    loader: StaticDocumentLoader | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> VerificationResult:
    """Verify a credential; status is "not checked" when no status resolver is given."""
    now = now or datetime.now(UTC)
    checks: dict[str, Check] = {}
    details: dict[str, Any] = {}

    proof: dict[str, Any] | None = None
    problem = _shape_problem(document)
    if problem is None:
        try:
            proof = proofs.get_proof(document)
        except SigningInputError as error:
            problem = error.message

    public_key = None
    if problem is not None or proof is None:
        checks[INTEGRITY] = Check(INTEGRITY, False, problem or "The credential has no proof.")
        checks[SIGNATURE] = Check(SIGNATURE, False, "Not checked: the document is malformed.")
        checks[ISSUER_KEY] = Check(ISSUER_KEY, False, "Not checked: the document is malformed.")
    else:
        key_check, public_key = _check_issuer_key(document, proof, resolve_did)
        checks[ISSUER_KEY] = key_check
        try:
            if public_key is None:
                # Still canonicalise, so integrity is reported on its own merits.
                proofs.hash_data(document, proof, loader=loader, limits=limits)
                signature_ok = False
            else:
                signature_ok = proofs.verify(document, public_key, loader=loader, limits=limits)
            checks[INTEGRITY] = Check(
                INTEGRITY, True, "The document is well-formed and canonicalises safely."
            )
            if public_key is None:
                checks[SIGNATURE] = Check(
                    SIGNATURE, False, "Not checked: the signing key could not be resolved."
                )
            elif signature_ok:
                checks[SIGNATURE] = Check(SIGNATURE, True, "The signature is valid.")
            else:
                checks[SIGNATURE] = Check(
                    SIGNATURE,
                    False,
                    "The signature does not match the content: the credential was altered "
                    "or not signed by this key.",
                )
        except ServiceError as error:
            checks[INTEGRITY] = Check(INTEGRITY, False, error.message)
            checks[SIGNATURE] = Check(SIGNATURE, False, "Not checked: " + error.message)

    revoked = False
    if isinstance(document, Mapping):
        status_check, revoked = _check_status(
            document, resolve_did, resolve_status_list, now, loader, limits
        )
        expiry_check, expired = _check_expiry(document, now)
    else:
        status_check = Check(STATUS, False, "Not checked: the document is malformed.")
        expiry_check, expired = Check(EXPIRY, False, "Not checked: malformed."), False
    checks[STATUS] = status_check
    checks[EXPIRY] = expiry_check
    details["checkedAt"] = now.isoformat()
    return VerificationResult(
        checks=[checks[name] for name in CHECK_NAMES],
        revoked=revoked,
        expired=expired,
        details=details,
    )


def offline_did_resolver(cached: Mapping[str, Mapping[str, Any]] | None = None) -> DidResolver:
    """A resolver that needs no network: did:key natively, other DIDs from `cached` documents."""
    documents = dict(cached or {})

    def resolve(did: str) -> Mapping[str, Any] | None:
        if did.startswith("did:key:"):
            try:
                return did_module.did_key_document(did)
            except InvalidDid:
                return None
        return documents.get(did)

    return resolve


def issuer_id(document: Mapping[str, Any]) -> str | None:
    """The issuer's id (the `issuer` string or `issuer.id`)."""
    issuer = document.get("issuer")
    if isinstance(issuer, dict):
        issuer = issuer.get("id")
    return issuer if isinstance(issuer, str) else None


def _shape_problem(document: Any) -> str | None:
    if not isinstance(document, Mapping):
        return "The credential is not a JSON object."
    contexts = document.get("@context")
    if not isinstance(contexts, list) or not contexts or contexts[0] != VC_V2:
        return f"The credential's first @context must be {VC_V2}."
    types = document.get("type")
    if not isinstance(types, list) or "VerifiableCredential" not in types:
        return "The credential's type must include VerifiableCredential."
    if issuer_id(document) is None:
        return "The credential has no issuer."
    if not isinstance(document.get("credentialSubject"), dict | list):
        return "The credential has no credentialSubject."
    return None


def _check_issuer_key(
    document: Mapping[str, Any], proof: Mapping[str, Any], resolve_did: DidResolver
) -> tuple[Check, Any]:
    """Resolve the proof's key; it must be an assertionMethod of the issuer's DID."""
    method_id = proof["verificationMethod"]
    issuer = issuer_id(document) or ""
    if proof.get("proofPurpose") != proofs.ASSERTION_METHOD:
        return Check(ISSUER_KEY, False, "The proof's purpose is not assertionMethod."), None
    try:
        controller = did_module.did_of(method_id)
    except InvalidDid:
        return Check(ISSUER_KEY, False, f"The key id {method_id!r} is not a DID URL."), None
    try:
        did_document = resolve_did(controller)
    except Exception as error:  # a resolver's network or parse failure is a verdict, not a crash
        return Check(
            ISSUER_KEY, False, f"The DID {controller} could not be resolved: {error}"
        ), None
    if did_document is None or did_document.get("id") != controller:
        return Check(ISSUER_KEY, False, f"The DID {controller} could not be resolved."), None
    method = did_module.find_verification_method(did_document, method_id)
    if method is None:
        return Check(ISSUER_KEY, False, f"{controller} does not list the key {method_id}."), None
    try:
        public_key = public_key_from_multibase(method.get("publicKeyMultibase", ""))
    except InvalidKey as error:
        return Check(ISSUER_KEY, False, f"The key {method_id} is unusable: {error.message}"), None
    if method.get("controller") != controller or method.get("type") != "Multikey":
        return Check(
            ISSUER_KEY, False, f"{method_id} is not a Multikey of {controller}."
        ), public_key
    if not did_module.is_assertion_method(did_document, method_id):
        return (
            Check(ISSUER_KEY, False, f"{controller} does not authorise {method_id} to issue."),
            public_key,
        )
    if controller != issuer:
        return (
            Check(
                ISSUER_KEY,
                False,
                f"The credential names {issuer} as issuer but was signed by a key of {controller}.",
            ),
            public_key,
        )
    return Check(ISSUER_KEY, True, f"Signed with a key of the issuer {issuer}."), public_key


def _check_status(
    document: Mapping[str, Any],
    resolve_did: DidResolver,
    resolve_status_list: StatusListResolver | None,
    now: datetime,
    loader: StaticDocumentLoader | None,
    limits: Limits,
) -> tuple[Check, bool]:
    entry = document.get("credentialStatus")
    if entry is None:
        return Check(STATUS, True, "The credential has no revocation status."), False
    if not isinstance(entry, dict) or entry.get("type") != "BitstringStatusListEntry":
        return Check(STATUS, False, "The credential's status entry is not supported."), False
    if resolve_status_list is None:
        return (
            Check(STATUS, True, "Not checked (offline): revocation status unknown.", checked=False),
            False,
        )
    url = entry.get("statusListCredential")
    if not isinstance(url, str):
        return Check(STATUS, False, "The status entry has no statusListCredential."), False
    try:
        list_credential = resolve_status_list(url)
    except Exception as error:  # a resolver's network or parse failure is a verdict, not a crash
        return Check(STATUS, False, f"The status list {url} could not be fetched: {error}"), False
    if list_credential is None or list_credential.get("id") != url:
        return Check(STATUS, False, f"The status list {url} could not be fetched."), False
    list_result = verify_credential(
        list_credential, resolve_did=resolve_did, now=now, loader=loader, limits=limits
    )
    if not list_result.valid:
        failed = "; ".join(c.message for c in list_result.checks if not c.passed)
        return Check(STATUS, False, f"The status list {url} does not verify: {failed}"), False
    if issuer_id(list_credential) != issuer_id(document):
        return Check(STATUS, False, "The status list was issued by someone else."), False
    try:
        revoked = status_list.read_status(list_credential, entry)
    except SigningInputError as error:
        return Check(STATUS, False, error.message), False
    if revoked:
        return Check(STATUS, False, "The credential has been revoked."), True
    return Check(STATUS, True, "The credential has not been revoked."), False


def _check_expiry(document: Mapping[str, Any], now: datetime) -> tuple[Check, bool]:
    try:
        valid_from = _parse_datetime(document.get("validFrom"))
        valid_until = _parse_datetime(document.get("validUntil"))
    except ValueError as error:
        return Check(EXPIRY, False, str(error)), False
    if valid_from is not None and now < valid_from:
        return Check(EXPIRY, False, f"Not valid before {valid_from.isoformat()}."), False
    if valid_until is not None and now > valid_until:
        return Check(EXPIRY, False, f"Expired on {valid_until.isoformat()}."), True
    if valid_until is not None:
        return Check(EXPIRY, True, f"Valid until {valid_until.isoformat()}."), False
    return Check(EXPIRY, True, "The credential does not expire."), False


def _parse_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("validFrom/validUntil must be dateTime strings.")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise ValueError(f"{value!r} is not a valid dateTime.") from error
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone.")
    return moment
