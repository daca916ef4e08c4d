"""Errors raised by the file store."""

from akowe.errors import NotFound, ValidationFailed


class FileNotFound(NotFound):
    """No stored file has this key."""

    code = "file_not_found"
    default_message = "The requested file could not be found"


__all__ = ["FileNotFound", "ValidationFailed"]
