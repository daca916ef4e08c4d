"""Errors raised by the file store."""

from akowe.errors import NotFound, Unavailable, ValidationFailed


class FileNotFound(NotFound):
    """No stored file has this key."""

    code = "file_not_found"
    default_message = "The requested file could not be found"


class StoreUnavailable(Unavailable):
    """The object store did not answer (down, unreachable, or refusing our credentials)."""

    code = "storage_unavailable"
    default_message = "File storage is unavailable. Please retry in a moment."


__all__ = ["FileNotFound", "StoreUnavailable", "ValidationFailed"]
