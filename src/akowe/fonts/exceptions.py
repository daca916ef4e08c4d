"""Errors raised by fonts."""

from akowe.errors import NotFound, ValidationFailed
from akowe.fonts.sandbox import InspectorBusy


class FontNotFound(NotFound):
    """No such font for this account and mode."""

    code = "font_not_found"
    default_message = "The requested font could not be found"


class FontRejected(ValidationFailed):
    """The upload is not a font the renderer can use (damaged, not TTF/OTF, too large...)."""

    code = "invalid_font"


class FontNotEmbeddable(ValidationFailed):
    """The font's licence (OS/2 fsType) forbids embedding it, or subsetting it, in a PDF."""

    code = "font_not_embeddable"


__all__ = ["FontNotEmbeddable", "FontNotFound", "FontRejected", "InspectorBusy"]
