"""Shared CLI plumbing: settings, one transaction per command, output helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.orm import Session

from akowe.config import Settings
from akowe.db.database import Database
from akowe.errors import ServiceError

console = Console()
err_console = Console(stderr=True)


def settings() -> Settings:
    """Settings from the environment, the same the server reads (exit 1 if invalid)."""
    try:
        return Settings()
    except ValidationError as exc:  # its text never includes the values (hide_input_in_errors)
        err_console.print(f"[red]error:[/red] invalid settings: {exc}", markup=True)
        raise typer.Exit(1) from exc


@contextmanager
def transaction() -> Iterator[Session]:
    """One committed transaction; a domain error prints its message and exits 1."""
    db = Database(settings())
    try:
        with db.session(write=True) as session:
            yield session
            session.commit()
    except ServiceError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc
    finally:
        db.dispose()


def print_json(value: Any) -> None:
    """Machine-readable output for scripts."""
    typer.echo(json.dumps(value, default=str))
