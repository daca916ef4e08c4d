"""Errors raised by templates."""

from akowe.errors import FieldError, NotFound, Unprocessable, ValidationFailed


class TemplateNotFound(NotFound):
    """No such template for this account, mode and sub-account scope (or it was deleted)."""

    code = "template_not_found"
    default_message = "The requested template could not be found"


class RenderUnavailable(NotFound):
    """A design version could not be loaded (its image is gone from the file store)."""

    code = "render_unavailable"
    default_message = "The certificate's design is no longer available"


class UnrenderableValues(Unprocessable):
    """The design cannot draw these values as designed: characters no available font has,
    or text that does not fit its box at the minimum size (422, nothing charged).

    `errors` names each value (`recipientData.name`, `recipientData.attributes.Grade`, or the
    preview's query key) with the characters or the box it does not fit.
    """

    code = "unrenderable_text"
    default_message = "The certificate cannot be drawn as designed."

    def __init__(self, errors: list[FieldError]) -> None:
        first = f"{errors[0].field}: {errors[0].message}" if errors else ""
        super().__init__(f"{self.default_message[:-1]}: {first}" if first else None)
        self.errors = errors


__all__ = ["RenderUnavailable", "TemplateNotFound", "UnrenderableValues", "ValidationFailed"]
