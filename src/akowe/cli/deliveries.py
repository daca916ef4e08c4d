"""`akowe deliveries` and `akowe worker`: inspect and retry the outbox, run the sender."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from akowe.cli.common import console, err_console, print_json, settings, transaction
from akowe.delivery import service as delivery_service
from akowe.delivery.models import OutboxMessage
from akowe.delivery.worker import DeliveryWorker
from akowe.errors import ServiceError
from akowe.jobs.worker import JobWorker
from akowe.schemas import format_timestamp

deliveries = typer.Typer(help="The delivery outbox (emails, webhooks).", no_args_is_help=True)
STATUSES = ("queued", "sending", "sent", "retrying", "failed", "captured", "superseded")


def _row(message: OutboxMessage) -> dict[str, Any]:
    payload = message.payload or {}
    target = payload.get("to") or payload.get("event") or ""
    return {
        "id": message.id,
        "kind": message.kind,
        "status": message.status,
        "attempts": message.attempts,
        "target": target,
        "certificateId": message.certificate_id,
        "createdAt": format_timestamp(message.created_at),
        "nextAttemptAt": format_timestamp(message.next_attempt_at),
        "sentAt": format_timestamp(message.sent_at) if message.sent_at else None,
        "lastError": message.last_error,
    }


def _ago(moment: datetime, now: datetime) -> str:
    """A short relative time: "in 5m", "now", "3h ago"."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    seconds = int((moment - now).total_seconds())
    span = abs(seconds)
    if span < 5:
        return "now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        if span >= size:
            amount = f"{span // size}{unit}"
            break
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


def _when(message: OutboxMessage, now: datetime) -> str:
    """What a reader wants to know about a message's time, by status."""
    if message.status == "queued":
        # Claimable now; `next_attempt_at` is its turn in line, which for a bulk job's rows
        # lies ahead of the clock (akowe.delivery.service.queue): not a time it waits for.
        return f"queued {_ago(message.created_at, now)}"
    if message.status == "retrying":
        due = _ago(message.next_attempt_at, now)
        return f"next {due}" if due.startswith("in ") else f"due {due}"
    if message.sent_at is not None:
        return f"sent {_ago(message.sent_at, now)}"
    return f"created {_ago(message.created_at, now)}"


def _table(messages: Sequence[OutboxMessage]) -> Table:
    """Readable at 80 columns: short ids (`retry` takes them), one relative time, and the
    recipient or event with the last error under it, each line cut with an ellipsis."""
    now = datetime.now(UTC)
    table = Table(
        box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True, expand=True
    )
    table.add_column("id", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("tries", justify="right", no_wrap=True)
    table.add_column("when", no_wrap=True)
    table.add_column("to / event, last error", no_wrap=True, overflow="ellipsis", ratio=1)
    for message in messages:
        row = _row(message)
        detail = Text(str(row["target"]))
        error = " ".join((row["lastError"] or "").split())
        if error:
            detail.append("\n" + error, style="red")
        table.add_row(
            message.id[: delivery_service.SHORT_ID_LENGTH],
            row["kind"],
            row["status"],
            str(row["attempts"]),
            _when(message, now),
            detail,
        )
    return table


@deliveries.command("list")
def list_deliveries(
    status: Annotated[
        str | None, typer.Option(help=f"Only this status: {', '.join(STATUSES)}.")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind: email, event, webhook.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (full ids).")] = False,
) -> None:
    """List outbox messages, newest first."""
    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"must be one of {', '.join(STATUSES)}", param_hint="--status")
    with transaction() as session:
        messages = delivery_service.list_messages(session, status=status, kind=kind, limit=limit)
        if as_json:
            print_json([_row(m) for m in messages])
            return
        table = _table(messages)
    console.print(table)


@deliveries.command("retry")
def retry_deliveries(
    message_id: Annotated[
        str | None,
        typer.Argument(help="The outbox message id, or its start as `deliveries list` shows it."),
    ] = None,
    all_failed: Annotated[bool, typer.Option("--all-failed", help="Every failed message.")] = False,
) -> None:
    """Queue a failed message (or all of them) again now, with fresh attempts."""
    if (message_id is None) == (not all_failed):
        raise typer.BadParameter("give a message id or --all-failed (not both)")
    with transaction() as session:
        if all_failed:
            count = delivery_service.retry_failed(session)
        else:
            full_id = delivery_service.resolve_message_id(session, id_or_prefix=str(message_id))
            delivery_service.retry(session, message_id=full_id)
            count = 1
    console.print(f"{count} deliver{'y' if count == 1 else 'ies'} queued again.")


def worker(
    once: Annotated[bool, typer.Option("--once", help="Send what is due, then exit.")] = False,
) -> None:
    """Run the delivery worker and the bulk job worker (both also run inside `akowe serve`
    unless disabled)."""
    from akowe.api.logging import configure_logging

    config = settings()
    configure_logging(config.log_level)
    try:
        runner = DeliveryWorker(config)
    except ServiceError as exc:  # no secret key: nothing could be signed
        err_console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc
    jobs = JobWorker(
        config, store=runner.store, on_chunk=runner.wake, processes=runner.worker_processes
    )
    if once:
        rows = jobs.drain()
        count = runner.drain()
        jobs.close()
        runner.close()
        console.print(f"{rows} job row(s) issued, {count} message(s) processed.")
        return

    def _stop(signum: int, _frame: Any) -> None:
        jobs.request_stop()
        runner.request_stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    jobs.start()
    try:
        runner.run()
    finally:
        jobs.stop()
        runner.close()
