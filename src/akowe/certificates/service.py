"""Issuance and the certificate lifecycle.

`issue` is the whole issuance use case, called alike by the API, the CLI and the job worker:
the idempotency claim, then ONE transaction that resolves the organization and template,
debits one credit, records the certificate with a snapshot of its organization and a pinned
design version, queues its delivery work and stores the response for replays. Any failure
rolls the whole transaction back: nothing recorded, nothing spent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, delete, func, or_, select
from sqlalchemy.orm import Session

from akowe.accounts import service as accounts_service
from akowe.accounts.service import Principal
from akowe.audit import service as audit_service
from akowe.certificates import idempotency, search
from akowe.certificates.checks import check_against_template
from akowe.certificates.drawable import check_drawable, value_name
from akowe.certificates.exceptions import (
    AlreadyRevoked,
    CertificateErased,
    CertificateNotFound,
    ValidationFailed,
)
from akowe.certificates.models import Certificate, CertificateResend, CertificateSearchTerm
from akowe.certificates.renders import RenderCache, png_width
from akowe.certificates.schemas import CertificateFilters, IssueRequest
from akowe.credits import service as credits_service
from akowe.credits.service import QueuedDebit
from akowe.db.base import new_id, utcnow
from akowe.db.database import Database, final_batch, session_reader
from akowe.db.statements import (
    Batch,
    DriverReader,
    Pending,
    Query,
    QueryFamily,
    insert_query,
    load,
    with_defaults,
)
from akowe.delivery import service as delivery_service
from akowe.delivery.exceptions import CertificateRevoked
from akowe.errors import TooManyRequests
from akowe.modes import Mode
from akowe.organizations import service as organizations_service
from akowe.organizations.exceptions import OrganizationNotFound
from akowe.organizations.models import Organization
from akowe.pagination import Page, fetch_page, keyset
from akowe.rendering import (
    CertificateData,
    Problem,
    TemplateSpec,
    UnrenderableText,
    check,
    render_pdf,
    render_png,
)
from akowe.schemas import format_timestamp, timestamp_or_none
from akowe.signing import service as signing_service
from akowe.storage.store import FileStore
from akowe.templates import service as templates_service
from akowe.templates.exceptions import TemplateNotFound, UnrenderableValues
from akowe.templates.models import Template

ISSUED = "Certificate issued successfully"
_CERTIFICATES = cast(Table, Certificate.__table__)
_INSERT_CERTIFICATE: Query[Certificate] = insert_query(_CERTIFICATES)
_TERMS = cast(Table, CertificateSearchTerm.__table__)
# The ledger reason of an issue's debit.
ISSUE_REASON = "certificate issued"
INSERT_TERM: Query[Any] = insert_query(_TERMS)
_DELIVERY_JOIN, _DELIVERY_COLUMNS = delivery_service.latest_email_join(_CERTIFICATES)


@dataclass(frozen=True, slots=True)
class Links:
    """Where users find a certificate: built from the public base URL."""

    base_url: str

    def verification_url(self, certificate_id: str) -> str:
        """The public verification page."""
        return f"{self.base_url}/verify/{certificate_id}"

    def pdf_url(self, certificate_id: str) -> str:
        """The PDF download (needs the API key)."""
        return f"{self.base_url}/api/certificates/{certificate_id}/pdf"


# ---------------------------------------------------------------- reads


# What reads show and render from; the organization snapshot and the email's subject and
# body are left to the code that needs them (parsing JSON no one shows costs per row).
_READ_COLUMNS = tuple(
    c
    for c in _CERTIFICATES.c
    if c.key
    not in {
        "email_status",
        "organization",
        "mail_subject",
        "mail_body",
        "issued_by_key_id",
        "revoked_by_key_id",
        "erased_by_key_id",
    }
)


def _visible(sub_account: bool) -> Select[Any]:
    # The caller's account and mode; with `x-subaccount-email` only that sub-account's. Rows
    # carry their latest email's delivery columns (the one source of `emailStatus`).
    statement = (
        select(*_READ_COLUMNS, *_DELIVERY_COLUMNS)
        .select_from(_DELIVERY_JOIN)
        .where(
            _CERTIFICATES.c.account_id == bindparam("account_id"),
            _CERTIFICATES.c.mode == bindparam("mode"),
        )
    )
    if sub_account:
        statement = statement.where(_CERTIFICATES.c.subaccount_id == bindparam("subaccount_id"))
    return statement


CERTIFICATE_BY_ID: QueryFamily[Certificate] = QueryFamily(
    lambda sub_account: _visible(sub_account).where(
        _CERTIFICATES.c.id == bindparam("certificate_id")
    ),
    name="certificate by id",
)
# A `{certificateId}` route's certificate, read in the statement that reads the key.
CERTIFICATE_WITH_KEY = accounts_service.with_key(CERTIFICATE_BY_ID(False), param="certificate_id")
# The same scope without the delivery join, for write transactions that lock the row.
_CERTIFICATE_FOR_UPDATE: QueryFamily[Certificate] = QueryFamily(
    lambda sub_account: select(_CERTIFICATES).where(
        _CERTIFICATES.c.id == bindparam("certificate_id"),
        _CERTIFICATES.c.account_id == bindparam("account_id"),
        _CERTIFICATES.c.mode == bindparam("mode"),
        *((_CERTIFICATES.c.subaccount_id == bindparam("subaccount_id"),) if sub_account else ()),
    ),
    name="certificate for update",
)


def _word_rows(index: int) -> Any:
    # The search words of this account and mode that start with the query's word `index`
    # (an index range).
    t = _TERMS.c
    return select(t.certificate_id).where(
        t.account_id == bindparam("account_id"),
        t.mode == bindparam("mode"),
        t.term >= bindparam(f"q{index}_low"),
        t.term < bindparam(f"q{index}_high"),
    )


def _matches(index: int, driving: bool) -> Any:
    # The certificate has a word starting with the query's word `index`. The driving word
    # (the rarest, when it is rare) is the set of ids the query starts from; the others are
    # probed per candidate, which also lets a common word's search walk the newest-first
    # index and stop at the page's end instead of reading every match.
    t = _TERMS.c
    if driving:
        return _CERTIFICATES.c.id.in_(_word_rows(index))
    return (
        select(t.certificate_id)
        .where(
            t.certificate_id == _CERTIFICATES.c.id,
            t.term >= bindparam(f"q{index}_low"),
            t.term < bindparam(f"q{index}_high"),
        )
        .exists()
    )


# How many certificates one query word may match and still drive the search. Fewer: start
# from them (a few index reads each). More: walk the newest certificates first and keep the
# matching ones, since every 1/RARE-th certificate matches and a page fills quickly.
RARE = 2000


def _word_counts(words: int) -> Select[Any]:
    return select(
        *(
            select(func.count())
            .select_from(_word_rows(index).limit(RARE).subquery())
            .scalar_subquery()
            .label(f"n{index}")
            for index in range(words)
        )
    )


_WORD_COUNTS: QueryFamily[Any] = QueryFamily(_word_counts, name="search word counts")


async def _driving_word(db: Database, words: int, params: dict[str, Any]) -> int | None:
    """The query word with the fewest matches if it has fewer than RARE, else None."""
    if not words:
        return None
    counts = await db.one(_WORD_COUNTS(words), tenant=params["account_id"], **params)
    assert counts is not None
    fewest = min(range(words), key=lambda index: counts[index])
    return fewest if counts[fewest] < RARE else None


def _page(
    sub_account: bool,
    organization: bool,
    template: bool,
    email: bool,
    status: str | None,
    after: bool,
    before: bool,
    words: int,
    driving: int | None,
    with_cursor: bool,
) -> Select[Any]:
    c = _CERTIFICATES.c
    statement = _visible(sub_account)
    for index in range(words):
        statement = statement.where(_matches(index, index == driving))
    if organization:
        statement = statement.where(c.organization_id == bindparam("organization_id"))
    if template:
        statement = statement.where(c.template_id == bindparam("template_id"))
    if email:
        statement = statement.where(func.lower(c.recipient_email) == bindparam("recipient_email"))
    # `expired` is not stored: an issued certificate whose expiry has passed.
    if status in ("revoked", "erased"):
        statement = statement.where(c.status == status)
    elif status == "issued":
        statement = statement.where(
            c.status == "issued", or_(c.expires_at.is_(None), c.expires_at >= bindparam("now"))
        )
    elif status == "expired":
        statement = statement.where(c.status == "issued", c.expires_at < bindparam("now"))
    if after:
        statement = statement.where(c.issued_at >= bindparam("issued_after"))
    if before:
        statement = statement.where(c.issued_at < bindparam("issued_before"))
    return keyset(statement, created_at=c.issued_at, id_column=c.id, with_cursor=with_cursor)


CERTIFICATE_PAGE: QueryFamily[Certificate] = QueryFamily(_page, name="certificates")


def scope(principal: Principal) -> dict[str, Any]:
    scope: dict[str, Any] = {"account_id": principal.account_id, "mode": principal.mode}
    if principal.subaccount_id is not None:
        scope["subaccount_id"] = principal.subaccount_id
    return scope


async def get(db: Database, *, principal: Principal, certificate_id: str) -> Certificate | None:
    """The certificate if the caller may see it (account, mode, sub-account scope); read
    with the key already when the request's key check read it (`CERTIFICATE_WITH_KEY`)."""
    query = CERTIFICATE_BY_ID(principal.subaccount_id is not None)
    read, certificate = principal.prefetched_row(query, certificate_id)
    if read:
        return cast(Certificate | None, certificate)
    return await db.one(
        query, tenant=principal.account_id, certificate_id=certificate_id, **scope(principal)
    )


