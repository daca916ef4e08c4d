"""Bulk issuance: validate every row before anything is charged, then issue in chunks.

`submit` parses and checks every row (the same checks as a single issue: required values,
email syntax, the attributes the template prints, characters the fonts can draw) plus
duplicates inside the input and, by `options.duplicates`, against live certificates of the
template; then records the job and its rows in one transaction (nothing charged yet).

`run_chunk` is one worker step: in ONE transaction it takes the next rows of the job whose
turn it is (the job served longest ago: jobs take turns chunk by chunk, so a big job never
starves a small one), issues each through `certificates.service.record` (the same debit,
certificate, email, webhook event and signing message as a single issue) and marks the rows
issued. The transaction is the claim: a worker killed mid-chunk leaves nothing behind (the
database rolls it back) and its rows are taken by the next worker; a row is marked issued in
the transaction that records its certificate, so no row is ever issued or charged twice. On
PostgreSQL rows are taken `FOR UPDATE SKIP LOCKED`, so several workers split one job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from pydantic import ValidationError
from sqlalchemy import Table, bindparam, exists, func, select, update
from sqlalchemy.orm import Session

from akowe.accounts.service import Principal
from akowe.certificates import idempotency
from akowe.certificates import service as certificates_service
from akowe.certificates.checks import check_against_template
from akowe.certificates.drawable import Design, check_values, design_of
from akowe.certificates.models import Certificate
from akowe.certificates.schemas import IssueRequest, MailData, RecipientData
from akowe.credits import service as credits_service
from akowe.credits.exceptions import InsufficientCredits
from akowe.credits.models import CreditBalance
from akowe.db.base import new_id, utcnow
from akowe.db.database import Database, session_reader
from akowe.db.statements import DriverReader, Query
from akowe.delivery import service as delivery_service
from akowe.errors import FieldError, ServiceError, ValidationFailed
from akowe.jobs import files
from akowe.jobs.exceptions import DuplicateRecipients, JobFinished, JobNotFound, NoValidRows
from akowe.jobs.files import Columns, Input
from akowe.jobs.models import Job, JobRow
from akowe.jobs.schemas import BulkOptions, BulkRequest, BulkSettings, RowError
from akowe.modes import Mode
from akowe.organizations import service as organizations_service
from akowe.organizations.exceptions import OrganizationNotFound
from akowe.organizations.models import Organization
from akowe.pagination import decode_cursor, encode_cursor
from akowe.rendering.check import Memo
from akowe.schemas import format_timestamp, timestamp_or_none
from akowe.storage.store import FileStore
from akowe.templates.exceptions import TemplateNotFound
from akowe.templates.models import Template

if TYPE_CHECKING:
    from akowe.processes import WorkProcesses

ACCEPTED = "Bulk issuance accepted"
CHECKED = "Dry run: nothing was created"
CANCELLED = "Job has been cancelled"
RETRIED = "Failed rows have been queued again"
PENDING, ISSUED, FAILED, SKIPPED, CANCELLED_ROW = (
    "pending",
    "issued",
    "failed",
    "skipped",
    "cancelled",
)
# `validating`: a job (and its rows) recorded before its rows were checked; see SYNC_ROWS.
VALIDATING = "validating"
ROW_STATES = (VALIDATING, PENDING, ISSUED, FAILED, SKIPPED, CANCELLED_ROW)
ACTIVE = ("queued", "running")
# A submission of up to this many rows is checked before the answer, which then carries the
# whole report (and is a 400 when no row is valid). A bigger one is recorded as `validating`
# at once and checked by the workers, chunk by chunk: checking takes ~0.4 ms a row here, so
# a 100,000-row file answered after ~40 s, past many clients' and proxies' timeouts.
SYNC_ROWS = 1000
# Rows a worker checks per step: this many chunks' worth. Checking a row costs about half of
# issuing one, so a step holds the write lock (SQLite) about as long as an issuing chunk.
VALIDATE_CHUNKS = 2
# A job's row n has its turn in the outbox (its credential's signing, its email) n of these
# after the job started (akowe.delivery.service.queue): as if the job issued one certificate
# a second, so whatever anyone issues meanwhile, a single certificate or another job's rows,
# is signed and sent before the rest of a big job rather than after all of it. Nothing
# waits for its turn: with nothing else queued a job's emails go out as fast as ever.
JOB_ROW_TURN = timedelta(seconds=1)
# Failures a retry can cure (a top-up, a restored organization); validation failures cannot.
RETRYABLE = ("insufficient_credits", "organization_not_found", "template_not_found")
MAX_REPORTED = 1000
_ROWS = cast(Table, JobRow.__table__)
_JOBS = cast(Table, Job.__table__)
_CERTIFICATES = cast(Table, Certificate.__table__)


# ---------------------------------------------------------------- submission


@dataclass(frozen=True, slots=True)
class Submission:
    """A parsed bulk request: the shared settings, the rows and where their values came from."""

    settings: BulkSettings
    columns: list[str]
    inputs: list[Input]
    plan: Columns
    file_name: str | None
    fingerprint: str


def fingerprint(path: str, settings: BulkSettings, content: bytes, extra: Any = None) -> str:
    """The idempotency fingerprint: the path, the shared settings, the rows (or file bytes)."""
    body = settings.model_dump(mode="json", by_alias=True)
    canonical = json.dumps([body, extra], sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256()
    digest.update(f"{path}\n{canonical}\n".encode())
    digest.update(content)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Checked:
    """Every row with its verdict: a RecipientData to issue, or an error."""

    rows: list[dict[str, Any]]
    errors: list[RowError]
    counts: dict[str, int]


def _row_error(item: Input, column: str | None, code: str, message: str) -> RowError:
    return RowError(row=item.row, column=column, code=code, message=message)


_FIELD_CODES = {"name": "invalid_name", "email": "invalid_email", "attributes": "invalid_attribute"}


def _check_row(
    item: Input,
    *,
    settings: BulkSettings,
    plan: Columns,
    fields: Sequence[Mapping[str, Any]],
    design: Design,
    issued_at: datetime,
    memo: Memo | None = None,
) -> RowError | RecipientData:
    if not (item.name or "").strip():
        return _row_error(item, plan.name or "name", "missing_name", "the name is empty")
    try:
        recipient = RecipientData.model_validate(
            {"name": item.name, "email": item.email, "attributes": item.attributes}
        )
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        where = str(error["loc"][0]) if error["loc"] else "name"
        column = plan.of(where) if where != "attributes" else None
        message = str(error["msg"]).removeprefix("Value error, ")
        return _row_error(item, column, _FIELD_CODES.get(where, "invalid_value"), message)
    if settings.wants_email and recipient.email is None:
        return _row_error(
            item, plan.email or "email", "missing_email", "an email is needed to send it"
        )
    data = IssueRequest.model_construct(
        recipient_data=recipient,
        organization_id=settings.organization_id,
        mail_data=settings.mail_data,
        template_id=settings.template_id,
        expires_at=settings.expires_at,
    )
    try:
        check_against_template(data, fields)
        check_values(design, data=data, issued_at=issued_at, memo=memo)
    except ServiceError as exc:
        errors: list[FieldError] = getattr(exc, "errors", None) or []
        first = errors[0] if errors else FieldError("", exc.message)
        code = exc.code
        if first.field.startswith(("recipientData.attributes.",)) and code == "validation_error":
            code = "missing_attribute"
        elif first.field.startswith("mailData.") and code == "validation_error":
            code = "unknown_placeholder"
        return _row_error(item, plan.of(first.field) or first.field or None, code, first.message)
    return recipient


def check_rows(
    db: Database,
    *,
    principal: Principal,
    submission: Submission,
    store: FileStore,
) -> tuple[Organization, Template, Checked]:
    """Resolve the organization and template (404) and check every row; blocking."""
    settings = submission.settings
    issued_at = utcnow()
    with db.read_connection() as reader:
        organization, template = _resolve(reader, principal=principal, settings=settings)
        rows = _check_inputs(
            reader,
            submission.inputs,
            settings=settings,
            plan=submission.plan,
            organization=organization,
            template=template,
            store=store,
            issued_at=issued_at,
        )
    errors = [_error_of(row) for row in rows if row["status"] == FAILED]
    errors += _mark_duplicate_rows(rows, column=submission.plan.email or "email")
    invalid = len(errors)
    skipped = 0
    if settings.duplicates != "allow":
        pending = [row for row in rows if row["status"] == PENDING]
        held = _live_recipients(
            db,
            principal=principal,
            template_id=template.id,
            emails=list({_folded(row) for row in pending if row["email"]}),
        )
        duplicates = [row for row in pending if _folded(row) in held]
        if duplicates and settings.duplicates == "deny" and not settings.dry_run:
            raise DuplicateRecipients(_duplicate_errors(duplicates))
        column = submission.plan.email or "email"
        for row in duplicates:
            error = _mark_held(row, deny=settings.duplicates == "deny", column=column)
            if error is not None:
                invalid += 1
                errors.append(error)
            else:
                skipped += 1
    errors.sort(key=lambda e: e.row)
    total = len(rows)
    counts = {
        "total": total,
        "valid": total - invalid,
        "issued": 0,
        "failed": invalid,
        "skipped": skipped,
        "cancelled": 0,
        "remaining": total - invalid - skipped,
    }
    return organization, template, Checked(rows=rows, errors=errors, counts=counts)


def _resolve(
    reader: DriverReader, *, principal: Principal, settings: BulkSettings
) -> tuple[Organization, Template]:
    """The submission's organization and template in the caller's scope, or 404."""
    data = IssueRequest.model_construct(
        recipient_data=RecipientData.model_construct(name="", email=None, attributes={}),
        organization_id=settings.organization_id,
        template_id=settings.template_id,
        mail_data=settings.mail_data,
    )
    with reader.batch() as lookups:
        found_organization, found_template = certificates_service.lookup(
            lookups, principal=principal, data=data
        )
    organization = found_organization.one()
    template = found_template.one()
    if organization is None:
        raise OrganizationNotFound()
    if template is None:
        raise TemplateNotFound()
    return organization, template


def _check_inputs(
    reader: DriverReader,
    inputs: Sequence[Input],
    *,
    settings: BulkSettings,
    plan: Columns,
    organization: Organization,
    template: Template,
    store: FileStore,
    issued_at: datetime,
    processes: WorkProcesses | None = None,
) -> list[dict[str, Any]]:
    """Each input's row with its verdict (`pending`, or `failed` with the reason); duplicates
    are not looked for here (`_mark_duplicate_rows`, once every row is checked). With worker
    `processes`, enough inputs are split between them (checking is mostly shaping each name:
    CPU work that one thread cannot spread over the cores)."""
    task = CheckTask(
        settings=settings,
        plan=plan,
        fields=tuple(template.fields),
        design=design_of(reader, template=template, organization=organization, store=store),
        issued_at=issued_at,
    )
    if processes is None or len(inputs) < PARALLEL_CHECK_ROWS:
        return check_task(task, inputs)
    return processes.check(task, inputs)


# From this many rows a checking step is split between the worker processes: below it,
# sending the design to each costs more than the shaping saved.
PARALLEL_CHECK_ROWS = 100


@dataclass(frozen=True, slots=True)
class CheckTask:
    """What checking a job's rows needs besides the rows: plain data, for any process."""

    settings: BulkSettings
    plan: Columns
    fields: tuple[Mapping[str, Any], ...]
    design: Design
    issued_at: datetime


