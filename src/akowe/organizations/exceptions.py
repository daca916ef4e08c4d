"""Errors raised by organizations."""

from akowe.errors import NotFound, ValidationFailed


class OrganizationNotFound(NotFound):
    """No such organization for this account and mode (or it was deleted)."""

    code = "organization_not_found"
    default_message = "The requested organization could not be found"


__all__ = ["OrganizationNotFound", "ValidationFailed"]
