"""Errors raised by templates."""

from akowe.errors import NotFound, ValidationFailed


class TemplateNotFound(NotFound):
    """No such template for this account, mode and sub-account scope (or it was deleted)."""

    code = "template_not_found"
    default_message = "The requested template could not be found"


class RenderUnavailable(NotFound):
    """A design version could not be loaded (its image is gone from the file store)."""

    code = "render_unavailable"
    default_message = "The certificate's design is no longer available"


__all__ = ["RenderUnavailable", "TemplateNotFound", "ValidationFailed"]