def check_task(task: CheckTask, inputs: Sequence[Input]) -> list[dict[str, Any]]:
    """The rows of `inputs` with their verdicts (in whichever process). The rows share one
    design, and most of their values (the course, the date): each value is laid out once."""
    memo = Memo(task.design.spec)
    return [
        _new_row(
            item,
            _check_row(
                item,
                settings=task.settings,
                plan=task.plan,
                fields=task.fields,
                design=task.design,
                issued_at=task.issued_at,
                memo=memo,
            ),
        )
        for item in inputs
    ]


def _error_of(row: dict[str, Any]) -> RowError:
    return RowError(
        row=row["row_number"],
        column=row["error_column"],
        code=row["error_code"],
        message=row["error_message"],
    )


def _mark_duplicate_rows(rows: Sequence[dict[str, Any]], *, column: str) -> list[RowError]:
    """Fail each valid row (in row order) whose email an earlier valid row has; the errors."""
    first_of: dict[str, int] = {}
    errors: list[RowError] = []
    for row in sorted(rows, key=lambda r: int(r["row_number"])):
        if row["status"] != PENDING or not row["email"]:
            continue
        folded = _folded(row)
        first = first_of.setdefault(folded, row["row_number"])
        if first != row["row_number"]:
            row.update(
                status=FAILED,
                error_code="duplicate_row",
                error_column=column,
                error_message=f"the same email as row {first}",
            )
            errors.append(_error_of(row))
    return errors


