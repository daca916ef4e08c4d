"""Job errors."""

from __future__ import annotations

from akowe.errors import Conflict, FieldError, NotFound, ValidationFailed


class JobNotFound(NotFound):
    """No such job for this caller."""

    code = "job_not_found"
    default_message = "The requested job could not be found"


class NoValidRows(ValidationFailed):
    """Every row failed validation: nothing to issue (the errors name each row)."""

    code = "no_valid_rows"


class DuplicateRecipients(Conflict):
    """`duplicates: deny` and some recipients already hold a live certificate of the template."""

    code = "duplicate_recipients"
    default_message = (
        "Some recipients already hold a live certificate from this template "
        '(options.duplicates is "deny"); nothing was created.'
    )

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__()
        self.errors = errors


class JobFinished(Conflict):
    """The job can no longer be cancelled or retried in its state."""

    code = "job_finished"
