"""Errors raised by delivery: resends and webhook endpoints."""

from akowe.errors import Conflict, NotFound, ValidationFailed


class CertificateRevoked(Conflict):
    """A revoked certificate is not emailed again."""

    code = "certificate_revoked"
    default_message = "The certificate has been revoked and cannot be resent"


class WebhookNotFound(NotFound):
    """No such webhook endpoint for this caller."""

    default_message = "The requested webhook could not be found"


class MessageNotFound(NotFound):
    """No such outbox message."""

    default_message = "The requested delivery could not be found"


class NotRetryable(Conflict):
    """Only failed or retrying messages can be retried by an operator."""

    code = "not_retryable"
    default_message = "Only failed or retrying deliveries can be retried"


__all__ = [
    "CertificateRevoked",
    "MessageNotFound",
    "NotRetryable",
    "ValidationFailed",
    "WebhookNotFound",
]