def _mark_held(row: dict[str, Any], *, deny: bool, column: str) -> RowError | None:
    """A valid row whose email already holds a live certificate of the template: failed
    (`deny`, its error) or skipped (None)."""
    row.update(
        status=FAILED if deny else SKIPPED,
        error_code="already_issued",
        error_column=column,
        error_message="this email already holds a live certificate of this template",
    )
    return _error_of(row) if deny else None


def _duplicate_errors(duplicates: Sequence[dict[str, Any]]) -> list[FieldError]:
    return [
        FieldError(
            f"rows.{row['row_number']}.email",
            f"{row['email']} already holds a live certificate of this template",
        )
        for row in duplicates[:MAX_REPORTED]
    ]


def _folded(row: dict[str, Any]) -> str:
    return str(row["email"] or "").casefold()


def _new_row(item: Input, verdict: RowError | RecipientData) -> dict[str, Any]:
    row: dict[str, Any] = {
        "row_number": item.row,
        "name": item.name,
        "email": item.email,
        "attributes": item.attributes,
        "cells": item.cells,
        "certificate_id": None,
        "updated_at": None,
    }
    if isinstance(verdict, RowError):
        row.update(
            status=FAILED,
            error_code=verdict.code,
            error_column=verdict.column,
            error_message=verdict.message,
            attributes={k: str(v) for k, v in item.attributes.items()}
            if all(isinstance(v, str | int | float) for v in item.attributes.values())
            else {},
        )
    else:
        row.update(
            status=PENDING,
            name=verdict.name,
            email=verdict.email,
            attributes=verdict.attributes,
            error_code=None,
            error_column=None,
            error_message=None,
        )
    return row


def _live_recipients(
    db: Database, *, principal: Principal, template_id: str, emails: Sequence[str]
) -> set[str]:
    """The emails (case-folded) holding a live certificate of the template."""
    with db.session() as session:
        return _live_recipients_in(
            session, principal=principal, template_id=template_id, emails=emails
        )


def _live_recipients_in(
    session: Session, *, principal: Principal, template_id: str, emails: Sequence[str]
) -> set[str]:
    """`_live_recipients` in the caller's transaction."""
    c = _CERTIFICATES.c
    now = utcnow()
    held: set[str] = set()
    for start in range(0, len(emails), 500):
        part = emails[start : start + 500]
        found = session.scalars(
            select(func.lower(c.recipient_email)).where(
                c.account_id == principal.account_id,
                c.mode == principal.mode,
                c.template_id == template_id,
                c.status == "issued",
                (c.expires_at.is_(None)) | (c.expires_at > now),
                func.lower(c.recipient_email).in_(part),
            )
        )
        held.update(str(e).casefold() for e in found)
    return held


def _report(checked: Checked) -> dict[str, Any]:
    return {
        "dryRun": True,
        "counts": checked.counts,
        "errors": [e.model_dump(by_alias=True) for e in checked.errors[:MAX_REPORTED]],
    }


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """What the route answers."""

    status: int
    body: dict[str, Any]
    replayed: bool = False
    created: bool = False


def submit(
    db: Database,
    *,
    principal: Principal,
    submission: Submission,
    store: FileStore,
    path: str,
    idempotency_key: str | None,
) -> SubmitResult:
    """Record the job (202): up to `SYNC_ROWS` rows checked first, the answer carrying the
    report; more recorded at once as `validating`, for the workers to check. A dry run
    answers the report (200) and creates nothing. Blocking: run it in a database thread."""
    settings = submission.settings
    if settings.dry_run:
        _, _, checked = check_rows(db, principal=principal, submission=submission, store=store)
        return SubmitResult(200, {"success": True, "message": CHECKED, "data": _report(checked)})
    key = idempotency_key
    if key is not None:
        replay = idempotency.claim(
            db, principal=principal, key=key, fingerprint=submission.fingerprint
        )
        if replay is not None:
            return SubmitResult(replay.status, replay.body, replayed=True)
    try:
        if len(submission.inputs) > SYNC_ROWS:
            with db.read_connection() as reader:
                organization, template = _resolve(reader, principal=principal, settings=settings)
            rows = [_unchecked_row(item) for item in submission.inputs]
            counts = _validating_counts(len(rows))
            errors: list[RowError] | None = None
            status = VALIDATING
        else:
            organization, template, checked = check_rows(
                db, principal=principal, submission=submission, store=store
            )
            if checked.counts["valid"] == 0:
                raise NoValidRows(
                    _no_valid_rows(
                        checked.errors[0].message, checked.errors[0].row, checked.errors[0].column
                    ),
                    [
                        FieldError(f"rows.{e.row}.{e.column or ''}".rstrip("."), e.message)
                        for e in checked.errors[:MAX_REPORTED]
                    ],
                )
            rows, counts, errors = checked.rows, checked.counts, checked.errors[:MAX_REPORTED]
            status = "queued" if counts["remaining"] else "completed"
        job_id = new_id()
        now = utcnow()
        job_values: dict[str, Any] = {
            "id": job_id,
            "account_id": principal.account_id,
            "mode": str(principal.mode),
            "subaccount_id": principal.subaccount_id,
            "subaccount_email": principal.subaccount_email,
            "key_id": principal.key_id,
            "kind": "bulk_issue",
            "status": status,
            "organization_id": organization.id,
            "template_id": template.id,
            "request": {
                "mailData": settings.mail_data.model_dump(mode="json", by_alias=True)
                if settings.mail_data
                else None,
                "expiresAt": timestamp_or_none(settings.expires_at),
                "options": {"duplicates": settings.duplicates},
                "columns": submission.columns,
                "fileName": submission.file_name,
                # Where each value came from, for the workers' error reports.
                "plan": {
                    "name": submission.plan.name,
                    "email": submission.plan.email,
                    "attributes": submission.plan.attributes,
                },
            },
            "total": counts["total"],
            "invalid": counts["failed"],
            "error": None,
            "created_at": now,
            "started_at": None,
            "finished_at": now if status == "completed" else None,
            "turn_at": now,
        }
        body = {
            "success": True,
            "message": ACCEPTED,
            "data": _job_wire(job_values, counts, errors),
        }

        def record(session: Session) -> None:
            connection = session.connection()
            connection.execute(_JOBS.insert(), job_values)
            for start in range(0, len(rows), 5000):
                part = rows[start : start + 5000]
                connection.execute(_ROWS.insert(), [{"job_id": job_id, **r} for r in part])
            if key is not None:
                with session_reader(session).batch() as writes:
                    idempotency.queue_complete(
                        writes, principal=principal, key=key, status=202, body=body
                    )

        db.run_transaction(record)
        return SubmitResult(202, body, created=True)
    except BaseException:
        if key is not None:
            idempotency.release(db, principal=principal, key=key)
        raise


