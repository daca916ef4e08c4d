"""Errors raised by the credit ledger."""

from akowe.errors import InsufficientCredits, ValidationFailed

__all__ = ["InsufficientCredits", "ValidationFailed"]
