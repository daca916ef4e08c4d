"""The `akowe` command: one sub-command per noun."""

from __future__ import annotations

import typer

from akowe.cli.accounts import accounts, keys, subaccounts
from akowe.cli.credits import credits
from akowe.cli.deliveries import deliveries, worker
from akowe.cli.serve import db, serve

app = typer.Typer(help="akowe: self-hostable certificate issuance.", no_args_is_help=True)
app.command("serve")(serve)
app.add_typer(db, name="db")
app.add_typer(accounts, name="accounts")
app.add_typer(keys, name="keys")
app.add_typer(subaccounts, name="subaccounts")
app.add_typer(credits, name="credits")
app.add_typer(deliveries, name="deliveries")
app.command("worker")(worker)