def _no_valid_rows(message: str, row: int, column: str | None) -> str:
    """The job's error when no row is valid: the first row's reason, and where it is (a
    reason such as "is missing: the template prints it" says nothing without its column)."""
    where = f"{column}: " if column else ""
    return f"No row can be issued: {where}{message} (row {row})"


def _unchecked_row(item: Input) -> dict[str, Any]:
    """A row as sent, for a worker to check (`validating`)."""
    return {
        "row_number": item.row,
        "status": VALIDATING,
        "name": item.name,
        "email": item.email,
        "attributes": item.attributes,
        "cells": item.cells,
        "certificate_id": None,
        "error_code": None,
        "error_column": None,
        "error_message": None,
        "updated_at": None,
    }


def _validating_counts(total: int) -> dict[str, int]:
    return {
        "total": total,
        "valid": 0,
        "issued": 0,
        "failed": 0,
        "skipped": 0,
        "cancelled": 0,
        "remaining": total,
    }


# ---------------------------------------------------------------- parsing


def _invalid(exc: ValidationError, prefix: str = "") -> ValidationFailed:
    errors = [
        FieldError(
            prefix + ".".join(str(part) for part in error["loc"]),
            str(error["msg"]).removeprefix("Value error, "),
        )
        for error in exc.errors(include_url=False, include_input=False)
    ]
    first = f"{errors[0].field}: {errors[0].message}" if errors else "invalid"
    return ValidationFailed(f"Validation failed: {first}", errors)


def from_json(body: bytes, path: str) -> Submission:
    """A JSON bulk body as a Submission (400 naming each invalid field)."""
    if not body.strip():
        raise ValidationFailed.field(
            "body", "is required: JSON with `recipients`, or a multipart form with `file`"
        )
    try:
        request = BulkRequest.model_validate_json(body)
    except ValidationError as exc:
        raise _invalid(exc) from None
    settings = BulkSettings.model_validate(
        request.model_dump(by_alias=True, exclude={"recipients"})
    )
    columns, inputs = files.inputs_from_json(request.recipients)
    plan = files.Columns(
        name=files.NAME,
        email=files.EMAIL,
        attributes={c.removeprefix(files.ATTRIBUTE): c for c in columns[2:]},
    )
    return Submission(
        settings=settings,
        columns=columns,
        inputs=inputs,
        plan=plan,
        file_name=None,
        fingerprint=fingerprint(path, request, b""),
    )


def from_file(
    fields: dict[str, Any], content: bytes, file_name: str | None, path: str
) -> Submission:
    """A multipart submission (its fields and file) as a Submission; 400 for a file that is
    not a table, naming the line."""
    mapping = fields.pop("mapping", None)
    if mapping is not None and (
        not isinstance(mapping, dict)
        or not all(isinstance(v, str) or v is None for v in mapping.values())
    ):
        raise ValidationFailed.field(
            "mapping", 'must be a JSON object of column: "name" | "email" | "attributes.<key>"'
        )
    try:
        settings = BulkSettings.model_validate(fields)
    except ValidationError as exc:
        raise _invalid(exc) from None
    table = files.read_table(content, file_name)
    plan = files.plan_columns(table.columns, mapping, needs_email=settings.wants_email)
    return Submission(
        settings=settings,
        columns=table.columns,
        inputs=files.inputs_from_table(table, plan),
        plan=plan,
        file_name=file_name,
        fingerprint=fingerprint(path, settings, content, mapping),
    )


# ---------------------------------------------------------------- reads


def _scope_clause(principal: Principal) -> list[Any]:
    clauses = [_JOBS.c.account_id == principal.account_id, _JOBS.c.mode == principal.mode]
    if principal.subaccount_id is not None:
        clauses.append(_JOBS.c.subaccount_id == principal.subaccount_id)
    return clauses


def get(session: Session, *, principal: Principal, job_id: str) -> Job | None:
    """The job if the caller may see it (account, mode, sub-account scope)."""
    return session.scalars(
        select(Job).where(Job.id == job_id, *_scope_clause(principal))
    ).one_or_none()


def require(session: Session, *, principal: Principal, job_id: str) -> Job:
    """The job, or 404 (also for other accounts' jobs)."""
    job = get(session, principal=principal, job_id=job_id)
    if job is None:
        raise JobNotFound()
    return job


