"""Recording and reading the audit trail.

Every use case that changes something records one event in its own transaction (so an
event exists exactly when the change does): who (`key:<id>`, `key:<id>/sub:<email>` or
`cli:<operator>`), what (`certificate.issued`, `.corrected`, `.revoked`, `.resent`,
`.erased`; `key.created`, `key.revoked`; `credits.added`, `credits.withdrawn`;
`webhook.created`, `webhook.deleted`), when, the certificate, from which address, and
details without personal data (a correction lists the fields it changed, never their values).
"""

from __future__ import annotations

import getpass
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, select
from sqlalchemy.orm import Session

from akowe.accounts.service import Principal
from akowe.audit.models import AuditEvent
from akowe.db.base import new_id, utcnow
from akowe.db.database import Database, session_reader
from akowe.db.statements import Batch, Query, QueryFamily, insert_query
from akowe.pagination import Page, fetch_page, keyset
from akowe.schemas import format_timestamp

_EVENTS = cast(Table, AuditEvent.__table__)
INSERT_EVENT: Query[Any] = insert_query(_EVENTS)


def actor_of(principal: Principal) -> str:
    """`key:<key id>`, with `/sub:<sub-account email>` when scoped to a sub-account."""
    actor = f"key:{principal.key_id}"
    if principal.subaccount_email:
        actor += f"/sub:{principal.subaccount_email}"
    return actor


def queue(
    batch: Batch,
    *,
    principal: Principal,
    action: str,
    certificate_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Send the insert of one event by `principal` in the caller's batch."""
    batch.write(
        INSERT_EVENT,
        id=new_id(),
        account_id=principal.account_id,
        mode=str(principal.mode),
        actor=actor_of(principal),
        action=action,
        certificate_id=certificate_id,
        details=details or {},
        address=principal.address,
        created_at=utcnow(),
    )


def operator() -> str:
    """`cli:<user>`: who ran an `akowe` command on the server."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"


def record_action(
    session: Session,
    *,
    account_id: str,
    mode: str,
    actor: str,
    action: str,
    details: dict[str, Any] | None = None,
    address: str | None = None,
) -> None:
    """Record an event not made through a certificate (a key, credits, a webhook), by an
    actor given as such (`cli:<user>` from the command line, `key:<id>` from the API)."""
    with session_reader(session).batch() as batch:
        batch.write(
            INSERT_EVENT,
            id=new_id(),
            account_id=account_id,
            mode=mode,
            actor=actor,
            action=action,
            certificate_id=None,
            details=details or {},
            address=address,
            created_at=utcnow(),
        )


def record(
    session: Session,
    *,
    principal: Principal,
    action: str,
    certificate_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """`queue` in the caller's transaction."""
    with session_reader(session).batch() as batch:
        queue(
            batch,
            principal=principal,
            action=action,
            certificate_id=certificate_id,
            details=details,
        )


def _page(certificate: bool, with_cursor: bool) -> Select[Any]:
    e = _EVENTS.c
    statement = select(_EVENTS).where(
        e.account_id == bindparam("account_id"), e.mode == bindparam("mode")
    )
    if certificate:
        statement = statement.where(e.certificate_id == bindparam("certificate_id"))
    return keyset(statement, created_at=e.created_at, id_column=e.id, with_cursor=with_cursor)


EVENT_PAGE: QueryFamily[AuditEvent] = QueryFamily(_page, name="audit events")


async def list_events(
    db: Database,
    *,
    account_id: str,
    mode: str,
    certificate_id: str | None,
    limit: int,
    cursor: str | None,
) -> Page[AuditEvent]:
    """The account's events (this mode), newest first, optionally of one certificate."""
    params: dict[str, Any] = {"account_id": account_id, "mode": str(mode)}
    if certificate_id is not None:
        params["certificate_id"] = certificate_id
    return await fetch_page(
        db,
        EVENT_PAGE,
        certificate_id is not None,
        limit=limit,
        cursor=cursor,
        tenant=account_id,
        **params,
    )


def recent(
    session: Session, *, account_id: str, mode: str, certificate_id: str | None, limit: int
) -> list[AuditEvent]:
    """The account's newest events (the CLI's read)."""
    statement = (
        select(AuditEvent)
        .where(AuditEvent.account_id == account_id, AuditEvent.mode == str(mode))
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(limit)
    )
    if certificate_id is not None:
        statement = statement.where(AuditEvent.certificate_id == certificate_id)
    return list(session.scalars(statement))


def to_wire(event: AuditEvent) -> dict[str, Any]:
    """An event as answered (AuditEventRead)."""
    return {
        "id": event.id,
        "action": event.action,
        "actor": event.actor,
        "certificateId": event.certificate_id,
        "details": event.details,
        "address": event.address,
        "createdAt": format_timestamp(event.created_at),
    }
