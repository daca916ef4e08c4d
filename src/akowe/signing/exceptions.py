"""Errors raised by the signing core.

ServiceError
├── ContextIntegrityError (500 context_integrity): a shipped context does not match its pin
├── KeyDecryptionFailed (500 key_decryption_failed): wrong secret or damaged ciphertext
├── MissingSecretKey (500 secret_key_missing): no AKOWE_SECRET_KEY (nor data-dir file)
├── SigningFailed (500 signing_failed): a credential could not be stored after retries
├── CredentialPending (503 credential_pending): not signed yet, retry in a moment
├── OrganizationUnknown (404 not_found): no such organization to sign for
├── NotFound (404 not_found)
│   ├── DidNotFound: no DID document at this address (or no key yet)
│   └── StatusListNotFound
└── ValidationFailed (400)
    └── SigningInputError (400 signing_input_invalid)
        ├── UnsafeDocument (400 unsafe_document): safe-mode JSON-LD refused the document
        │   └── UnknownContext (400 unknown_context): an @context URL that is not pinned
        ├── DocumentTooLarge (400 document_too_large)
        ├── CanonicalizationLimitExceeded (400 canonicalization_limit): blank nodes, work or time
        ├── InvalidDid (400 invalid_did)
        ├── InvalidKey (400 invalid_key)
        ├── InvalidProof (400 invalid_proof): a proof that cannot even be checked
        ├── InvalidStatusList (400 invalid_status_list)
        └── InvalidImage (400 invalid_image): not a PNG, or not a PDF
"""

from __future__ import annotations

from akowe.errors import NotFound, ServiceError, ValidationFailed


class ContextIntegrityError(ServiceError):
    """A pinned JSON-LD context file differs from the SHA-256 it was pinned with."""

    code = "context_integrity"
    default_message = "A pinned JSON-LD context does not match its hash."


class KeyDecryptionFailed(ServiceError):
    """An encrypted private key could not be decrypted (wrong secret or damaged data)."""

    code = "key_decryption_failed"
    default_message = "The private key could not be decrypted with the configured secret key."


class SigningInputError(ValidationFailed):
    """Input to the signing core is not acceptable."""

    code = "signing_input_invalid"
    default_message = "The document cannot be signed or verified."


class UnsafeDocument(SigningInputError):
    """Safe-mode JSON-LD processing refused the document (undefined term, relative IRI...)."""

    code = "unsafe_document"
    default_message = "The document uses terms that its contexts do not define."


class UnknownContext(UnsafeDocument):
    """The document names an @context URL that is not one of the pinned contexts."""

    code = "unknown_context"
    default_message = "The document uses a JSON-LD context that is not supported."


class DocumentTooLarge(SigningInputError):
    """The document exceeds the size limit for canonicalisation."""

    code = "document_too_large"
    default_message = "The document is too large."


class CanonicalizationLimitExceeded(SigningInputError):
    """Canonicalisation would take too many blank nodes, steps or seconds."""

    code = "canonicalization_limit"
    default_message = "The document is too complex to canonicalise."


class InvalidDid(SigningInputError):
    """A DID or DID URL is malformed or of an unsupported method."""

    code = "invalid_did"
    default_message = "The DID is not valid."


class InvalidKey(SigningInputError):
    """A key encoding (multibase, multicodec) is malformed."""

    code = "invalid_key"
    default_message = "The key is not valid."


class InvalidProof(SigningInputError):
    """A proof is missing or malformed."""

    code = "invalid_proof"
    default_message = "The proof is not valid."


class InvalidStatusList(SigningInputError):
    """A status list is malformed or an index is out of range."""

    code = "invalid_status_list"
    default_message = "The status list is not valid."


class InvalidImage(SigningInputError):
    """The bytes are not a readable PNG or PDF."""

    code = "invalid_image"
    default_message = "The file is not a valid image or PDF."


class MissingSecretKey(ServiceError):
    """Neither AKOWE_SECRET_KEY nor the data directory's `secret-key` file is there."""

    code = "secret_key_missing"
    default_message = (
        "AKOWE_SECRET_KEY is not set. It encrypts the organizations' signing keys: generate one "
        "with `akowe signing secret`, keep it safe (losing it means new keys for every "
        "organization) and set AKOWE_SECRET_KEY. `akowe serve --demo` (`make run`) creates one "
        "in the data directory instead."
    )


class SigningFailed(ServiceError):
    """A credential could not be stored after several tries (heavy contention)."""

    code = "signing_failed"
    default_message = "The certificate's credential could not be signed. Please retry."


class OrganizationUnknown(ServiceError):
    """No organization with this id (any account)."""

    code = "not_found"
    status_code = 404
    default_message = "The requested organization could not be found"


class CredentialPending(ServiceError):
    """The certificate's credential is not signed yet (the worker has it in hand)."""

    code = "credential_pending"
    status_code = 503
    default_message = "The certificate's signed credential is being prepared. Retry in a moment."
    retry_after = 1


class DidNotFound(NotFound):
    """No such organization DID (or it has no key yet)."""

    default_message = "No DID document is published at this address"


class StatusListNotFound(NotFound):
    """No such status list."""

    default_message = "The requested status list could not be found"
