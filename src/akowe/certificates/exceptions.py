"""Errors raised by issuance and the certificate lifecycle."""

from akowe.errors import Conflict, InsufficientCredits, NotFound, Unprocessable, ValidationFailed
from akowe.templates.exceptions import RenderUnavailable


class CertificateNotFound(NotFound):
    """No such certificate for this caller."""

    default_message = "The requested certificate could not be found"


class AlreadyRevoked(Conflict):
    """Revocation is final; a second one changes nothing."""

    code = "already_revoked"
    default_message = "The certificate has already been revoked"


class IdempotencyKeyInUse(Conflict):
    """The same Idempotency-Key is being processed by another request."""

    code = "idempotency_key_in_use"
    default_message = "A request with this Idempotency-Key is still being processed. Retry shortly."


class IdempotencyKeyReused(Unprocessable):
    """The same Idempotency-Key was sent with a different request."""

    code = "idempotency_key_reused"
    default_message = "This Idempotency-Key was already used with a different request body."


__all__ = [
    "AlreadyRevoked",
    "CertificateNotFound",
    "IdempotencyKeyInUse",
    "IdempotencyKeyReused",
    "InsufficientCredits",
    "RenderUnavailable",
    "ValidationFailed",
]


class RevokedNotCorrectable(Conflict):
    """A revoked certificate stays as it was revoked."""

    code = "certificate_revoked"
    default_message = "The certificate has been revoked and cannot be corrected"


class CertificateErased(Conflict):
    """Erasure is final: nothing more can be done with the certificate."""

    code = "certificate_erased"
    default_message = "The certificate has been erased: its recipient's data is gone for good"


class CertificateChanged(Conflict):
    """Another correction or erasure landed between the checks and the write."""

    code = "certificate_changed"
    default_message = "The certificate changed while it was being corrected. Retry."
