"""Signing core: keys, DIDs, Open Badges 3.0 credentials, Data Integrity proofs, status lists.

Pure: no database, no web framework. The services that own organizations, certificates and
pages call these functions with plain arguments.
"""

from akowe.signing.baking import bake, extract_credential_from_png, unbake
from akowe.signing.canon import (
    DEFAULT_LIMITS,
    Limits,
    canonicalize,
    canonicalize_nquads,
    expand,
    strip_control_characters,
    strip_controls,
)
from akowe.signing.credentials import (
    AchievementInfo,
    IssuerProfile,
    StatusEntry,
    build_credential,
    identity_hash,
    new_salt,
)
from akowe.signing.did import (
    did_document,
    did_key,
    did_key_document,
    did_of,
    did_web_url,
    organization_did,
    organization_did_document_url,
    verification_method_id,
)
from akowe.signing.keys import (
    decrypt_private_key,
    encrypt_private_key,
    generate_private_key,
    generate_secret,
    private_key_from_multibase,
    public_key_from_multibase,
    public_key_multibase,
    read_or_create_secret,
    secret_key_multibase,
)
from akowe.signing.loader import DEFAULT_CONTEXTS, StaticDocumentLoader, default_loader
from akowe.signing.pdf import extract_credential_from_pdf
from akowe.signing.proofs import sign, sign_many
from akowe.signing.proofs import verify as verify_proof
from akowe.signing.status_list import (
    MIN_LIST_LENGTH,
    StatusBitstring,
    allocate_index,
    build_status_list_credential,
)
from akowe.signing.verify import (
    Check,
    DidResolver,
    StatusListResolver,
    VerificationResult,
    offline_did_resolver,
    verify_credential,
)

__all__ = [
    "DEFAULT_CONTEXTS",
    "DEFAULT_LIMITS",
    "MIN_LIST_LENGTH",
    "AchievementInfo",
    "Check",
    "DidResolver",
    "IssuerProfile",
    "Limits",
    "StaticDocumentLoader",
    "StatusBitstring",
    "StatusEntry",
    "StatusListResolver",
    "VerificationResult",
    "allocate_index",
    "bake",
    "build_credential",
    "build_status_list_credential",
    "canonicalize",
    "canonicalize_nquads",
    "decrypt_private_key",
    "default_loader",
    "did_document",
    "did_key",
    "did_key_document",
    "did_of",
    "did_web_url",
    "encrypt_private_key",
    "expand",
    "extract_credential_from_pdf",
    "extract_credential_from_png",
    "generate_private_key",
    "generate_secret",
    "identity_hash",
    "new_salt",
    "offline_did_resolver",
    "organization_did",
    "organization_did_document_url",
    "private_key_from_multibase",
    "public_key_from_multibase",
    "public_key_multibase",
    "read_or_create_secret",
    "secret_key_multibase",
    "sign",
    "sign_many",
    "strip_control_characters",
    "strip_controls",
    "unbake",
    "verification_method_id",
    "verify_credential",
    "verify_proof",
]
