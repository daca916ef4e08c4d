"""The outbox: delivery work recorded in the caller's transaction, so it is never lost.

Messages move `queued -> sending -> sent | captured`, or `sending -> retrying -> sending ...`
and finally `failed` after `delivery_max_attempts`; an email replaced by a resend before it
went out is `superseded`. A certificate's delivery status is its latest email's status.
Claims are safe with several workers: on PostgreSQL candidates are selected
`FOR UPDATE SKIP LOCKED`; everywhere the claim is a conditional UPDATE that sets a claim
token (`locked_by`) and a lease (`locked_until`); a message whose worker died is claimable
again once its lease has run out (at-least-once).
Finishing a message only counts if the worker still holds its claim token.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Join,
    Table,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from akowe.certificates.models import Certificate
from akowe.db.base import new_id, utcnow
from akowe.db.database import Database, session_reader
from akowe.db.statements import Batch, DriverReader, Query, insert_query, with_defaults
from akowe.delivery.email import BUILT_IN_PLACEHOLDERS as BUILT_IN_PLACEHOLDERS
from akowe.delivery.email import message_id as email_message_id
from akowe.delivery.email import unknown_placeholders as unknown_placeholders
from akowe.delivery.exceptions import (
    MessageNotFound,
    NotRetryable,
    ValidationFailed,
    WebhookNotFound,
)
from akowe.delivery.models import OutboxMessage, WebhookEndpoint
from akowe.delivery.schemas import MessageRead, WebhookCreate
from akowe.delivery.webhooks import vet_url
from akowe.metrics import OutboxStats
from akowe.modes import Mode
from akowe.outbound import FetchRefused
from akowe.schemas import format_timestamp, timestamp_or_none

PENDING = ("queued", "retrying", "sending")
SUPERSEDED = "superseded"  # an email replaced by a resend before it went out
FINAL = ("sent", "failed", "captured", SUPERSEDED)
EMAIL, EVENT, WEBHOOK = "email", "event", "webhook"
# BUILT_IN_PLACEHOLDERS and unknown_placeholders (imported above) are re-exported for
# issuance, which refuses an email placeholder that nothing fills before recording anything.


_OUTBOX = cast(Table, OutboxMessage.__table__)
_WEBHOOKS = cast(Table, WebhookEndpoint.__table__)
INSERT_MESSAGE: Query[OutboxMessage] = insert_query(_OUTBOX)
# An event is written only if the account has a webhook endpoint in this mode; the database
# decides in the same statement, so issuing never waits for a lookup first.
INSERT_EVENT: Query[OutboxMessage] = Query(
    insert(_OUTBOX).from_select(
        [c.key for c in _OUTBOX.columns],
        select(*(bindparam(c.key, type_=c.type) for c in _OUTBOX.columns)).where(
            exists().where(
                _WEBHOOKS.c.account_id == bindparam("account_id"),
                _WEBHOOKS.c.mode == bindparam("mode"),
            )
        ),
    ),
    name="insert event if subscribed",
)


def _message(
    *,
    account_id: str,
    mode: Mode | str,
    kind: str,
    payload: dict[str, Any],
    certificate_id: str | None,
    turn: datetime | None = None,
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "account_id": account_id,
        "mode": str(mode),
        "kind": kind,
        "certificate_id": certificate_id,
        "payload": payload,
    }
    if turn is not None:
        values["next_attempt_at"] = turn
    return with_defaults(_OUTBOX, values)


def queue(
    batch: Batch,
    *,
    account_id: str,
    mode: Mode | str,
    kind: str,
    payload: dict[str, Any],
    certificate_id: str | None = None,
    turn: datetime | None = None,
) -> str:
    """Queue a message in the caller's batch (sent only if the transaction commits); its id.

    `turn` (the message's `next_attempt_at`) is its place in line, by default now: workers
    claim queued messages in turn order, and a turn still to come does not hold a message
    back when nothing is ahead of it. A bulk job gives its rows turns spread ahead of the
    clock (akowe.jobs.service.JOB_ROW_TURN), so that a big job does not stand in front of
    what others issue meanwhile."""
    values = _message(
        account_id=account_id,
        mode=mode,
        kind=kind,
        payload=payload,
        certificate_id=certificate_id,
        turn=turn,
    )
    batch.write(INSERT_MESSAGE, **values)
    return str(values["id"])


def enqueue(
    session: Session,
    *,
    account_id: str,
    mode: Mode | str,
    kind: str,
    payload: dict[str, Any],
    certificate_id: str | None = None,
) -> str:
    """`queue` in the caller's transaction; the message's id."""
    with session_reader(session).batch() as batch:
        return queue(
            batch,
            account_id=account_id,
            mode=mode,
            kind=kind,
            payload=payload,
            certificate_id=certificate_id,
        )


def certificate_event_data(certificate: Certificate, *, email_status: str) -> dict[str, Any]:
    """A certificate as webhook events describe it (links are added when the event is sent)."""
    data: dict[str, Any] = {
        "certificateId": certificate.id,
        "recipientName": certificate.recipient_name,
        "recipientEmail": certificate.recipient_email,
        "organizationId": certificate.organization_id,
        "templateId": certificate.template_id,
        "status": certificate.status,
        "issuedAt": format_timestamp(certificate.issued_at),
        "emailStatus": email_status,
        "test": certificate.mode == Mode.TEST,
    }
    if certificate.revoked_at is not None:
        data["revokedAt"] = format_timestamp(certificate.revoked_at)
        data["revocationReason"] = certificate.revoked_reason
    return data


def queue_event(
    batch: Batch,
    *,
    account_id: str,
    mode: str,
    event: str,
    data: dict[str, Any],
    certificate_id: str | None = None,
    subaccount_id: str | None = None,
) -> None:
    """Record a webhook event in the caller's batch if the account has an endpoint in this
    mode. The worker fans it out to each subscribed endpoint (the sub-account's own too,
    when `subaccount_id` is given); its id is the `Akowe-Event-Id`.
    """
    payload: dict[str, Any] = {
        "event": event,
        "data": data,
        "occurredAt": format_timestamp(utcnow()),
    }
    if subaccount_id is not None:
        payload["subaccountId"] = subaccount_id
    batch.write(
        INSERT_EVENT,
        **_message(
            account_id=account_id,
            mode=mode,
            kind=EVENT,
            payload=payload,
            certificate_id=certificate_id,
        ),
    )


def queue_certificate_event(
    batch: Batch,
    *,
    certificate: Certificate,
    event: str,
    email_status: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """`certificate.<event>` for this certificate, in the caller's batch."""
    data = certificate_event_data(certificate, email_status=email_status)
    if extra:
        data.update(extra)
    queue_event(
        batch,
        account_id=certificate.account_id,
        mode=certificate.mode,
        event=event,
        data=data,
        certificate_id=certificate.id,
        subaccount_id=certificate.subaccount_id,
    )


def enqueue_certificate_event(
    session: Session,
    *,
    certificate: Certificate,
    event: str,
    email_status: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """`queue_certificate_event` in the caller's transaction."""
    if email_status is None:
        email_status = email_status_of(session, certificate_id=certificate.id)
    with session_reader(session).batch() as batch:
        queue_certificate_event(
            batch, certificate=certificate, event=event, email_status=email_status, extra=extra
        )


def requeue_email(session: Session, *, certificate: Certificate) -> str:
    """Queue a new email for the certificate; a still-pending older one is `superseded`."""
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.certificate_id == certificate.id,
            OutboxMessage.kind == EMAIL,
            OutboxMessage.status.in_(PENDING),
        )
        .values(status=SUPERSEDED, last_error="superseded by a resend", locked_by=None)
        .execution_options(synchronize_session=False)
    )
    return enqueue(
        session,
        account_id=certificate.account_id,
        mode=certificate.mode,
        kind=EMAIL,
        certificate_id=certificate.id,
        payload={"to": certificate.recipient_email},
    )


