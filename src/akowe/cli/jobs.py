"""`akowe issue`: bulk issuance from a CSV or XLSX file, followed with a progress bar.

It submits through the same service as `POST /api/certificates/bulk` (every row checked
before anything is charged) and then runs the job's chunks itself, so it finishes without a
server; a server's worker running meanwhile shares the job safely. Signing and emails are
sent by the delivery worker (`akowe serve` or `akowe worker`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from akowe.accounts import service as accounts_service
from akowe.accounts.service import Principal
from akowe.cli.common import console, err_console, print_json, settings
from akowe.db.database import Database
from akowe.errors import ServiceError
from akowe.jobs import files
from akowe.jobs import service as jobs_service
from akowe.jobs.worker import JobWorker
from akowe.modes import Mode
from akowe.storage.store import make_store

CLI_KEY = "cli"  # certificates issued here name the CLI, not an API key, as their issuer


def issue(
    account: Annotated[str, typer.Option("--account", help="Account id.")],
    organization: Annotated[str, typer.Option("--organization", help="Organization id.")],
    template: Annotated[str, typer.Option("--template", help="Template id.")],
    csv_file: Annotated[
        Path,
        typer.Option(
            "--csv", exists=True, dir_okay=False, help="CSV (UTF-8; `,`, `;` or tab) or XLSX file."
        ),
    ],
    mapping: Annotated[
        str | None,
        typer.Option(help='JSON: {"Full name": "name", "E-mail": "email", "Course": ...}'),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row only.")] = False,
    duplicates: Annotated[
        str, typer.Option(help="allow | skip | deny: recipients holding a live certificate.")
    ] = "allow",
    send_email: Annotated[bool, typer.Option("--send-email")] = False,
    subject: Annotated[str | None, typer.Option(help="Email subject ({{name}} ...).")] = None,
    body: Annotated[str | None, typer.Option(help="Email body.")] = None,
    test: Annotated[bool, typer.Option("--test", help="Sandbox (test mode).")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Issue certificates to every row of a CSV or XLSX file as one job."""
    config = settings()
    db = Database(config)
    store = make_store(config)
    try:
        with db.session() as session:
            accounts_service.require_account(session, account_id=account)
        principal = Principal(
            key_id=CLI_KEY, account_id=account, mode=Mode.TEST if test else Mode.LIVE
        )
        fields: dict[str, Any] = {
            "organizationId": organization,
            "templateId": template,
            "options": {"dryRun": dry_run, "duplicates": duplicates},
        }
        if send_email:
            fields["mailData"] = {"subject": subject, "body": body}
        if mapping is not None:
            try:
                fields["mapping"] = json.loads(mapping)
            except ValueError:
                err_console.print("[red]error:[/red] --mapping must be JSON")
                raise typer.Exit(1) from None
        submission = jobs_service.from_file(
            fields, csv_file.read_bytes(), csv_file.name, "cli:issue"
        )
        result = jobs_service.submit(
            db, principal=principal, submission=submission, store=store, path="cli:issue",
            idempotency_key=None,
        )  # fmt: skip
        data = result.body["data"]
        if dry_run:
            _report(data, as_json)
            return
        job_id = data["jobId"]
        _follow(config, db, principal, data, quiet=as_json)
        with db.session() as session:
            job = jobs_service.require(session, principal=principal, job_id=job_id)
            final = jobs_service.to_wire(session, job=job)
            columns = list((job.request or {}).get("columns") or [])
            out = csv_file.with_name(f"{csv_file.stem}.results.csv")
            with out.open("w", encoding="utf-8-sig", newline="") as handle:
                for line in files.results_csv(columns, jobs_service.result_rows(session, job=job)):
                    handle.write(line)
    except ServiceError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        for error in getattr(exc, "errors", [])[:20]:
            err_console.print(f"  {error.field}: {error.message}")
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    if as_json:
        print_json({**final, "resultsFile": str(out)})
        return
    counts = final["counts"]
    console.print(
        f"job {job_id} {final['status']}: [bold]{counts['issued']}[/bold] issued, "
        f"{counts['failed']} failed, {counts['skipped']} skipped of {counts['total']}; "
        f"per-row results in {out}"
    )


def _report(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(data)
        return
    counts = data["counts"]
    console.print(
        f"dry run: {counts['valid']} of {counts['total']} rows would be issued "
        f"({counts['skipped']} skipped); nothing was created"
    )
    if data["errors"]:
        table = Table("row", "column", "code", "message")
        for error in data["errors"][:50]:
            table.add_row(str(error["row"]), error["column"] or "", error["code"], error["message"])
        console.print(table)


def _follow(
    config: Any, db: Database, principal: Principal, job: dict[str, Any], *, quiet: bool
) -> None:
    """Run the job's steps here, with a progress bar per phase (rows/s and the time left):
    "checking" while a big file's rows are checked, then "issuing"."""
    worker = JobWorker(config, db=db, store=make_store(config))
    with Progress(
        TextColumn("[bold]{task.description:<8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} rows/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
    ) as progress:
        checking = job["status"] == jobs_service.VALIDATING
        todo = job["counts"]["total" if checking else "remaining"]
        task = progress.add_task("checking" if checking else "issuing", total=todo, rate="-")
        done, started = 0, time.monotonic()
        while True:
            result = worker.run_once(job["jobId"])
            if result is None:
                break
            if checking and not result.checked:
                # The final pass over the checked rows ran (duplicates, `options.duplicates`):
                # what it left is what the issuing bar counts.
                checking = False
                progress.update(task, completed=todo)
                with db.session() as session:
                    found = jobs_service.require(session, principal=principal, job_id=job["jobId"])
                    todo = jobs_service.counts(session, job=found)["remaining"]
                task = progress.add_task("issuing", total=todo, rate="-")
                done, started = 0, time.monotonic()
            else:
                done += result.checked if checking else result.issued + result.failed
            rate = done / max(time.monotonic() - started, 1e-6)
            progress.update(task, completed=min(done, todo), rate=f"{rate:,.0f}")
            if result.finished:
                break
