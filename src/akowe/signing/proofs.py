"""`DataIntegrityProof` with the `eddsa-rdfc-2022` cryptosuite (W3C vc-di-eddsa, section 3.3).

Create: the proof configuration (`type`, `cryptosuite`, `created`, `verificationMethod`,
`proofPurpose`, with the document's `@context`) and the document without `proof` are each
canonicalised with RDFC-1.0 and hashed with SHA-256; Ed25519 signs
`sha256(canonical proof config) || sha256(canonical document)`; `proofValue` is the signature
in base58btc multibase (`z...`). Verify repeats the hashing and checks the signature.

Both canonicalisations go through `canon` (safe mode, bounds, pinned contexts), and through one
loader whose pyld context cache persists between documents: that cache is the whole difference
between ~4.7 ms and under 3 ms per signature.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from akowe.signing.canon import DEFAULT_LIMITS, Limits, canonicalize, canonicalize_built
from akowe.signing.credentials import format_datetime
from akowe.signing.exceptions import InvalidKey, InvalidProof
from akowe.signing.keys import multibase_decode, multibase_encode
from akowe.signing.loader import StaticDocumentLoader

PROOF_TYPE: Final = "DataIntegrityProof"
CRYPTOSUITE: Final = "eddsa-rdfc-2022"
ASSERTION_METHOD: Final = "assertionMethod"


@dataclass(frozen=True, slots=True)
class HashData:
    """The intermediate values of one proof (exposed for test vectors and diagnostics)."""

    canonical_document: str
    canonical_proof_config: str
    document_hash: bytes
    proof_config_hash: bytes

    @property
    def combined(self) -> bytes:
        """What Ed25519 signs: proof configuration hash, then document hash."""
        return self.proof_config_hash + self.document_hash


def proof_config(
    document: Mapping[str, Any],
    *,
    verification_method: str,
    created: datetime | str,
    proof_purpose: str = ASSERTION_METHOD,
) -> dict[str, Any]:
    """The proof options of a new proof (without `proofValue`)."""
    if "@context" not in document:
        raise InvalidProof("The document has no @context.")
    return {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": created if isinstance(created, str) else format_datetime(created),
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }


def hash_data(
    document: Mapping[str, Any],
    options: Mapping[str, Any],
    *,
    loader: StaticDocumentLoader | None = None,
    limits: Limits = DEFAULT_LIMITS,
    built: bool = False,
) -> HashData:
    """Canonicalise and hash the unsecured document and the proof options (spec 3.3.4-3.3.5).

    `built`: the document is one akowe built (it is signing it), so its shape's expansion
    is reused (`canon.canonicalize_built`); a document to verify always goes the full way.
    """
    unsecured = {key: value for key, value in document.items() if key != "proof"}
    config = {key: value for key, value in options.items() if key != "proofValue"}
    config["@context"] = unsecured["@context"]
    canonical_config = _canonical_config(config, loader=loader, limits=limits)
    canonical = canonicalize_built if built else canonicalize
    canonical_document = canonical(unsecured, loader=loader, limits=limits)
    return HashData(
        canonical_document=canonical_document,
        canonical_proof_config=canonical_config,
        document_hash=hashlib.sha256(canonical_document.encode()).digest(),
        proof_config_hash=hashlib.sha256(canonical_config.encode()).digest(),
    )


def _canonical_config(
    config: dict[str, Any], *, loader: StaticDocumentLoader | None, limits: Limits
) -> str:
    """The proof options' canonical N-Quads, remembered for the same options (text).

    A batch signs hundreds of credentials with the same options (one key, `created` to the
    second), and canonicalising them was an eighth of each signature (0.34 of 2.5 ms).
    Canonicalisation is a function of the JSON, the loader's contexts and the limits, so the
    result is keyed by all three; only small options are kept (a verifier's input is
    untrusted), and a failure is never remembered.
    """
    text = json.dumps(config, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    if len(text) > _REMEMBERED_CONFIG_CHARS:
        return canonicalize(config, loader=loader, limits=limits)
    return _canonical_config_text(text, loader, limits)


_REMEMBERED_CONFIG_CHARS: Final = 2048


@functools.lru_cache(maxsize=64)
def _canonical_config_text(text: str, loader: StaticDocumentLoader | None, limits: Limits) -> str:
    return canonicalize(json.loads(text), loader=loader, limits=limits)


def sign(
    document: Mapping[str, Any],
    key: Ed25519PrivateKey,
    *,
    verification_method: str,
    created: datetime | str | None = None,
    loader: StaticDocumentLoader | None = None,
    limits: Limits = DEFAULT_LIMITS,
    built: bool = False,
) -> dict[str, Any]:
    """The document with a new `eddsa-rdfc-2022` DataIntegrityProof (the input is not changed).

    `built`: akowe built the document (a certificate's credential), so documents of its shape
    are many and `hash_data` reuses the shape's expansion; not for a caller's document.
    """
    if "proof" in document:
        raise InvalidProof("The document already has a proof; sign the unsecured document.")
    options = proof_config(
        document,
        verification_method=verification_method,
        created=created if created is not None else datetime.now(UTC),
    )
    data = hash_data(document, options, loader=loader, limits=limits, built=built)
    proof = dict(options, proofValue=multibase_encode(key.sign(data.combined)))
    return {**document, "proof": proof}


def sign_many(
    documents: Iterable[Mapping[str, Any]],
    key: Ed25519PrivateKey,
    *,
    verification_method: str,
    created: datetime | str | None = None,
    loader: StaticDocumentLoader | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> list[dict[str, Any]]:
    """Sign many documents with one key and one `created` time (a bulk issuance batch)."""
    moment = created if created is not None else datetime.now(UTC)
    return [
        sign(
            document,
            key,
            verification_method=verification_method,
            created=moment,
            loader=loader,
            limits=limits,
        )
        for document in documents
    ]


def get_proof(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document's single `eddsa-rdfc-2022` proof, checked for shape."""
    proof = document.get("proof")
    if isinstance(proof, list):
        if len(proof) != 1:
            raise InvalidProof("Exactly one proof is supported.")
        proof = proof[0]
    if not isinstance(proof, dict):
        raise InvalidProof("The document has no proof.")
    if proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") != CRYPTOSUITE:
        raise InvalidProof(
            f"Only {PROOF_TYPE} proofs with the {CRYPTOSUITE} cryptosuite are supported."
        )
    for field in ("verificationMethod", "proofPurpose", "proofValue"):
        if not isinstance(proof.get(field), str):
            raise InvalidProof(f"The proof has no {field}.")
    if "@context" in proof:
        contexts = document.get("@context")
        own = proof["@context"] if isinstance(proof["@context"], list) else [proof["@context"]]
        if not isinstance(contexts, list) or contexts[: len(own)] != own:
            raise InvalidProof("The proof's @context does not match the document's.")
    return proof


def verify(
    document: Mapping[str, Any],
    public_key: Ed25519PublicKey,
    *,
    loader: StaticDocumentLoader | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> bool:
    """Whether the document's proof is a valid signature by `public_key` over its content."""
    proof = get_proof(document)
    try:
        signature = multibase_decode(proof["proofValue"])
    except InvalidKey as error:
        raise InvalidProof("proofValue is not base58btc multibase.") from error
    if len(signature) != 64:
        return False
    data = hash_data(document, proof, loader=loader, limits=limits)
    try:
        public_key.verify(signature, data.combined)
    except InvalidSignature:
        return False
    return True