_LATEST = _OUTBOX.alias("latest_email")
NOT_REQUESTED = "not_requested"
WEBHOOKS: Query[WebhookEndpoint] = Query(
    select(_WEBHOOKS)
    .where(_WEBHOOKS.c.account_id == bindparam("account_id"), _WEBHOOKS.c.mode == bindparam("mode"))
    .order_by(_WEBHOOKS.c.created_at, _WEBHOOKS.c.id),
    name="webhooks",
)
SUBACCOUNT_WEBHOOKS: Query[WebhookEndpoint] = Query(
    cast(Any, WEBHOOKS.statement).where(_WEBHOOKS.c.subaccount_id == bindparam("subaccount_id")),
    name="sub-account webhooks",
)


def latest_email_join(certificates: Table) -> tuple[Join, list[ColumnElement[Any]]]:
    """Each certificate joined to its latest email message, and the delivery columns that
    come with it: `email_status` (`not_requested` without one), `email_attempts`,
    `email_last_error`, `email_sent_at`. The outbox row is the one source of a
    certificate's delivery state: every read (issue, get, list, revoke, resend) shows it."""
    latest_id = (
        select(_OUTBOX.c.id)
        .where(_OUTBOX.c.certificate_id == certificates.c.id, _OUTBOX.c.kind == EMAIL)
        .order_by(_OUTBOX.c.created_at.desc(), _OUTBOX.c.id.desc())
        .limit(1)
        .correlate(certificates)
        .scalar_subquery()
    )
    joined = certificates.outerjoin(_LATEST, _LATEST.c.id == latest_id)
    columns: list[ColumnElement[Any]] = [
        func.coalesce(_LATEST.c.status, NOT_REQUESTED).label("email_status"),
        _LATEST.c.attempts.label("email_attempts"),
        _LATEST.c.last_error.label("email_last_error"),
        _LATEST.c.sent_at.label("email_sent_at"),
    ]
    return joined, columns