def row_stats(session: Session) -> dict[str, int]:
    """Rows of the jobs not yet finished, per state, every state present (read for
    `/metrics`: the jobs through their status index, then their rows by primary key, so the
    cost follows the work in progress, not the history)."""
    found: dict[str, int] = dict(
        session.execute(
            select(_ROWS.c.status, func.count())
            .select_from(_ROWS.join(_JOBS, _JOBS.c.id == _ROWS.c.job_id))
            .where(_JOBS.c.status.in_((VALIDATING, *ACTIVE)))
            .group_by(_ROWS.c.status)
        ).all()
    )
    return {state: int(found.get(state, 0)) for state in ROW_STATES}


def counts(session: Session, *, job: Job) -> dict[str, int]:
    """The job's counts, from its rows."""
    by_status: dict[str, int] = dict(
        session.execute(
            select(_ROWS.c.status, func.count())
            .where(_ROWS.c.job_id == job.id)
            .group_by(_ROWS.c.status)
        ).all()
    )
    unchecked = int(by_status.get(VALIDATING, 0))  # `valid` counts rows found valid so far
    return {
        "total": job.total,
        "valid": job.total - job.invalid - unchecked,
        "issued": int(by_status.get(ISSUED, 0)),
        "failed": int(by_status.get(FAILED, 0)),
        "skipped": int(by_status.get(SKIPPED, 0)),
        "cancelled": int(by_status.get(CANCELLED_ROW, 0)),
        "remaining": int(by_status.get(PENDING, 0)) + unchecked,
    }


def _job_wire(
    job: dict[str, Any], counts: dict[str, int], errors: Sequence[RowError] | None = None
) -> dict[str, Any]:
    total = counts["total"] or 1
    done = total - counts["remaining"]
    request = job["request"] or {}
    wire: dict[str, Any] = {
        "jobId": job["id"],
        "kind": job["kind"],
        "status": job["status"],
        "organizationId": job["organization_id"],
        "templateId": job["template_id"],
        "counts": counts,
        "progress": round(done / total, 4),
        "createdAt": format_timestamp(job["created_at"]),
        "startedAt": timestamp_or_none(job["started_at"]),
        "finishedAt": timestamp_or_none(job["finished_at"]),
        "fileName": request.get("fileName"),
        "subAccountEmail": job["subaccount_email"],
        "test": job["mode"] == Mode.TEST,
        "error": job["error"],
    }
    if errors is not None:
        wire["errors"] = [e.model_dump(by_alias=True) for e in errors]
    return wire


def to_wire(session: Session, *, job: Job) -> dict[str, Any]:
    """A job as answered."""
    values = {column.key: getattr(job, column.key) for column in _JOBS.columns}
    return _job_wire(values, counts(session, job=job))


def list_jobs(
    session: Session, *, principal: Principal, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The caller's jobs, newest first, one keyset page (the cursors of every list)."""
    statement = select(Job).where(*_scope_clause(principal))
    if cursor:
        after = decode_cursor(cursor)
        statement = statement.where(
            (Job.created_at < after.created_at)
            | ((Job.created_at == after.created_at) & (Job.id < after.id))
        )
    jobs = list(
        session.scalars(statement.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1))
    )
    more = len(jobs) > limit
    jobs = jobs[:limit]
    next_cursor = encode_cursor(jobs[-1].created_at, jobs[-1].id) if more and jobs else None
    return [to_wire(session, job=j) for j in jobs], next_cursor


def row_wire(row: JobRow) -> dict[str, Any]:
    """One row's result as answered."""
    return {
        "row": row.row_number,
        "status": row.status,
        "name": row.name,
        "email": row.email,
        "certificateId": row.certificate_id,
        "errorCode": row.error_code,
        "errorColumn": row.error_column,
        "errorMessage": row.error_message,
    }


