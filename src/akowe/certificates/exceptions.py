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
