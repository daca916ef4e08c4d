"""`akowe audit`: an account's audit trail, newest first."""

from __future__ import annotations

from typing import Annotated

import typer
from rich import box
from rich.table import Table

from akowe.audit import service as audit_service
from akowe.cli.common import console, print_json, transaction
from akowe.modes import Mode


def audit(
    account: Annotated[str, typer.Option("--account", help="Account id.")],
    certificate: Annotated[
        str | None, typer.Option("--certificate", help="Only this certificate's events.")
    ] = None,
    test: Annotated[bool, typer.Option("--test", help="The sandbox's events.")] = False,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show who did what, when and from where (issue, correction, revocation, resend,
    erasure), newest first."""
    with transaction() as session:
        events = audit_service.recent(
            session,
            account_id=account,
            mode=Mode.TEST if test else Mode.LIVE,
            certificate_id=certificate,
            limit=limit,
        )
        rows = [audit_service.to_wire(event) for event in events]
    if as_json:
        print_json(rows)
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("when", "action", "actor", "certificate", "address"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(
            row["createdAt"],
            row["action"],
            row["actor"],
            (row["certificateId"] or "")[:8],
            row["address"] or "",
        )
    console.print(table)