async def require(db: Database, *, principal: Principal, certificate_id: str) -> Certificate:
    """The certificate, or 404 (also for other accounts' ones)."""
    certificate = await get(db, principal=principal, certificate_id=certificate_id)
    if certificate is None:
        raise CertificateNotFound()
    return certificate


def lock(session: Session, *, principal: Principal, certificate_id: str) -> Certificate:
    """The certificate for update in the caller's transaction, or 404."""
    certificate = load(
        session,
        Certificate,
        _CERTIFICATE_FOR_UPDATE(principal.subaccount_id is not None),
        for_update=True,
        certificate_id=certificate_id,
        **scope(principal),
    )
    if certificate is None:
        raise CertificateNotFound()
    return certificate


async def list_certificates(
    db: Database,
    *,
    principal: Principal,
    filters: CertificateFilters,
    limit: int,
    cursor: str | None,
) -> Page[Certificate]:
    """The caller's certificates, newest first, filtered, one page at a time."""
    params = scope(principal)
    if filters.organization_id:
        params["organization_id"] = filters.organization_id
    if filters.template_id:
        params["template_id"] = filters.template_id
    if filters.recipient_email:
        params["recipient_email"] = filters.recipient_email.strip().lower()
    if filters.status in ("issued", "expired"):
        params["now"] = utcnow()
    if filters.issued_after:
        params["issued_after"] = _aware(filters.issued_after)
    if filters.issued_before:
        params["issued_before"] = _aware(filters.issued_before)
    words = search.words(filters.q)[: search.MAX_QUERY_WORDS] if filters.q else []
    for index, word in enumerate(words):
        params[f"q{index}_low"], params[f"q{index}_high"] = search.prefix_range(word)
    driving = await _driving_word(db, len(words), params)
    return await fetch_page(
        db,
        CERTIFICATE_PAGE,
        principal.subaccount_id is not None,
        "organization_id" in params,
        "template_id" in params,
        "recipient_email" in params,
        filters.status,
        "issued_after" in params,
        "issued_before" in params,
        len(words),
        driving,
        limit=limit,
        cursor=cursor,
        tenant=principal.account_id,
        created_key="issued_at",
        **params,
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def status_of(certificate: Certificate) -> str:
    """`erased`, `revoked`, `expired` (issued, its expiry passed) or `issued`."""
    if certificate.status in ("revoked", "erased"):
        return str(certificate.status)
    expires_at = certificate.expires_at
    if expires_at is not None and utcnow() > expires_at:
        return "expired"
    return "issued"


# Read once: an enum member looked up on its class costs a third of a microsecond per row.
_TEST = Mode.TEST


def to_wire(certificate: Certificate, links: Links) -> dict[str, Any]:
    """A certificate row (with its delivery columns) as answered: the shape CertificateRead
    documents."""
    certificate_id = certificate.id
    return {
        "certificateId": certificate_id,
        "recipientName": certificate.recipient_name,
        "recipientEmail": certificate.recipient_email,
        "organizationId": certificate.organization_id,
        "templateId": certificate.template_id,
        "attributes": certificate.attributes,
        "status": status_of(certificate),
        "issuedAt": format_timestamp(certificate.issued_at),
        "verificationUrl": links.verification_url(certificate_id),
        "pdfUrl": links.pdf_url(certificate_id),
        "emailStatus": certificate.email_status,
        "templateVersion": certificate.template_version,
        "subAccountEmail": certificate.subaccount_email,
        "test": certificate.mode == _TEST,
        "expiresAt": timestamp_or_none(certificate.expires_at),
        "revokedAt": timestamp_or_none(certificate.revoked_at),
        "revocationReason": certificate.revoked_reason,
        "delivery": delivery_service.delivery_wire(certificate),
        "revision": certificate.revision,
        "correctedAt": timestamp_or_none(certificate.corrected_at),
        "erasedAt": timestamp_or_none(certificate.erased_at),
    }


# ---------------------------------------------------------------- issuance


@dataclass(frozen=True, slots=True)
class IssueResult:
    """What the caller answers: the status and body (the stored first one on a replay)."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


def issue(
    db: Database,
    *,
    principal: Principal,
    data: IssueRequest,
    idempotency_key: str | None,
    path: str,
    store: FileStore,
    links: Links,
) -> IssueResult:
    """Issue one certificate (blocking: run it in a database thread, see Database.call).

    With an idempotency key the key is claimed first in its own short transaction, so a
    concurrent duplicate sees it (409); the response is stored in the issuing transaction,
    so a stored response always means a recorded certificate. A failure releases the key.
    """
    template_id = data.resolved_template_id
    if template_id is None:
        raise ValidationFailed.field("mailData.templateId", "is required")
    if data.wants_email and data.recipient_data.email is None:
        raise ValidationFailed.field(
            "recipientData.email", "is required to send the certificate by email"
        )
    key = idempotency_key
    if key is not None:
        fingerprint = idempotency.request_hash(path, data)
        replay = idempotency.claim(db, principal=principal, key=key, fingerprint=fingerprint)
        if replay is not None:
            return IssueResult(replay.status, replay.body, replayed=True)

    def transaction(session: Session, prepared: Prepared) -> dict[str, Any]:
        # Every write in one batch that commits with them (one round trip on PostgreSQL):
        # the certificate, its email and event, the stored response, and last the debit and
        # its ledger entry, so the balance row is locked for as short a time as the server
        # takes to finish. A debit the balance cannot cover rolls all of it back.
        credits_service.ensure_sandbox(
            session, account_id=principal.account_id, mode=principal.mode
        )
        with final_batch(session) as writes:
            certificate = record(writes, principal=principal, prepared=prepared)
            body = {"success": True, "message": ISSUED, "data": to_wire(certificate, links)}
            if key is not None:
                idempotency.queue_complete(
                    writes, principal=principal, key=key, status=201, body=body
                )
            debit = queue_debit(writes, principal=principal, certificate=certificate)
        debit.confirm()
        return body

    try:
        # The lookups (one batch) and the checks run before the write transaction, on an
        # autocommit connection: SQLite's write lock is held for the writes alone.
        with db.read_connection() as reader:
            with reader.batch() as lookups:
                organization, template = lookup(lookups, principal=principal, data=data)
            prepared = prepare(
                reader,
                principal=principal,
                data=data,
                organization=organization.one(),
                template=template.one(),
                store=store,
            )
        return IssueResult(201, db.run_transaction(partial(transaction, prepared=prepared)))
    except BaseException:
        if key is not None:
            idempotency.release(db, principal=principal, key=key)
        raise


@dataclass(frozen=True, slots=True)
class Prepared:
    """A validated issue request with what it resolved to: ready to be recorded."""

    data: IssueRequest
    organization_id: str
    organization: dict[str, Any]
    template_id: str
    template_version: int
    issued_at: datetime


def lookup(
    batch: Batch, *, principal: Principal, data: IssueRequest
) -> tuple[Pending[Organization], Pending[Template]]:
    """Send the lookups of the request's organization and template (the caller's scope)."""
    organization = batch.add(
        organizations_service.ORGANIZATION_BY_ID,
        organization_id=data.organization_id,
        account_id=principal.account_id,
        mode=principal.mode,
    )
    template = batch.add(
        templates_service.TEMPLATE_BY_ID(principal.subaccount_id is not None),
        template_id=data.resolved_template_id or "",
        **scope(principal),
    )
    return organization, template


def prepare(
    reader: DriverReader,
    *,
    principal: Principal,
    data: IssueRequest,
    organization: Organization | None,
    template: Template | None,
    store: FileStore,
) -> Prepared:
    """Check what the request resolved to (404 for anything not the caller's) and that the
    design can draw the recipient's values (422 otherwise): all before anything is charged."""
    if organization is None:
        raise OrganizationNotFound()
    if template is None:
        raise TemplateNotFound()
    check_against_template(data, template.fields)
    # The date the check lays out is the date the certificate records and prints.
    issued_at = utcnow()
    check_drawable(
        reader,
        template=template,
        organization=organization,
        data=data,
        store=store,
        issued_at=issued_at,
    )
    return Prepared(
        data=data,
        organization_id=organization.id,
        organization=organizations_service.snapshot(organization, store=store),
        template_id=template.id,
        template_version=template.version,
        issued_at=issued_at,
    )


@dataclass(frozen=True, slots=True)
class _IssuedRow:
    """A certificate as just recorded: the attributes of a row of CERTIFICATE_BY_ID (so the
    issue response is built by the same `to_wire` as every read)."""

    id: str
    account_id: str
    mode: str
    subaccount_id: str | None
    subaccount_email: str | None
    organization_id: str
    organization: dict[str, Any]
    template_id: str
    template_version: int
    recipient_name: str
    recipient_email: str | None
    attributes: dict[str, str]
    status: str
    issued_at: datetime
    expires_at: datetime | None
    issued_by_key_id: str
    mail_subject: str | None
    mail_body: str | None
    revoked_at: datetime | None
    revoked_reason: str | None
    revoked_by_key_id: str | None
    revision: int
    corrected_at: datetime | None
    erased_at: datetime | None
    erased_by_key_id: str | None
    email_status: str
    email_attempts: int
    email_last_error: str | None
    email_sent_at: datetime | None


_ISSUED_FIELDS = frozenset(_IssuedRow.__dataclass_fields__)


def record(
    batch: Batch,
    *,
    principal: Principal,
    prepared: Prepared,
    events: bool = True,
    turn: datetime | None = None,
) -> Any:
    """Send the writes of one issuance in the caller's batch: the certificate, its search
    words, email, event, signing and audit event; the caller debits it (`queue_debit`, or
    `queue_debits` for many). Returns the certificate as recorded (the shape of a
    CERTIFICATE_BY_ID row). `events=False`: the caller knows the account has no webhook
    endpoint in the mode (`delivery_service.has_endpoint`), so there is no event to record.
    `turn`: the place in line of its signing and email (akowe.delivery.service.queue;
    default now)."""
    data = prepared.data
    certificate_id = new_id()
    mail = data.mail_data if data.wants_email else None
    email_status = "queued" if mail is not None else delivery_service.NOT_REQUESTED
    values = with_defaults(
        _CERTIFICATES,
        {
            "id": certificate_id,
            "account_id": principal.account_id,
            "mode": str(principal.mode),
            "subaccount_id": principal.subaccount_id,
            "subaccount_email": principal.subaccount_email,
            "organization_id": prepared.organization_id,
            "organization": prepared.organization,
            "template_id": prepared.template_id,
            "template_version": prepared.template_version,
            "recipient_name": data.recipient_data.name,
            "recipient_email": data.recipient_data.email,
            "attributes": data.recipient_data.attributes,
            "issued_at": prepared.issued_at,
            "expires_at": data.expires_at,
            "issued_by_key_id": principal.key_id,
            "mail_subject": mail.subject if mail else None,
            "mail_body": mail.body if mail else None,
            # Deprecated (delivery owns the status); kept true for processes that still read it.
            "email_status": email_status,
        },
    )
    batch.write(_INSERT_CERTIFICATE, **values)
    queue_search_terms(
        batch,
        certificate_id=certificate_id,
        account_id=principal.account_id,
        mode=str(principal.mode),
        name=data.recipient_data.name,
        email=data.recipient_data.email,
    )
    row = _IssuedRow(
        **{k: v for k, v in values.items() if k in _ISSUED_FIELDS},
        email_attempts=0,
        email_last_error=None,
        email_sent_at=None,
    )
    if mail is not None:
        delivery_service.queue(
            batch,
            account_id=principal.account_id,
            mode=principal.mode,
            kind=delivery_service.EMAIL,
            certificate_id=certificate_id,
            payload={"to": data.recipient_data.email},
            turn=turn,
        )
    if events:
        delivery_service.queue_certificate_event(
            batch,
            certificate=cast(Certificate, row),
            event="certificate.issued",
            email_status=email_status,
        )
    signing_service.queue_signing(
        batch,
        certificate_id=certificate_id,
        account_id=principal.account_id,
        mode=principal.mode,
        turn=turn,
    )
    audit_service.queue(
        batch, principal=principal, action="certificate.issued", certificate_id=certificate_id
    )
    return row


def queue_debit(batch: Batch, *, principal: Principal, certificate: Any) -> QueuedDebit:
    """Send the debit of one credit for a recorded certificate in the caller's batch."""
    return credits_service.queue_debit(
        batch,
        account_id=principal.account_id,
        mode=principal.mode,
        reason=ISSUE_REASON,
        reference=certificate.id,
        actor=f"key:{principal.key_id}",
    )


def queue_search_terms(
    batch: Batch, *, certificate_id: str, account_id: str, mode: str, name: str, email: str | None
) -> None:
    """Send the inserts of a certificate's search words (see akowe.certificates.search)."""
    for term in search.terms(name, email):
        batch.write(
            INSERT_TERM, certificate_id=certificate_id, term=term, account_id=account_id, mode=mode
        )


def replace_search_terms(session: Session, *, certificate: Certificate) -> None:
    """Rewrite a certificate's search words from its current name and email (none once
    erased), in the caller's transaction."""
    session.execute(delete(_TERMS).where(_TERMS.c.certificate_id == certificate.id))
    if certificate.status == "erased":
        return
    with session_reader(session).batch() as batch:
        queue_search_terms(
            batch,
            certificate_id=certificate.id,
            account_id=certificate.account_id,
            mode=certificate.mode,
            name=certificate.recipient_name,
            email=certificate.recipient_email,
        )


# ---------------------------------------------------------------- lifecycle


def revoke(
    session: Session,
    *,
    principal: Principal,
    certificate_id: str,
    reason: str,
    signer: signing_service.Signer,
) -> None:
    """Revoke for good, recording who and when, and flip its status list bit (re-signing
    the list); no credit is refunded."""
    certificate = lock(session, principal=principal, certificate_id=certificate_id)
    if certificate.status == "erased":
        raise CertificateErased()
    if certificate.status == "revoked":
        raise AlreadyRevoked()
    certificate.status = "revoked"
    certificate.revoked_at = utcnow()
    certificate.revoked_reason = reason
    certificate.revoked_by_key_id = principal.key_id
    delivery_service.enqueue_certificate_event(
        session, certificate=certificate, event="certificate.revoked"
    )
    audit_service.record(
        session, principal=principal, action="certificate.revoked", certificate_id=certificate_id
    )
    session.flush()
    signing_service.on_revoked(session, signer=signer, certificate_id=certificate_id)


@dataclass(frozen=True, slots=True)
class ResendLimits:
    """How many resends a day: per certificate and per account (0 disables resending)."""

    per_certificate: int
    per_account: int


_RESENDS = cast(Table, CertificateResend.__table__)
RESENDS_OF_CERTIFICATE: Query[Any] = Query(
    select(func.count(), func.min(_RESENDS.c.created_at)).where(
        _RESENDS.c.certificate_id == bindparam("certificate_id"),
        _RESENDS.c.created_at > bindparam("since"),
    ),
    name="resends of a certificate",
)
RESENDS_OF_ACCOUNT: Query[Any] = Query(
    select(func.count(), func.min(_RESENDS.c.created_at)).where(
        _RESENDS.c.account_id == bindparam("account_id"),
        _RESENDS.c.mode == bindparam("mode"),
        _RESENDS.c.created_at > bindparam("since"),
    ),
    name="resends of an account",
)
_DAY = timedelta(days=1)


def resend(
    session: Session,
    *,
    principal: Principal,
    certificate_id: str,
    limits: ResendLimits,
    email: str | None = None,
) -> None:
    """Queue the certificate's email again: only to its recipient, or to a corrected address
    that becomes the recipient. Limited per certificate and per account per day (429), and
    every resend is recorded (certificate_resend)."""
    certificate = lock(session, principal=principal, certificate_id=certificate_id)
    if certificate.status == "erased":
        raise CertificateErased()
    if certificate.status == "revoked":
        raise CertificateRevoked()
    now = utcnow()
    reader = session_reader(session)
    for query, limit, what, params in (
        (
            RESENDS_OF_CERTIFICATE,
            limits.per_certificate,
            "certificate",
            {"certificate_id": certificate.id},
        ),
        (
            RESENDS_OF_ACCOUNT,
            limits.per_account,
            "account",
            {"account_id": principal.account_id, "mode": principal.mode},
        ),
    ):
        count, oldest = reader.one(query, since=now - _DAY, **params) or (0, None)
        if count >= limit:
            retry = (
                (_aware(oldest) + _DAY - now).total_seconds() if oldest else _DAY.total_seconds()
            )
            raise TooManyRequests(
                f"This {what} has reached its limit of {limit} resends a day.",
                retry_after=math.ceil(retry),
            )
    corrected = email is not None and email != certificate.recipient_email
    if email is not None:
        certificate.recipient_email = email
    if not certificate.recipient_email:
        raise ValidationFailed.field("email", "is required: the certificate has no recipient email")
    message_id = delivery_service.requeue_email(session, certificate=certificate)
    session.add(
        CertificateResend(
            account_id=principal.account_id,
            mode=principal.mode,
            certificate_id=certificate.id,
            message_id=message_id,
            key_id=principal.key_id,
            address_corrected=corrected,
            created_at=now,
        )
    )
    if corrected:
        replace_search_terms(session, certificate=certificate)
    audit_service.record(
        session,
        principal=principal,
        action="certificate.resent",
        certificate_id=certificate.id,
        details={"addressCorrected": corrected},
    )
    session.flush()


# ---------------------------------------------------------------- files


def render_inputs(
    session: Session, *, certificate: Certificate, store: FileStore, links: Links
) -> tuple[TemplateSpec, CertificateData]:
    """What the renderer needs, from stored data only (so a re-render is identical): the
    pinned design version (fonts included) and the logo the certificate recorded."""
    reader = session_reader(session)
    spec = templates_service.spec_for(
        reader,
        template_id=certificate.template_id,
        version=certificate.template_version,
        store=store,
    )
    logo = None
    if templates_service.has_logo(spec):
        snapshot = reader.scalar(_ORGANIZATION_SNAPSHOT, certificate_id=certificate.id)
        logo = organizations_service.logo_image(store, organizations_service.logo_key_of(snapshot))
    data = CertificateData(
        certificate_id=certificate.id,
        recipient_name=certificate.recipient_name,
        issued_at=certificate.issued_at,
        attributes=dict(certificate.attributes),
        verification_url=links.verification_url(certificate.id),
        test_mode=certificate.mode == Mode.TEST,
        logo=logo,
    )
    return spec, data


_ORGANIZATION_SNAPSHOT: Query[dict[str, Any]] = Query(
    select(_CERTIFICATES.c.organization).where(_CERTIFICATES.c.id == bindparam("certificate_id")),
    name="certificate organization",
)


def unrenderable_message(spec: TemplateSpec, problems: Sequence[Problem]) -> str:
    """What is wrong with a stored certificate the renderer refused to draw."""
    return _drawn(spec, problems).message


def _drawn(spec: TemplateSpec, problems: Sequence[Problem]) -> UnrenderableValues:
    # A stored certificate that this server can no longer draw (e.g. a system font that
    # covered its name was removed): refused rather than printed with missing text.
    return templates_service.unrenderable(spec, problems, value_name)


def pdf(
    session: Session,
    *,
    certificate: Certificate,
    store: FileStore,
    links: Links,
    cache: RenderCache,
) -> bytes:
    """The certificate's PDF through the render cache: the one way every caller (download,
    email, public page) gets it. It carries the signed credential (`credential.json`) and the
    issuer's DID document (`did.json`); sign first (`signing.service.ensure_credential`), or
    this raises CredentialPending. Blocking: run it in a thread."""

    def render() -> bytes:
        attachments = signing_service.pdf_attachments(session, certificate_id=certificate.id)
        if attachments is None:
            raise signing_service.CredentialPending()
        spec, data = render_inputs(session, certificate=certificate, store=store, links=links)
        try:
            return render_pdf(spec, data, strict=True, attachments=attachments)
        except UnrenderableText as exc:
            raise _drawn(spec, exc.problems) from exc

    # A new name: PDFs cached before credentials existed do not carry one.
    return cache.get_or_render(render_name(certificate, ".signed.pdf"), render)


def png(
    session: Session,
    *,
    certificate: Certificate,
    store: FileStore,
    links: Links,
    cache: RenderCache,
    width: int | None,
) -> bytes:
    """The certificate as a PNG through the render cache, at one of the cached widths (see
    akowe.certificates.renders.png_width). Blocking."""
    spec, data = render_inputs(session, certificate=certificate, store=store, links=links)
    chosen = png_width(width, spec.width, spec.height)

    def render() -> bytes:
        problems = check(spec, data)  # what strict=True refuses in the PDF
        if problems:
            raise _drawn(spec, problems)
        return render_png(spec, data, chosen)

    return cache.get_or_render(render_name(certificate, f"-{chosen}.png"), render)


def render_name(certificate: Any, suffix: str) -> str:
    """The render cache's name for a file of the certificate's current revision (a
    correction renders anew; revision 1 keeps the names used before revisions existed)."""
    revision = getattr(certificate, "revision", 1) or 1
    return f"{certificate.id}{suffix}" if revision == 1 else f"{certificate.id}.r{revision}{suffix}"