_EMAIL_STATUS: Query[Any] = Query(
    select(_OUTBOX.c.status)
    .where(_OUTBOX.c.certificate_id == bindparam("certificate_id"), _OUTBOX.c.kind == EMAIL)
    .order_by(_OUTBOX.c.created_at.desc(), _OUTBOX.c.id.desc())
    .limit(1),
    name="email status",
)


def email_status_of(session: Session, *, certificate_id: str) -> str:
    """The status of the certificate's latest email, in the caller's transaction."""
    status = session_reader(session).scalar(_EMAIL_STATUS, certificate_id=certificate_id)
    return str(status) if status is not None else NOT_REQUESTED


def delivery_wire(row: Any) -> dict[str, Any]:
    """`{status, attempts, lastError, sentAt}` (DeliveryRead) from a row carrying the delivery
    columns."""
    return {
        "status": row.email_status,
        "attempts": row.email_attempts or 0,
        "lastError": row.email_last_error,
        "sentAt": timestamp_or_none(row.email_sent_at),
    }


EMAILS: Query[OutboxMessage] = Query(
    select(_OUTBOX)
    .where(_OUTBOX.c.certificate_id == bindparam("certificate_id"), _OUTBOX.c.kind == EMAIL)
    .order_by(_OUTBOX.c.created_at, _OUTBOX.c.id),
    name="emails",
)


async def list_emails(db: Database, *, certificate_id: str, tenant: str) -> list[OutboxMessage]:
    """Every email of a certificate, oldest first."""
    return await db.all(EMAILS, tenant=tenant, certificate_id=certificate_id)


# ---------------------------------------------------------------- the worker's side


