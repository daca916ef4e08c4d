"""Domain errors: every failure a client can cause has a stable `code` and HTTP status.

ServiceError (500 unexpected)
├── ValidationFailed (400 validation_error, with field errors)
├── InvalidApiKey (401 invalid_api_key)
├── InsufficientCredits (402 insufficient_credits)
├── Forbidden (403 forbidden)
├── NotFound (404 not_found)
├── Conflict (409 conflict)
├── Unprocessable (422 unprocessable)
├── PayloadTooLarge (413 payload_too_large)
├── TooManyRequests (429 rate_limited, with Retry-After)
└── Unavailable (503 service_busy, with Retry-After)

Services raise these and never import the web framework; `akowe.api.errors` shapes them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input field, named by its camelCase path on the wire."""

    field: str
    message: str


class ServiceError(Exception):
    """Base of all domain errors."""

    code = "internal_error"
    status_code = 500
    default_message = "An unexpected error occurred. Please try again later."

    # Extra response headers (Retry-After, RateLimit); shaped by akowe.api.errors.
    headers: dict[str, str] | None = None

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class ValidationFailed(ServiceError):
    """The request is well-formed but its values are not acceptable."""

    code = "validation_error"
    status_code = 400
    default_message = "The request is invalid."

    def __init__(self, message: str | None = None, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []

    @classmethod
    def field(cls, field: str, message: str) -> ValidationFailed:
        """A validation error about one field."""
        return cls(f"{field}: {message}", [FieldError(field, message)])


class InvalidApiKey(ServiceError):
    """Missing, malformed, unknown, revoked or expired API key."""

    code = "invalid_api_key"
    status_code = 401
    default_message = "Invalid or missing API key"


class InsufficientCredits(ServiceError):
    """The account does not have enough credits."""

    code = "insufficient_credits"
    status_code = 402
    default_message = "Insufficient credits. Please top up your balance to continue."


class Forbidden(ServiceError):
    """The key may not do this (e.g. an unknown sub-account)."""

    code = "forbidden"
    status_code = 403
    default_message = "You are not allowed to perform this action."


class NotFound(ServiceError):
    """The resource does not exist or belongs to someone else."""

    code = "not_found"
    status_code = 404
    default_message = "The requested resource could not be found"


class Conflict(ServiceError):
    """The request conflicts with one still in progress."""

    code = "conflict"
    status_code = 409
    default_message = "A conflicting request is in progress. Please retry."


class Unprocessable(ServiceError):
    """The request cannot be processed as sent (e.g. an idempotency key reused)."""

    code = "unprocessable"
    status_code = 422
    default_message = "The request could not be processed."


class PayloadTooLarge(ServiceError):
    """The request body is over the route's limit."""

    code = "payload_too_large"
    status_code = 413
    default_message = "The request body is too large."


class TooManyRequests(ServiceError):
    """A rate or quota was exceeded; `Retry-After` says when to try again."""

    code = "rate_limited"
    status_code = 429
    default_message = "Too many requests. Please slow down."

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: int,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
        self.headers = {**(headers or {}), "Retry-After": str(self.retry_after)}


class Unavailable(ServiceError):
    """Saturated for now (a full queue): retry shortly."""

    code = "service_busy"
    status_code = 503
    default_message = "The service is busy. Please retry in a moment."
    retry_after = 1
