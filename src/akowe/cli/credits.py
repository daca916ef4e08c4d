"""`akowe credits`: operators grant credits; every change is a ledger entry with a reason."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from akowe.accounts import service as accounts_service
from akowe.audit import service as audit_service
from akowe.cli.common import console, print_json, transaction
from akowe.credits import service as credits_service
from akowe.modes import Mode
from akowe.schemas import format_timestamp

credits = typer.Typer(help="The credit ledger.", no_args_is_help=True)

AccountOpt = Annotated[str, typer.Option("--account", help="Account id.")]
TestOpt = Annotated[bool, typer.Option("--test", help="The sandbox ledger.")]


@credits.command("add")
def add_credits(
    account: AccountOpt,
    amount: Annotated[int, typer.Option(help="Credits to add (negative to withdraw).")],
    reason: Annotated[str, typer.Option(help="Why; kept in the ledger.")] = "operator grant",
    test: TestOpt = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Add (or withdraw) credits; the balance never goes below zero."""
    with transaction() as session:
        accounts_service.require_account(session, account_id=account)
        entry = credits_service.add(
            session,
            account_id=account,
            mode=Mode.TEST if test else Mode.LIVE,
            amount=amount,
            reason=reason,
            actor=audit_service.operator(),
        )
        audit_service.record_action(
            session,
            account_id=account,
            mode=entry.mode,
            actor=audit_service.operator(),
            action="credits.added" if amount > 0 else "credits.withdrawn",
            details={"amount": amount, "reason": reason, "entryId": entry.id},
        )
        result = {"entryId": entry.id, "amount": entry.amount, "balance": entry.balance_after}
    if as_json:
        print_json(result)
        return
    console.print(f"{amount:+d} credits; balance is now [bold]{result['balance']}[/bold]")


@credits.command("history")
def credit_history(
    account: AccountOpt,
    test: TestOpt = False,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The ledger, newest first."""
    with transaction() as session:
        accounts_service.require_account(session, account_id=account)
        rows = [
            {
                "time": format_timestamp(e.created_at),
                "amount": e.amount,
                "balanceAfter": e.balance_after,
                "reason": e.reason,
                "reference": e.reference,
                "actor": e.actor,
            }
            for e in credits_service.history(
                session, account_id=account, mode=Mode.TEST if test else Mode.LIVE, limit=limit
            )
        ]
    if as_json:
        print_json(rows)
        return
    table = Table("time", "amount", "balance", "reason", "reference", "actor")
    for r in rows:
        amount = r["amount"]
        table.add_row(
            str(r["time"]),
            f"{amount:+d}" if isinstance(amount, int) else str(amount),
            str(r["balanceAfter"]),
            str(r["reason"]),
            str(r["reference"] or ""),
            str(r["actor"]),
        )
    console.print(table)
