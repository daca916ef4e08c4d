"""Bulk issuance and jobs on the wire."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from akowe.certificates.schemas import Id, MailData
from akowe.schemas import NOT_BLANK, BaseSchema, RequestSchema, Timestamp

MAX_ROWS = 100_000
Duplicates = Literal["allow", "skip", "deny"]
JobStatus = Literal["validating", "queued", "running", "completed", "failed", "cancelled"]
RowStatus = Literal["validating", "pending", "issued", "failed", "skipped", "cancelled"]


class BulkRecipient(RequestSchema):
    """One recipient. Checked row by row (a bad row is reported, the others go on), so the
    values are only shaped here: `name` and `email` as text, `attributes` an object."""

    name: Annotated[str, StringConstraints(max_length=1000)] | None = None
    email: Annotated[str, StringConstraints(max_length=1000)] | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class BulkOptions(RequestSchema):
    """`dryRun`: validate and report, create nothing. `duplicates`: what to do with a
    recipient email that already holds a live certificate of the same template."""

    dry_run: bool = False
    duplicates: Duplicates = "allow"


def future_second(value: datetime | None) -> datetime | None:
    """An expiry in the future, UTC, to the second (as single issues take it)."""
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    aware = aware.astimezone(UTC).replace(microsecond=0)
    if aware <= datetime.now(UTC):
        raise PydanticCustomError("future", "must be in the future")
    return aware


class BulkSettings(RequestSchema):
    """What every row of a bulk issuance shares (the JSON body without `recipients`, or the
    multipart form's fields)."""

    organization_id: Annotated[str, StringConstraints(min_length=1, max_length=64), NOT_BLANK]
    template_id: Id | None = Field(default=None, description="The same as `mailData.templateId`.")
    mail_data: MailData | None = None
    expires_at: datetime | None = Field(
        default=None, description="When every certificate expires (ISO 8601, in the future)."
    )
    options: BulkOptions | None = None

    @field_validator("expires_at")
    @classmethod
    def _future_second(cls, value: datetime | None) -> datetime | None:
        return future_second(value)

    @property
    def resolved_template_id(self) -> str | None:
        """`mailData.templateId`, else the top-level `templateId`."""
        if self.mail_data is not None and self.mail_data.template_id:
            return self.mail_data.template_id
        return self.template_id

    @property
    def wants_email(self) -> bool:
        """An email is sent when mailData carries a subject and a body."""
        return bool(self.mail_data and self.mail_data.subject and self.mail_data.body)

    @property
    def dry_run(self) -> bool:
        """Validate only."""
        return self.options is not None and self.options.dry_run

    @property
    def duplicates(self) -> Duplicates:
        """The duplicates policy."""
        return self.options.duplicates if self.options is not None else "allow"


class BulkRequest(BulkSettings):
    """`POST /api/certificates/bulk` as JSON."""

    recipients: list[BulkRecipient] = Field(min_length=1, max_length=MAX_ROWS)


class RowError(BaseSchema):
    """Why a row is not issued: its number (1 = the first recipient, the line after a file's
    header), the column (as the input names it) and a stable code and message."""

    row: int
    column: str | None
    code: str
    message: str


class JobCounts(BaseSchema):
    """`valid` = `total` minus the rows that failed validation; `remaining` are still to run."""

    total: int
    valid: int
    issued: int
    failed: int
    skipped: int
    cancelled: int
    remaining: int


class JobRead(BaseSchema):
    """A job: its state, counts and timings; `progress` is the share of rows done (0-1)."""

    job_id: str
    kind: Literal["bulk_issue"]
    status: JobStatus
    organization_id: str
    template_id: str
    counts: JobCounts
    progress: float
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    file_name: str | None
    sub_account_email: str | None
    test: bool
    error: str | None = Field(
        default=None,
        description="Why a `failed` job issued nothing (no valid row; `duplicates: deny` and a "
        "recipient already holds a certificate): found by the workers for a submission "
        "checked after its answer.",
    )
    errors: list[RowError] | None = Field(
        default=None,
        description="On submission: the rows that failed validation (the first 1,000). Absent "
        "when the submission is still `validating` (more than 1,000 rows): the workers check "
        "its rows, and `/rows?status=failed` lists those that fail.",
    )


class BulkReport(BaseSchema):
    """A dry run's answer: what a submission would do, nothing created."""

    dry_run: Literal[True]
    counts: JobCounts
    errors: list[RowError]


class JobRowRead(BaseSchema):
    """One row's result."""

    row: int
    status: RowStatus
    name: str | None
    email: str | None
    certificate_id: str | None
    error_code: str | None
    error_column: str | None
    error_message: str | None
