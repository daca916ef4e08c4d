"""`akowe accounts|keys|subaccounts`: manage customers and their API keys."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from akowe.accounts import service as accounts_service
from akowe.audit import service as audit_service
from akowe.cli.common import console, print_json, transaction
from akowe.credits import service as credits_service
from akowe.modes import Mode
from akowe.schemas import format_timestamp

accounts = typer.Typer(help="Customer accounts.", no_args_is_help=True)
keys = typer.Typer(help="API keys (shown once, stored as a hash).", no_args_is_help=True)
subaccounts = typer.Typer(help="Sub-accounts, identified by email.", no_args_is_help=True)

AccountOpt = Annotated[str, typer.Option("--account", help="Account id.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@accounts.command("create")
def create_account(
    email: Annotated[str, typer.Option(help="The account's email.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    credits: Annotated[int, typer.Option(min=0, help="Initial live credits.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Create an account and its first live API key."""
    with transaction() as session:
        account, issued = accounts_service.create_account(session, email=email, name=name)
        if credits:
            credits_service.add(
                session,
                account_id=account.id,
                mode=Mode.LIVE,
                amount=credits,
                reason="initial credits",
                actor="cli",
            )
        result = {
            "accountId": account.id,
            "email": account.email,
            "apiKey": issued.api_key,
            "balance": credits,
        }
    if as_json:
        print_json(result)
        return
    console.print(f"Account [bold]{result['accountId']}[/bold] ({result['email']})")
    console.print(
        f"API key (shown once): [bold green]{result['apiKey']}[/bold green]", soft_wrap=True
    )
    console.print(f"Balance: {credits}")


@accounts.command("list")
def list_accounts(as_json: JsonOpt = False) -> None:
    """List accounts."""
    with transaction() as session:
        rows = [
            {"accountId": a.id, "email": a.email, "name": a.name}
            for a in accounts_service.list_accounts(session)
        ]
    if as_json:
        print_json(rows)
        return
    table = Table("account id", "email", "name")
    for row in rows:
        table.add_row(row["accountId"], row["email"], row["name"] or "")
    console.print(table)


@keys.command("create")
def create_key(
    account: AccountOpt,
    test: Annotated[bool, typer.Option("--test", help="A sandbox key.")] = False,
    expires_in: Annotated[
        int | None, typer.Option("--expires-in", min=1, help="Days until it expires.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A label.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key; the key is printed once."""
    with transaction() as session:
        issued = accounts_service.create_key(
            session,
            account_id=account,
            mode=Mode.TEST if test else Mode.LIVE,
            expires_in=timedelta(days=expires_in) if expires_in else None,
            name=name,
        )
        audit_service.record_action(
            session,
            account_id=account,
            mode=issued.key.mode,
            actor=audit_service.operator(),
            action="key.created",
            details={"keyId": issued.key.id, "expiresInDays": expires_in, "name": name},
        )
        result: dict[str, Any] = {"keyId": issued.key.id, "apiKey": issued.api_key}
        if test:
            # Test mode spends nothing real: a new sandbox key can issue at once.
            credits_service.top_up_sandbox(session, account_id=account)
            result["sandboxBalance"] = credits_service.balance(
                session, account_id=account, mode=Mode.TEST
            )
    if as_json:
        print_json(result)
        return
    console.print(f"Key [bold]{result['keyId']}[/bold]")
    console.print(
        f"API key (shown once): [bold green]{result['apiKey']}[/bold green]", soft_wrap=True
    )
    if test:
        console.print(f"Sandbox balance: {result['sandboxBalance']} credits (topped up as used)")


@keys.command("list")
def list_keys(account: AccountOpt, as_json: JsonOpt = False) -> None:
    """List an account's keys (never their secrets)."""
    with transaction() as session:
        rows = [
            {
                "keyId": k.id,
                "mode": k.mode,
                "name": k.name,
                "createdAt": format_timestamp(k.created_at),
                "expiresAt": format_timestamp(k.expires_at) if k.expires_at else None,
                "revokedAt": format_timestamp(k.revoked_at) if k.revoked_at else None,
                "lastUsedAt": format_timestamp(k.last_used_at) if k.last_used_at else None,
            }
            for k in accounts_service.list_keys(session, account_id=account)
        ]
    if as_json:
        print_json(rows)
        return
    table = Table("key id", "mode", "name", "created", "expires", "revoked", "last used")
    for r in rows:
        table.add_row(*(str(r[c] or "") for c in r))
    console.print(table)


@keys.command("revoke")
def revoke_key(key_id: Annotated[str, typer.Argument(help="The key's id.")]) -> None:
    """Revoke a key; requests with it fail with 401 at once."""
    with transaction() as session:
        key = accounts_service.revoke_key(session, key_id=key_id)
        audit_service.record_action(
            session,
            account_id=key.account_id,
            mode=key.mode,
            actor=audit_service.operator(),
            action="key.revoked",
            details={"keyId": key_id},
        )
        revoked_at = format_timestamp(key.revoked_at) if key.revoked_at else ""
    console.print(f"Revoked {key_id} at {revoked_at}")


@subaccounts.command("add")
def add_subaccount(
    account: AccountOpt,
    email: Annotated[str, typer.Option(help="The sub-account's email.")],
    as_json: JsonOpt = False,
) -> None:
    """Add a sub-account."""
    with transaction() as session:
        sub = accounts_service.add_subaccount(session, account_id=account, email=email)
        result = {"subAccountId": sub.id, "email": sub.email}
    if as_json:
        print_json(result)
        return
    console.print(f"Sub-account {result['email']} added ({result['subAccountId']})")


@subaccounts.command("list")
def list_subaccounts(account: AccountOpt, as_json: JsonOpt = False) -> None:
    """List an account's sub-accounts."""
    with transaction() as session:
        rows = [
            {"subAccountId": s.id, "email": s.email, "createdAt": format_timestamp(s.created_at)}
            for s in accounts_service.list_subaccounts(session, account_id=account)
        ]
    if as_json:
        print_json(rows)
        return
    table = Table("sub-account id", "email", "created")
    for r in rows:
        table.add_row(r["subAccountId"], r["email"], r["createdAt"])
    console.print(table)
