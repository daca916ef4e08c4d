"""`akowe deliveries` and `akowe worker`: inspect and retry the outbox, run the sender."""

from __future__ import annotations

import signal
from typing import Annotated, Any

import typer
from rich.table import Table

from akowe.cli.common import console, print_json, settings, transaction
from akowe.delivery import service as delivery_service
from akowe.delivery.models import OutboxMessage
from akowe.delivery.worker import DeliveryWorker
from akowe.schemas import format_timestamp

deliveries = typer.Typer(help="The delivery outbox (emails, webhooks).", no_args_is_help=True)
STATUSES = ("queued", "sending", "sent", "retrying", "failed", "captured")


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


@deliveries.command("list")
def list_deliveries(
    status: Annotated[
        str | None, typer.Option(help=f"Only this status: {', '.join(STATUSES)}.")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind: email, event, webhook.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List outbox messages, newest first."""
    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"must be one of {', '.join(STATUSES)}", param_hint="--status")
    with transaction() as session:
        rows = [
            _row(m)
            for m in delivery_service.list_messages(session, status=status, kind=kind, limit=limit)
        ]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "kind", "status", "attempts", "to / event", "next attempt", "last error")
    for r in rows:
        table.add_row(
            r["id"],
            r["kind"],
            r["status"],
            str(r["attempts"]),
            str(r["target"]),
            r["nextAttemptAt"],
            r["lastError"] or "",
        )
    console.print(table)


@deliveries.command("retry")
def retry_deliveries(
    message_id: Annotated[str | None, typer.Argument(help="The outbox message id.")] = None,
    all_failed: Annotated[bool, typer.Option("--all-failed", help="Every failed message.")] = False,
) -> None:
    """Queue a failed message (or all of them) again now, with fresh attempts."""
    if (message_id is None) == (not all_failed):
        raise typer.BadParameter("give a message id or --all-failed (not both)")
    with transaction() as session:
        if all_failed:
            count = delivery_service.retry_failed(session)
        else:
            delivery_service.retry(session, message_id=str(message_id))
            count = 1
    console.print(f"{count} deliver{'y' if count == 1 else 'ies'} queued again.")


def worker(
    once: Annotated[bool, typer.Option("--once", help="Send what is due, then exit.")] = False,
) -> None:
    """Run the delivery worker alone (also runs inside `akowe serve` unless disabled)."""
    from akowe.api.logging import configure_logging

    config = settings()
    configure_logging(config.log_level)
    runner = DeliveryWorker(config)
    if once:
        count = runner.drain()
        runner.close()
        console.print(f"{count} message(s) processed.")
        return

    def _stop(signum: int, _frame: Any) -> None:
        runner.request_stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        runner.run()
    finally:
        runner.close()