def list_rows(
    session: Session, *, job: Job, status: str | None, after: int, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """The job's rows in order from row `after + 1`, optionally of one status."""
    statement = select(JobRow).where(JobRow.job_id == job.id, JobRow.row_number > after)
    if status:
        statement = statement.where(JobRow.status == status)
    rows = list(session.scalars(statement.order_by(JobRow.row_number).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return [row_wire(r) for r in rows], (str(rows[-1].row_number) if more and rows else None)


def result_rows(session: Session, *, job: Job) -> Iterator[list[Any]]:
    """results.csv's rows: the cells as sent, then status, certificate id, error code and
    message (read in pages, never the whole job at once)."""
    after = 0
    while True:
        rows = session.execute(
            select(
                _ROWS.c.row_number,
                _ROWS.c.cells,
                _ROWS.c.status,
                _ROWS.c.certificate_id,
                _ROWS.c.error_code,
                _ROWS.c.error_message,
            )
            .where(_ROWS.c.job_id == job.id, _ROWS.c.row_number > after)
            .order_by(_ROWS.c.row_number)
            .limit(2000)
        ).all()
        if not rows:
            return
        for number, cells, status, certificate_id, code, message in rows:
            yield [*(cells or []), status, certificate_id or "", code or "", message or ""]
            after = number


# ---------------------------------------------------------------- cancel and retry


def cancel(session: Session, *, principal: Principal, job_id: str) -> Job:
    """Stop a job before its next chunk: rows not yet issued become `cancelled` (a chunk
    running now finishes first: its rows are locked until it commits)."""
    job = require(session, principal=principal, job_id=job_id)
    if job.status not in (VALIDATING, *ACTIVE):
        raise JobFinished(
            f"The job is {job.status}: only a validating, queued or running job is cancelled."
        )
    now = utcnow()
    # Rows first, then the job: a worker's chunk holds its rows and then touches the job,
    # so taking them in the same order never deadlocks.
    session.execute(
        update(JobRow)
        .where(JobRow.job_id == job.id, JobRow.status.in_((PENDING, VALIDATING)))
        .values(status=CANCELLED_ROW, error_code="cancelled", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status.in_((VALIDATING, *ACTIVE)))
        .values(status="cancelled", finished_at=now)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    session.refresh(job)
    return job


def retry(session: Session, *, principal: Principal, job_id: str) -> Job:
    """Queue again the rows that failed for a reason a retry can cure (credits ran out, ...);
    rows that failed validation stay failed."""
    job = require(session, principal=principal, job_id=job_id)
    if job.status in (VALIDATING, *ACTIVE):
        raise JobFinished("The job is still running: retry once it has finished.")
    now = utcnow()
    result = session.execute(
        update(JobRow)
        .where(
            JobRow.job_id == job.id,
            JobRow.status == FAILED,
            JobRow.error_code.in_(RETRYABLE),
        )
        .values(
            status=PENDING,
            error_code=None,
            error_column=None,
            error_message=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        raise JobFinished("The job has no failed rows that a retry could issue.")
    job.status = "queued"
    job.finished_at = None
    job.turn_at = now
    session.flush()
    return job


# ---------------------------------------------------------------- the worker's side


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """What one worker step did."""

    job_id: str
    issued: int
    failed: int
    finished: bool
    checked: int = 0  # rows of a `validating` job checked by this step


_MARK_ISSUED: Query[Any] = Query(
    update(_ROWS)
    .where(_ROWS.c.job_id == bindparam("b_job"), _ROWS.c.row_number == bindparam("b_row"))
    .values(status=ISSUED, certificate_id=bindparam("b_certificate"), updated_at=bindparam("b_at")),
    name="mark job row issued",
)


def run_chunk(
    db: Database,
    *,
    chunk_size: int,
    store: FileStore,
    job_id: str | None = None,
    processes: WorkProcesses | None = None,
) -> ChunkResult | None:
    """Issue the next chunk of the job whose turn it is (or of `job_id`); None when no job
    has rows to run. Blocking: one transaction. `processes` check a big file's rows."""
    return db.run_transaction(
        lambda session: _chunk(
            session, chunk_size=chunk_size, store=store, job_id=job_id, processes=processes
        )
    )


def _chunk(
    session: Session,
    *,
    chunk_size: int,
    store: FileStore,
    job_id: str | None,
    processes: WorkProcesses | None,
) -> ChunkResult | None:
    postgres = session.get_bind().dialect.name == "postgresql"
    candidates = (
        select(Job).where(Job.status.in_((VALIDATING, *ACTIVE))).order_by(Job.turn_at, Job.id)
    )
    if job_id is not None:
        candidates = candidates.where(Job.id == job_id)
    for job in session.scalars(candidates.limit(16)).all():
        if job.status == VALIDATING:
            checked = _validate_step(
                session,
                job=job,
                rows=chunk_size * VALIDATE_CHUNKS,
                store=store,
                postgres=postgres,
                processes=processes,
            )
            if checked is not None:
                return checked
            continue
        if postgres:
            # The account's balance first, then the rows: every writer that needs both (a
            # chunk that runs out of credits fails the job's other pending rows) takes them
            # in this order, so chunks of one account never deadlock each other.
            session.execute(
                select(CreditBalance.balance)
                .where(CreditBalance.account_id == job.account_id, CreditBalance.mode == job.mode)
                .with_for_update()
            )
        # Plain rows, not ORM objects: a chunk reads hundreds of them.
        pick = (
            select(_ROWS.c.row_number, _ROWS.c.name, _ROWS.c.email, _ROWS.c.attributes)
            .where(_ROWS.c.job_id == job.id, _ROWS.c.status == PENDING)
            .order_by(_ROWS.c.row_number)
            .limit(chunk_size)
        )
        if postgres:
            pick = pick.with_for_update(skip_locked=True)
        rows = list(session.execute(pick).all())
        if rows:
            return _issue_rows(session, job=job, rows=rows, store=store)
        if _finish_if_done(session, job=job):
            return ChunkResult(job.id, 0, 0, True)
    return None


_ROW_VERDICT: Query[Any] = Query(
    update(_ROWS)
    .where(_ROWS.c.job_id == bindparam("b_job"), _ROWS.c.row_number == bindparam("b_row"))
    .values(
        status=bindparam("b_status"),
        name=bindparam("b_name"),
        email=bindparam("b_email"),
        attributes=bindparam("b_attributes", type_=_ROWS.c.attributes.type),
        error_code=bindparam("b_code"),
        error_column=bindparam("b_column"),
        error_message=bindparam("b_message"),
        updated_at=bindparam("b_at"),
    ),
    name="job row verdict",
)


_ROW_OUTCOME: Query[Any] = Query(
    update(_ROWS)
    .where(_ROWS.c.job_id == bindparam("b_job"), _ROWS.c.row_number == bindparam("b_row"))
    .values(
        status=bindparam("b_status"),
        error_code=bindparam("b_code"),
        error_column=bindparam("b_column"),
        error_message=bindparam("b_message"),
        updated_at=bindparam("b_at"),
    ),
    name="job row outcome",
)


def _validate_step(
    session: Session,
    *,
    job: Job,
    rows: int,
    store: FileStore,
    postgres: bool,
    processes: WorkProcesses | None,
) -> ChunkResult | None:
    """Check the next `rows` rows of a `validating` job, with the same checks as a submission
    checked before its answer; once none is left, look for duplicates and queue the job.
    None when there was nothing to do (another worker holds the last rows, or finishes)."""
    pick = (
        select(_ROWS.c.row_number, _ROWS.c.name, _ROWS.c.email, _ROWS.c.attributes, _ROWS.c.cells)
        .where(_ROWS.c.job_id == job.id, _ROWS.c.status == VALIDATING)
        .order_by(_ROWS.c.row_number)
        .limit(rows)
    )
    if postgres:
        pick = pick.with_for_update(skip_locked=True)
    picked = session.execute(pick).all()
    if not picked:
        return _finish_validation(session, job=job, postgres=postgres)
    settings, plan = _settings_of(job), _plan_of(job)
    now = utcnow()
    reader = session_reader(session)
    try:
        organization, template = _resolve(reader, principal=_principal(job), settings=settings)
    except (OrganizationNotFound, TemplateNotFound) as exc:
        code = (
            "organization_not_found"
            if isinstance(exc, OrganizationNotFound)
            else "template_not_found"
        )
        what = "organization" if isinstance(exc, OrganizationNotFound) else "template"
        verdicts = [
            {
                **_unchecked_row(_input(row)),
                "status": FAILED,
                "error_code": code,
                "error_message": f"the {what} was deleted",
            }
            for row in picked
        ]
    else:
        verdicts = _check_inputs(
            reader,
            [_input(row) for row in picked],
            settings=settings,
            plan=plan,
            organization=organization,
            template=template,
            store=store,
            issued_at=now,
            processes=processes,
        )
    invalid = sum(1 for row in verdicts if row["status"] == FAILED)
    # A valid row whose values were already as checked (the usual case) only changes state:
    # those in one statement; the others (failed, or normalised: trimmed, say) row by row.
    as_sent = [
        row["row_number"]
        for row, sent in zip(verdicts, picked, strict=True)
        if row["status"] == PENDING
        and (row["name"], row["email"], row["attributes"])
        == (sent.name, sent.email, sent.attributes)
    ]
    if as_sent:
        session.execute(
            update(_ROWS)
            .where(_ROWS.c.job_id == job.id, _ROWS.c.row_number.in_(as_sent))
            .values(status=PENDING, updated_at=now)
        )
    unchanged = set(as_sent)
    _write_rows(
        session,
        job_id=job.id,
        rows=[row for row in verdicts if row["row_number"] not in unchanged],
        now=now,
        values=True,
    )
    session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status == VALIDATING)
        .values(invalid=Job.invalid + invalid, turn_at=now)
        .execution_options(synchronize_session=False)
    )
    return ChunkResult(job.id, 0, invalid, False, checked=len(picked))


def _finish_validation(session: Session, *, job: Job, postgres: bool) -> ChunkResult | None:
    """Every row checked: fail duplicates inside the input, apply `options.duplicates`, then
    queue the job (or fail it: no valid row, or `deny` and some recipient holds one)."""
    if _any_row(session, job=job, status=VALIDATING):
        return None  # another worker is checking the last rows
    pick = (
        select(_ROWS.c.row_number, _ROWS.c.email)
        .where(_ROWS.c.job_id == job.id, _ROWS.c.status == PENDING)
        .order_by(_ROWS.c.row_number)
    )
    if postgres:
        pick = pick.with_for_update()  # rows, then the job: the order cancel takes them in
    rows = [
        {"row_number": number, "email": email, "status": PENDING}
        for number, email in session.execute(pick).all()
    ]
    now = utcnow()
    claimed = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status == VALIDATING)
        .values(status="queued", turn_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(claimed, "rowcount", 0):
        return None  # another worker finished it, or it was cancelled
    settings, plan = _settings_of(job), _plan_of(job)
    column = plan.email or "email"
    failed = len(_mark_duplicate_rows(rows, column=column))
    pending = [row for row in rows if row["status"] == PENDING]
    held: list[dict[str, Any]] = []
    if settings.duplicates != "allow" and pending:
        holders = _live_recipients_in(
            session,
            principal=_principal(job),
            template_id=job.template_id,
            emails=list({_folded(row) for row in pending if row["email"]}),
        )
        held = [row for row in pending if _folded(row) in holders]
        deny = settings.duplicates == "deny"
        failed += sum(_mark_held(row, deny=deny, column=column) is not None for row in held)
    _write_rows(
        session,
        job_id=job.id,
        rows=[row for row in rows if row["status"] != PENDING],
        now=now,
        values=False,
    )
    error = None
    if held and settings.duplicates == "deny":
        error = DuplicateRecipients.default_message.replace(
            "nothing was created", "nothing was issued"
        )
        denied = session.execute(
            update(_ROWS)
            .where(_ROWS.c.job_id == job.id, _ROWS.c.status == PENDING)
            .values(
                status=FAILED,
                error_code="duplicates_denied",
                error_message="not issued: other rows' recipients already hold a live "
                'certificate of this template (options.duplicates is "deny")',
                updated_at=now,
            )
        )
        failed += int(getattr(denied, "rowcount", 0) or 0)
    session.execute(
        update(Job)
        .where(Job.id == job.id)
        .values(invalid=Job.invalid + failed)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    session.expire(job)
    if error is None and job.total - job.invalid == 0:
        first = session.execute(
            select(_ROWS.c.row_number, _ROWS.c.error_message, _ROWS.c.error_column)
            .where(_ROWS.c.job_id == job.id, _ROWS.c.status == FAILED)
            .order_by(_ROWS.c.row_number)
            .limit(1)
        ).one()
        error = _no_valid_rows(first.error_message, first.row_number, first.error_column)
    if error is not None:
        session.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(status="failed", error=error, finished_at=now)
            .execution_options(synchronize_session=False)
        )
        return ChunkResult(job.id, 0, failed, True)
    return ChunkResult(job.id, 0, failed, _finish_if_done(session, job=job))


def _write_rows(
    session: Session, *, job_id: str, rows: Sequence[dict[str, Any]], now: datetime, values: bool
) -> None:
    """Write each row's state and error (and with `values` its checked name, email and
    attributes), batched."""
    with session_reader(session).batch() as writes:
        for row in rows:
            outcome = {
                "b_job": job_id,
                "b_row": row["row_number"],
                "b_status": row["status"],
                "b_code": row["error_code"],
                "b_column": row["error_column"],
                "b_message": row["error_message"],
                "b_at": now,
            }
            if values:
                writes.write(
                    _ROW_VERDICT,
                    **outcome,
                    b_name=row["name"],
                    b_email=row["email"],
                    b_attributes=row["attributes"],
                )
            else:
                writes.write(_ROW_OUTCOME, **outcome)


def _input(row: Any) -> Input:
    return Input(
        row=row.row_number,
        name=row.name,
        email=row.email,
        attributes=row.attributes if isinstance(row.attributes, dict) else {},
        cells=list(row.cells or []),
    )


def _settings_of(job: Job) -> BulkSettings:
    """What every row of the job shares, as submitted (already validated then)."""
    request = job.request or {}
    mail = request.get("mailData")
    expires = request.get("expiresAt")
    return BulkSettings.model_construct(
        organization_id=job.organization_id,
        template_id=job.template_id,
        mail_data=MailData.model_validate(mail) if mail else None,
        expires_at=datetime.fromisoformat(expires.replace("Z", "+00:00")) if expires else None,
        options=BulkOptions(duplicates=(request.get("options") or {}).get("duplicates", "allow")),
    )


def _plan_of(job: Job) -> Columns:
    plan = (job.request or {}).get("plan") or {}
    return Columns(
        name=plan.get("name"),
        email=plan.get("email"),
        attributes=dict(plan.get("attributes") or {}),
    )


def _principal(job: Job) -> Principal:
    return Principal(
        key_id=job.key_id,
        account_id=job.account_id,
        mode=Mode(job.mode),
        subaccount_id=job.subaccount_id,
        subaccount_email=job.subaccount_email,
    )


def _fail_pending(session: Session, *, job: Job, code: str, message: str) -> int:
    result = session.execute(
        update(JobRow)
        .where(JobRow.job_id == job.id, JobRow.status == PENDING)
        .values(status=FAILED, error_code=code, error_message=message, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _issue_rows(
    session: Session, *, job: Job, rows: Sequence[Any], store: FileStore
) -> ChunkResult:
    principal = _principal(job)
    request = job.request or {}
    mail = request.get("mailData")
    expires = request.get("expiresAt")
    data = IssueRequest.model_validate(
        {
            "recipientData": {"name": "x"},
            "organizationId": job.organization_id,
            "templateId": job.template_id,
            "mailData": mail,
        }
    )
    reader = session_reader(session)
    with reader.batch() as lookups:
        found_organization, found_template = certificates_service.lookup(
            lookups, principal=principal, data=data
        )
    organization, template = found_organization.one(), found_template.one()
    now = utcnow()
    if organization is None or template is None:
        code = "organization_not_found" if organization is None else "template_not_found"
        what = "organization" if organization is None else "template"
        failed = _fail_pending(session, job=job, code=code, message=f"the {what} was deleted")
        finished = _finish_if_done(session, job=job)
        return ChunkResult(job.id, 0, failed, finished)
    credits_service.ensure_sandbox(
        session,
        account_id=job.account_id,
        mode=principal.mode,
        amount=min(len(rows), credits_service.SANDBOX_ALLOWANCE),
    )
    balance = session.scalar(
        select(CreditBalance.balance)
        .where(CreditBalance.account_id == job.account_id, CreditBalance.mode == job.mode)
        .with_for_update()
    )
    affordable = rows[: max(0, int(balance or 0))]
    snapshot = organizations_service.snapshot(organization, store=store)
    expires_at = datetime.fromisoformat(expires.replace("Z", "+00:00")) if expires else None
    issued: list[str] = []
    # Asked once for the chunk: `record` would otherwise send a conditional insert per row
    # (250 statements writing nothing, for an account without endpoints, as most are).
    events = delivery_service.has_endpoint(reader, account_id=job.account_id, mode=principal.mode)
    started = job.started_at or now
    with reader.batch() as writes:
        for row in affordable:
            prepared = certificates_service.Prepared(
                data=IssueRequest.model_construct(
                    recipient_data=RecipientData.model_construct(
                        name=row.name or "", email=row.email, attributes=dict(row.attributes)
                    ),
                    organization_id=organization.id,
                    mail_data=data.mail_data,
                    template_id=template.id,
                    expires_at=expires_at,
                ),
                organization_id=organization.id,
                organization=snapshot,
                template_id=template.id,
                template_version=template.version,
                issued_at=now,
            )
            certificate = certificates_service.record(
                writes,
                principal=principal,
                prepared=prepared,
                events=events,
                turn=max(now, started + row.row_number * JOB_ROW_TURN),
            )
            issued.append(certificate.id)
            writes.write(
                _MARK_ISSUED,
                b_job=job.id,
                b_row=row.row_number,
                b_certificate=certificate.id,
                b_at=now,
            )
        debited = (
            credits_service.queue_debits(
                writes,
                account_id=job.account_id,
                mode=principal.mode,
                balance=int(balance or 0),
                references=issued,
                reason=certificates_service.ISSUE_REASON,
                actor=f"key:{principal.key_id}",
            )
            if issued
            else None
        )
    if debited is not None and debited.one() is None:
        # Cannot happen while the balance is locked; if it does, the whole chunk rolls back.
        raise InsufficientCredits()
    failed = 0
    if len(affordable) < len(rows):
        failed = _fail_pending(
            session,
            job=job,
            code="insufficient_credits",
            message="the account ran out of credits: top up, then retry the job",
        )
    values: dict[str, Any] = {"turn_at": now, "status": "running"}
    if job.started_at is None:
        values["started_at"] = now
    session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status.in_(ACTIVE))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    finished = _finish_if_done(session, job=job)
    return ChunkResult(job.id, len(issued), failed, finished)


def _any_row(session: Session, *, job: Job, status: str) -> bool:
    """Whether a row of the job is in this state: the first one found answers (asked after
    every chunk, a count read all the job's rows left, every time)."""
    return bool(
        session.scalar(select(exists().where(_ROWS.c.job_id == job.id, _ROWS.c.status == status)))
    )


def _finish_if_done(session: Session, *, job: Job) -> bool:
    """Complete the job once no row is pending (once: the update is conditional) and send
    its `job.completed` event."""
    if _any_row(session, job=job, status=PENDING):
        return False
    now = utcnow()
    done = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status.in_(ACTIVE))
        .values(status="completed", finished_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(done, "rowcount", 0):
        return False
    session.flush()
    session.expire(job)
    payload = to_wire(session, job=job)
    with session_reader(session).batch() as writes:
        delivery_service.queue_event(
            writes,
            account_id=job.account_id,
            mode=job.mode,
            event="job.completed",
            data=payload,
            subaccount_id=job.subaccount_id,
        )
    return True
