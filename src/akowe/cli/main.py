"""The `akowe` command: one sub-command per noun."""

from __future__ import annotations

import typer

from akowe.cli.accounts import accounts, keys, subaccounts
from akowe.cli.audit import audit
from akowe.cli.backup import backup, restore
from akowe.cli.credits import credits
from akowe.cli.deliveries import deliveries, worker
from akowe.cli.jobs import issue
from akowe.cli.serve import db, serve
from akowe.cli.signing import signing, verify

# Tracebacks never print local variables: they may hold secrets.
app = typer.Typer(
    help="akowe: self-hostable certificate issuance.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command("serve")(serve)
app.add_typer(db, name="db")
app.add_typer(accounts, name="accounts")
app.add_typer(keys, name="keys")
app.add_typer(subaccounts, name="subaccounts")
app.add_typer(credits, name="credits")
app.add_typer(deliveries, name="deliveries")
app.command("worker")(worker)
app.command("issue")(issue)
app.add_typer(signing, name="signing")
app.command("verify")(verify)
app.command("backup")(backup)
app.command("restore")(restore)
app.command("audit")(audit)
