"""`akowe backup FILE` and `akowe restore FILE`: the database, online (akowe.db.backup)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Annotated

import typer

from akowe.cli.common import console, err_console, settings
from akowe.db import backup as backups


def backup(
    file: Annotated[Path, typer.Argument(help="Where to write the backup.")],
    print_only: Annotated[
        bool, typer.Option("--print", help="PostgreSQL: print the pg_dump command, run nothing.")
    ] = False,
) -> None:
    """Back the database up to FILE while the service runs (SQLite: online backup API;
    PostgreSQL: pg_dump's custom format). Copy the file store afterwards (docs/operations.md)."""
    config = settings()
    if backups.is_sqlite(config):
        backups.backup_sqlite(config, file)
        console.print(f"Backed up the SQLite database to {file}.")
        return
    _run(backups.pg_dump_command(config, file), print_only=print_only)
    if not print_only:
        console.print(f"Backed up the PostgreSQL database to {file} (pg_dump custom format).")


def restore(
    file: Annotated[Path, typer.Argument(help="A backup made by `akowe backup`.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Replace the database without asking.")
    ] = False,
    print_only: Annotated[
        bool,
        typer.Option("--print", help="PostgreSQL: print the pg_restore command, run nothing."),
    ] = False,
) -> None:
    """Replace the database with a backup. Stop the service and its workers first: what
    they wrote since the backup is lost."""
    config = settings()
    if not file.is_file():
        err_console.print(f"[red]error:[/red] {file} does not exist")
        raise typer.Exit(1)
    if not print_only and not yes:
        typer.confirm(
            "This replaces every row of the database with the backup's. Continue?", abort=True
        )
    if backups.is_sqlite(config):
        try:
            backups.restore_sqlite(config, file)
        except ValueError as exc:
            err_console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from exc
        console.print(f"Restored the SQLite database from {file}.")
        return
    _run(backups.pg_restore_command(config, file), print_only=print_only)
    if not print_only:
        console.print(f"Restored the PostgreSQL database from {file}.")


def _run(command: backups.Command, *, print_only: bool) -> None:
    if print_only:
        typer.echo(command.shown())
        return
    if backups.program(command.args[0]) is None:
        err_console.print(
            f"[red]error:[/red] {command.args[0]} is not installed (Debian: postgresql-client, "
            "the same major version as the server). The command is:"
        )
        typer.echo(command.shown())
        raise typer.Exit(1)
    done = subprocess.run(command.args, env={**os.environ, **command.env}, check=False)  # noqa: S603
    if done.returncode != 0:
        err_console.print(f"[red]error:[/red] {command.args[0]} exited {done.returncode}")
        raise typer.Exit(done.returncode)
