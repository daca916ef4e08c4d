"""`akowe signing`: organization keys and credentials; `akowe verify FILE`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from akowe.cli.common import console, err_console, print_json, settings, transaction
from akowe.delivery.worker import DeliveryWorker
from akowe.errors import ServiceError
from akowe.schemas import timestamp_or_none
from akowe.signing import service as signing_service
from akowe.signing.keys import generate_secret
from akowe.verification import service as verification_service

signing = typer.Typer(
    help="Signing keys of organizations, and their signed credentials.", no_args_is_help=True
)
MAX_FILE_BYTES = 32 * 1024 * 1024


def _signer() -> signing_service.Signer:
    try:
        return signing_service.Signer.from_settings(settings())
    except ServiceError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc


@signing.command("secret")
def new_secret() -> None:
    """Print a new random secret for AKOWE_SECRET_KEY (nothing is stored)."""
    typer.echo(generate_secret())


@signing.command("keys")
def list_keys(
    organization_id: Annotated[str, typer.Argument(help="The organization id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """An organization's keys, oldest first (public halves; all are in its DID document)."""
    with transaction() as session:
        keys = signing_service.list_keys(session, organization_id=organization_id)
    rows = [
        {
            "id": key.id,
            "publicKeyMultibase": key.public_key,
            "createdAt": timestamp_or_none(key.created_at),
            "retiredAt": timestamp_or_none(key.retired_at),
        }
        for key in keys
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "publicKeyMultibase", "created", "retired")
    for row in rows:
        table.add_row(
            row["id"], row["publicKeyMultibase"], row["createdAt"], row["retiredAt"] or ""
        )
    console.print(table)


@signing.command("rotate")
def rotate(
    organization_id: Annotated[str, typer.Argument(help="The organization id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Retire the organization's current key and sign with a new one from now on; credentials
    signed before keep verifying (the old key stays in the DID document)."""
    signer = _signer()
    with transaction() as session:
        key = signing_service.rotate_key(session, signer=signer, organization_id=organization_id)
        result = {"organizationId": organization_id, "keyId": key.id, "publicKey": key.public_key}
    if as_json:
        print_json(result)
    else:
        console.print(f"New signing key {key.public_key} for organization {organization_id}.")


@signing.command("repair")
def repair(
    settle_seconds: Annotated[
        float, typer.Option(help="Skip certificates issued less than this long ago.")
    ] = 0.0,
) -> None:
    """Sign now every certificate that has no credential yet (the worker does this too)."""
    config = settings()
    signer = _signer()
    runner = DeliveryWorker(config, signer=signer)
    try:
        queued = runner.repair(settle_seconds=settle_seconds)
        processed = runner.drain()
    finally:
        runner.close()
    console.print(f"{queued} certificate(s) queued for signing; {processed} message(s) processed.")


def verify(
    path: Annotated[Path, typer.Argument(help="A certificate PDF, a baked PNG or a credential.")],
    offline: Annotated[
        bool,
        typer.Option(
            help="Check signature and integrity only, with the DID document cached in the file "
            "(or a did:key); revocation status is not checked."
        ),
    ] = False,
    did_document: Annotated[
        Path | None,
        typer.Option(help="A DID document to trust for the issuer (offline, for bare JSON)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Verify a certificate file: the verdict and each named check. Exit status 0 when valid
    (offline: when signature and integrity hold), 1 otherwise, 2 for an unreadable file."""
    try:
        data = _read(path)
        extracted = verification_service.read_document(data)
        cached = dict(extracted.cached_dids)
        if did_document is not None:
            extra = json.loads(_read(did_document))
            if isinstance(extra, dict) and isinstance(extra.get("id"), str):
                cached[extra["id"]] = extra
    except (ServiceError, ValueError, OSError) as exc:
        message = exc.message if isinstance(exc, ServiceError) else str(exc)
        err_console.print(f"[red]error:[/red] {message}")
        raise typer.Exit(2) from exc
    with httpx.Client(timeout=10.0, follow_redirects=True) as client:
        resolvers = verification_service.Resolvers(
            remote=None if offline else verification_service.plain_fetcher(client),
            cached=cached if offline else None,
        )
        verdict = verification_service.verify_document(
            extracted.credential, resolvers, offline=offline
        )
    summary = verification_service.document_summary(extracted.credential, verdict)
    wire = verification_service.verdict_wire(verdict, summary)
    wire["offline"] = offline
    if as_json:
        print_json(wire)
    else:
        _print_verdict(wire, path, extracted.kind)
    ok = verdict.valid if not offline else verdict.result.valid
    raise typer.Exit(0 if ok else 1)


def _read(path: Path) -> bytes:
    if str(path) == "-":
        return sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    return path.read_bytes()


def _print_verdict(wire: dict[str, Any], path: Path, kind: str) -> None:
    status = str(wire["status"]).upper()
    colour = {"VALID": "green", "TEST": "magenta", "EXPIRED": "yellow"}.get(status, "red")
    note = " (offline: revocation status not checked)" if wire["offline"] else ""
    console.print(f"[bold {colour}]{status}[/bold {colour}]{note}  {path} ({kind})")
    certificate = wire["certificate"]
    for label, value in (
        ("Recipient", certificate["recipientName"]),
        ("Achievement", certificate["achievement"]),
        ("Issuer", certificate["organization"]["name"]),
        ("Issued", certificate["issuedAt"]),
        ("Expires", certificate["expiresAt"] or "never"),
    ):
        console.print(f"  {label}: {value}", highlight=False, markup=False)
    table = Table("check", "result", "details")
    for check in wire["checks"]:
        result = "[green]passed[/green]" if check["passed"] else "[red]failed[/red]"
        table.add_row(check["name"], result, check["message"])
    console.print(table)