def claim(
    session: Session,
    *,
    worker_id: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    first: str | None = None,
) -> list[OutboxMessage]:
    """Claim up to `limit` due messages for this worker (count one attempt each), in turn
    (`next_attempt_at`) order: first those whose turn has come, of kind `first` before any
    other, then those whose turn is still to come, the same way.

    Due: every queued message (see `queue`: a bulk job's rows have turns spread ahead of
    the clock, so a certificate issued meanwhile, by anyone, has its turn before the rest of
    a big job's, and its credential and email are claimed before the job's credentials and
    emails still to come, not after all of them); a retrying message once its time has
    come; a claimed one whose lease ran out.

    Each state is read in its own index range, in order, at most `limit` rows
    (`ix_outbox_message_kind_due` for a kind, `ix_outbox_message_status` otherwise): one
    query over every due state had to gather all due messages to sort them, so each claim
    read the whole queue (a class's 10,000 emails, every 128 claimed)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    turn_come = [
        (OutboxMessage.status == "queued", OutboxMessage.next_attempt_at <= now),
        (OutboxMessage.status == "retrying", OutboxMessage.next_attempt_at <= now),
        (OutboxMessage.status == "sending", OutboxMessage.locked_until <= now),
    ]
    turn_to_come = [(OutboxMessage.status == "queued", OutboxMessage.next_attempt_at > now)]
    kinds: list[tuple[ColumnElement[bool], ...]] = (
        [()] if first is None else [(OutboxMessage.kind == first,), (OutboxMessage.kind != first,)]
    )

    ids: list[str] = []  # in claim order

    def due(states: Sequence[tuple[ColumnElement[bool], ...]], *where: ColumnElement[bool]) -> None:
        """Add the candidates of these states (and kind), in turn order, up to the limit."""
        found: list[tuple[datetime, str]] = []
        count = limit - len(ids)
        for state in states:
            candidates = (
                select(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .where(*where, *state)
                .order_by(OutboxMessage.next_attempt_at)
                .limit(count)
            )
            if postgres:  # locked until this claim commits; other workers pass them by
                candidates = candidates.with_for_update(skip_locked=True)
            found += [(row[0], row[1]) for row in session.execute(candidates)]
        found.sort()
        ids.extend(message_id for _, message_id in found[:count])

    for states in (turn_come, turn_to_come):
        for kind in kinds:
            if len(ids) < limit:
                due(states, *kind)
    if not ids:
        return []
    token = f"{worker_id}:{new_id()}"
    # By id alone: the candidates are this transaction's (SQLite: BEGIN IMMEDIATE, no other
    # writer; PostgreSQL: rows locked FOR UPDATE), so they are still due. Checking again
    # made SQLite walk every due message in the status index (the whole queue of a class's
    # emails, per claim) rather than look up these ids.
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids))
        .values(
            status="sending",
            locked_by=token,
            locked_until=now + lease,
            attempts=OutboxMessage.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    messages = list(
        session.scalars(
            select(OutboxMessage)
            # By id: `locked_by` has no index, and the outbox keeps every message sent.
            .where(OutboxMessage.id.in_(ids), OutboxMessage.locked_by == token)
            .order_by(OutboxMessage.next_attempt_at)
            .execution_options(populate_existing=True)
        )
    )
    return messages


def finish(
    session: Session,
    *,
    message: OutboxMessage,
    status: str,
    now: datetime,
    error: str | None = None,
    retry_at: datetime | None = None,
    payload: dict[str, Any] | None = None,
) -> bool:
    """Record an attempt's outcome, if this worker still holds the claim; False if it lost it.

    For emails, `certificate.delivered` or `certificate.delivery_failed` is recorded in the
    same transaction (the message's own status is the certificate's delivery status).
    """
    values: dict[str, Any] = {
        "status": status,
        "locked_by": None,
        "locked_until": None,
        "last_error": error,
    }
    if status in ("sent", "captured"):
        values["sent_at"] = now
    if retry_at is not None:
        values["next_attempt_at"] = retry_at
    if payload is not None:
        values["payload"] = payload
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id, OutboxMessage.locked_by == message.locked_by)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    if message.kind == EMAIL and message.certificate_id:
        certificate = session.get(Certificate, message.certificate_id)
        if certificate is not None:
            if status in ("sent", "captured"):
                enqueue_certificate_event(
                    session,
                    certificate=certificate,
                    event="certificate.delivered",
                    email_status=status,
                    extra={"sentAt": format_timestamp(now), "captured": status == "captured"},
                )
            elif status == "failed":
                enqueue_certificate_event(
                    session,
                    certificate=certificate,
                    event="certificate.delivery_failed",
                    email_status=status,
                    extra={"lastError": error, "attempts": message.attempts},
                )
    return True


_MARK_SENT: Query[Any] = Query(
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("b_id"), _OUTBOX.c.locked_by == bindparam("b_token"))
    .values(
        status="sent", locked_by=None, locked_until=None, last_error=None, sent_at=bindparam("b_at")
    )
    .returning(_OUTBOX.c.id),
    name="outbox message sent",
)
_HAS_ENDPOINT: Query[Any] = Query(
    select(
        exists().where(
            _WEBHOOKS.c.account_id == bindparam("b_account"),
            _WEBHOOKS.c.mode == bindparam("b_mode"),
        )
    ),
    name="account has a webhook endpoint in the mode",
)


def has_endpoint(reader: DriverReader, *, account_id: str, mode: Mode | str) -> bool:
    """Whether the account has a webhook endpoint in this mode: events are recorded only
    then (`INSERT_EVENT` asks the same in each statement; a bulk job's chunk asks once
    instead of sending hundreds of inserts that would write nothing)."""
    return bool(reader.scalar(_HAS_ENDPOINT, b_account=account_id, b_mode=str(mode)))


def finish_sent(session: Session, *, messages: Sequence[OutboxMessage], now: datetime) -> set[str]:
    """`finish(status="sent")` for many messages in one batch of statements (one round trip
    on PostgreSQL), compiled once (a class's emails are recorded four at a time: the ORM's
    UPDATE was a tenth of the delivery worker's time); the ids of those whose claim this
    worker still held."""
    reader = session_reader(session)
    with reader.batch() as batch:
        marked = [
            batch.add(_MARK_SENT, b_id=message.id, b_token=message.locked_by, b_at=now)
            for message in messages
        ]
    kept = {row.id for pending in marked for row in pending.rows()}
    delivered = [m for m in messages if m.id in kept and m.kind == EMAIL and m.certificate_id]
    if delivered:
        # `certificate.delivered` is recorded only for an account with an endpoint in the
        # mode (INSERT_EVENT's guard): ask once per account instead of reading every
        # certificate to build events that would not be recorded (a class's emails are
        # recorded four at a time, and those reads were a fifth of the worker's time).
        subscribed = {
            (account_id, mode)
            for account_id, mode in {(m.account_id, m.mode) for m in delivered}
            if has_endpoint(reader, account_id=account_id, mode=mode)
        }
        delivered = [m for m in delivered if (m.account_id, m.mode) in subscribed]
    if delivered:
        certificates = session.scalars(
            select(Certificate).where(Certificate.id.in_([m.certificate_id for m in delivered]))
        ).all()
        with session_reader(session).batch() as batch:
            for certificate in certificates:
                queue_certificate_event(
                    batch,
                    certificate=certificate,
                    event="certificate.delivered",
                    email_status="sent",
                    extra={"sentAt": format_timestamp(now), "captured": False},
                )
    return kept


def subscribed_endpoints(
    session: Session,
    *,
    account_id: str,
    mode: str,
    event: str,
    subaccount_id: str | None = None,
) -> list[WebhookEndpoint]:
    """The account's endpoints (in this mode) that want this event: the account-wide ones,
    and the sub-account's own when the event is about one of its certificates."""
    endpoints = session_reader(session).all(WEBHOOKS, account_id=account_id, mode=mode)
    return [e for e in endpoints if event in e.events and e.subaccount_id in (None, subaccount_id)]


# ---------------------------------------------------------------- operators (CLI)


def list_messages(
    session: Session, *, status: str | None = None, kind: str | None = None, limit: int = 100
) -> Sequence[OutboxMessage]:
    """Outbox messages, newest first, optionally by status and kind."""
    statement = select(OutboxMessage).order_by(
        OutboxMessage.created_at.desc(), OutboxMessage.id.desc()
    )
    if status:
        statement = statement.where(OutboxMessage.status == status)
    if kind:
        statement = statement.where(OutboxMessage.kind == kind)
    return session.scalars(statement.limit(limit)).all()


def _requeue(session: Session, messages: Sequence[OutboxMessage]) -> None:
    now = utcnow()
    for message in messages:
        message.status = "queued"
        message.attempts = 0
        message.next_attempt_at = now
        message.locked_by = None
        message.locked_until = None


SHORT_ID_LENGTH = 8  # how `akowe deliveries list` shows ids (like a short git hash)
_ID_PREFIX = re.compile(r"^[0-9a-f-]{4,36}$")


def resolve_message_id(session: Session, *, id_or_prefix: str) -> str:
    """The full id of the outbox message whose id is, or starts with, `id_or_prefix` (at
    least 4 characters); MessageNotFound, or ValidationFailed when several match."""
    prefix = id_or_prefix.strip().lower()
    if not _ID_PREFIX.match(prefix):
        raise MessageNotFound()
    ids = session.scalars(
        select(OutboxMessage.id).where(OutboxMessage.id.startswith(prefix)).limit(2)
    ).all()
    if not ids:
        raise MessageNotFound()
    if len(ids) > 1:
        raise ValidationFailed.field("id", f"{prefix!r} matches several deliveries: give more")
    return ids[0]


def retry(session: Session, *, message_id: str) -> OutboxMessage:
    """Queue a failed (or retrying) message again now, with a fresh set of attempts."""
    message = session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None:
        raise MessageNotFound()
    if message.status not in ("failed", "retrying"):
        raise NotRetryable()
    _requeue(session, [message])
    return message


def retry_failed(session: Session) -> int:
    """Queue every failed message again (except superseded emails); how many."""
    messages = session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == "failed").with_for_update()
    ).all()
    _requeue(session, messages)
    return len(messages)


