"""Errors raised by templates."""

from akowe.errors import NotFound, ValidationFailed


class TemplateNotFound(NotFound):
    """No such template for this account, mode and sub-account scope (or it was deleted)."""

    code = "template_not_found"
    default_message = "The requested template could not be found"


__all__ = ["TemplateNotFound", "ValidationFailed"]
