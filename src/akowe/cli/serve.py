"""`akowe serve` and `akowe db`: run the service and migrate its database."""

from __future__ import annotations

import os
from typing import Annotated

import typer
import uvicorn

from akowe.accounts import service as accounts_service
from akowe.api.server import uvicorn_options
from akowe.cli.common import console, settings, transaction
from akowe.config import Settings
from akowe.credits import service as credits_service
from akowe.db import migrate
from akowe.modes import Mode

db = typer.Typer(help="Database migrations.", no_args_is_help=True)

DEMO_EMAIL = "demo@akowe.local"
DEMO_CREDITS = 10


@db.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Migrate the database to the latest (or given) revision."""
    migrate.upgrade(settings(), revision)
    console.print(f"Database at {revision}.")


@db.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Migrate the database down to a revision (`base` empties it)."""
    migrate.downgrade(settings(), revision)
    console.print(f"Database at {revision}.")


def ensure_demo(config: Settings) -> str:
    """Create the demo account once; its key is kept in the data directory for `make run`."""
    key_file = config.data_dir / "demo-api-key"
    with transaction() as session:
        if accounts_service.get_account_by_email(session, email=DEMO_EMAIL) is None:
            account, issued = accounts_service.create_account(
                session, email=DEMO_EMAIL, name="Demo account"
            )
            credits_service.add(
                session,
                account_id=account.id,
                mode=Mode.LIVE,
                amount=DEMO_CREDITS,
                reason="demo credits",
                actor="akowe serve --demo",
            )
            config.data_dir.mkdir(parents=True, exist_ok=True)
            key_file.write_text(issued.api_key + "\n")
            key_file.chmod(0o600)
    return key_file.read_text().strip() if key_file.exists() else "(see your first run's output)"


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    demo: Annotated[
        bool, typer.Option(help="Create a demo account and print how to try it.")
    ] = False,
    migrate_first: Annotated[
        bool,
        typer.Option(
            "--migrate/--no-migrate",
            help="Upgrade the database first (--demo always does). Deployments run "
            "`akowe db upgrade` once instead, so several processes can start together.",
        ),
    ] = False,
) -> None:
    """Run the HTTP service."""
    # Workers are separate processes that read settings from the environment.
    os.environ["AKOWE_HOST"], os.environ["AKOWE_PORT"] = host, str(port)
    config = settings()
    if migrate_first or demo:
        migrate.upgrade(config)
    if demo:
        api_key = ensure_demo(config)
        base = config.public_base_url
        console.print(f"\n[bold]akowe[/bold] is starting on {base} (docs: {base}/docs)")
        console.print(f"Demo API key: [bold green]{api_key}[/bold green]", soft_wrap=True)
        console.print("Try it:\n")
        console.print(
            f"curl --location '{base}/api/users/balance' \\\n"
            f"--header 'x-api-key: {api_key}' \\\n--data ''\n",
            soft_wrap=True,
            highlight=False,
        )
    uvicorn.run(
        "akowe.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level=config.log_level.lower(),
        **uvicorn_options(config),
    )