# ---------------------------------------------------------------- webhook endpoints


def create_webhook(
    session: Session,
    *,
    account_id: str,
    mode: str,
    data: WebhookCreate,
    allow_private: bool,
    subaccount_id: str | None = None,
) -> WebhookEndpoint:
    """Register an endpoint after checking its URL is public; the secret is generated here."""
    try:
        vet_url(data.url, allow_private=allow_private)
    except FetchRefused as exc:
        raise ValidationFailed.field("url", str(exc)) from exc
    endpoint = WebhookEndpoint(
        id=new_id(),
        account_id=account_id,
        mode=mode,
        subaccount_id=subaccount_id,
        url=data.url,
        events=list(dict.fromkeys(data.events)),
        secret="whsec_" + secrets.token_urlsafe(32),
        description=data.description,
        created_at=utcnow(),
    )
    session.add(endpoint)
    session.flush()
    return endpoint


async def list_webhooks(
    db: Database, *, account_id: str, mode: str, subaccount_id: str | None = None
) -> list[WebhookEndpoint]:
    """The endpoints in this mode, oldest first: all the account's, or with a sub-account
    scope only that sub-account's own."""
    if subaccount_id is not None:
        return await db.all(
            SUBACCOUNT_WEBHOOKS,
            tenant=account_id,
            account_id=account_id,
            mode=mode,
            subaccount_id=subaccount_id,
        )
    return await db.all(WEBHOOKS, tenant=account_id, account_id=account_id, mode=mode)


