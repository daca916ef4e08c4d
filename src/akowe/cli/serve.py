"""`akowe serve` and `akowe db`: run the service and migrate its database."""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from uvicorn.supervisors import Multiprocess

from akowe.accounts import service as accounts_service
from akowe.api.logging import configure_logging
from akowe.api.server import uvicorn_options
from akowe.cli.common import console, err_console, settings, transaction
from akowe.config import Settings
from akowe.credits import service as credits_service
from akowe.db import migrate
from akowe.modes import Mode
from akowe.signing import service as signing_service

db = typer.Typer(help="Database migrations.", no_args_is_help=True)

log = logging.getLogger("akowe.serve")

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
    temporary_metrics = share_metrics() if workers > 1 else None
    config = settings()
    configure_logging(config.log_level)
    try:
        # --demo (`make run`) keeps a generated secret in the data directory; otherwise
        # the service refuses to start without one.
        signing_service.resolve_secret(config, create=demo)
    except signing_service.MissingSecretKey as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc
    if config.base_url is None and not _is_loopback(host):
        err_console.print(
            "[bold red]WARNING: AKOWE_BASE_URL is not set[/bold red] and the service listens on "
            f"{host}. Verification links, QR codes, DIDs and credentials will name "
            f"{config.public_base_url}, which nobody else can reach, and signed credentials "
            "keep that address forever. Set AKOWE_BASE_URL to the public https:// address."
        )
    # The port is taken before anything else happens, so a busy port is said plainly (and
    # nothing is printed that would reach whatever else listens there).
    sock = listen_socket(host, port)
    if migrate_first or demo:
        migrate.upgrade(config)
    if demo:
        api_key = ensure_demo(config)
        threading.Thread(
            target=_announce_when_ready,
            args=(config.public_base_url, _probe_url(host, port), api_key),
            name="akowe-announce",
            daemon=True,
        ).start()
    server_config = uvicorn.Config(
        "akowe.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # akowe.access logs one JSON line per request
        log_config=None,  # every line goes through the one JSON handler (configure_logging)
        log_level=config.log_level.lower(),
        **uvicorn_options(config),
    )
    log.info("starting %d worker(s) on %s", workers, config.public_base_url)
    try:
        if workers > 1:
            Multiprocess(server_config, sockets=[sock]).run()
        else:
            server = uvicorn.Server(server_config)
            server.run(sockets=[sock])
            if not server.started:
                raise typer.Exit(3)  # uvicorn's start-up failure code; the reason is logged
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        if temporary_metrics is not None:
            shutil.rmtree(temporary_metrics, ignore_errors=True)


def share_metrics() -> Path | None:
    """Give the worker processes one empty Prometheus multi-process directory (the
    configured `AKOWE_METRICS_DIR`, or a new temporary one), so `/metrics` answered by any of
    them adds up all of them. Set in the environment before the workers start, which is
    when the client library reads it. Returns the temporary directory to delete, if any."""
    configured = settings().metrics_dir
    directory = configured or Path(tempfile.mkdtemp(prefix="akowe-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):  # a previous run's processes
        stale.unlink()
    os.environ["AKOWE_METRICS_DIR"] = os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return None if configured else directory


def listen_socket(host: str, port: int) -> socket.socket:
    """Bind the service's address (as uvicorn would) or exit 1 saying why."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            reason = (
                f"port {port} on {host} is already in use by another program (or another akowe). "
                f"Stop it, or choose a free port: akowe serve --port {port + 1}"
            )
        else:
            reason = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        err_console.print(f"[red]error:[/red] {reason}", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from exc
    sock.set_inheritable(True)  # worker processes serve from it
    return sock


def _probe_url(host: str, port: int) -> str:
    # A wildcard address is reached through loopback.
    wildcards = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104
    target = wildcards.get(host, host)
    return f"http://[{target}]:{port}" if ":" in target else f"http://{target}:{port}"


def _announce_when_ready(base: str, probe: str, api_key: str) -> None:
    """Print the demo's key and curl once the service answers on the socket it holds."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    while True:
        try:
            with opener.open(f"{probe}/healthz", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        time.sleep(0.05)
    console.print(f"\n[bold]akowe[/bold] is running on {base} (docs: {base}/docs)")
    console.print(f"Demo API key: [bold green]{api_key}[/bold green]", soft_wrap=True)
    console.print("Try it:\n")
    console.print(
        f"curl --location '{base}/api/users/balance' \\\n"
        f"--header 'x-api-key: {api_key}' \\\n--data ''\n",
        soft_wrap=True,
        highlight=False,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
