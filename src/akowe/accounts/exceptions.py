"""Errors raised by accounts and keys."""

from akowe.errors import Forbidden, InvalidApiKey, NotFound, ValidationFailed


class UnknownSubAccount(Forbidden):
    """`x-subaccount-email` names no sub-account of the key's account."""

    code = "unknown_subaccount"
    default_message = "The sub-account is not part of this account"


class AccountNotFound(NotFound):
    """No such account."""

    default_message = "The requested account could not be found"


class KeyNotFound(NotFound):
    """No such API key."""

    default_message = "The requested API key could not be found"


__all__ = [
    "AccountNotFound",
    "InvalidApiKey",
    "KeyNotFound",
    "UnknownSubAccount",
    "ValidationFailed",
]