def delete_webhook(
    session: Session,
    *,
    account_id: str,
    mode: str,
    webhook_id: str,
    subaccount_id: str | None = None,
) -> None:
    """Remove an endpoint (with a sub-account scope, only one of its own); its pending
    deliveries fail when their turn comes."""
    scope = [] if subaccount_id is None else [WebhookEndpoint.subaccount_id == subaccount_id]
    result = session.execute(
        delete(WebhookEndpoint).where(
            WebhookEndpoint.id == webhook_id,
            WebhookEndpoint.account_id == account_id,
            WebhookEndpoint.mode == mode,
            *scope,
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise WebhookNotFound()


def to_message_read(message: OutboxMessage, mail_from: str) -> MessageRead:
    """An email message on the wire (with its content when it was captured)."""
    payload = message.payload or {}
    return MessageRead(
        id=message.id,
        status=message.status,
        to=payload.get("to"),
        attempts=message.attempts,
        last_error=message.last_error,
        created_at=message.created_at,
        sent_at=message.sent_at,
        message_id=payload.get("messageId") or email_message_id(message.id, mail_from),
        subject=payload.get("subject"),
        text=payload.get("text"),
        html=payload.get("html"),
    )


def outbox_stats(session: Session, *, now: datetime) -> list[OutboxStats]:
    """Per kind: messages waiting or being sent, the oldest one's age, and those failed for
    good (read for `/metrics`; both use the index on status)."""
    waiting = session.execute(
        select(OutboxMessage.kind, func.count(), func.min(OutboxMessage.created_at))
        .where(OutboxMessage.status.in_(PENDING))
        .group_by(OutboxMessage.kind)
    ).all()
    failed = dict(
        session.execute(
            select(OutboxMessage.kind, func.count())
            .where(OutboxMessage.status == "failed")
            .group_by(OutboxMessage.kind)
        ).all()
    )
    stats = []
    for kind, count, oldest in waiting:
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        age = max(0.0, (now - oldest).total_seconds())
        stats.append(OutboxStats(kind, count, age, failed.pop(kind, 0)))
    stats += [OutboxStats(kind, 0, 0.0, count) for kind, count in failed.items()]
    return sorted(stats, key=lambda row: row.kind)
