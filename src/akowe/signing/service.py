"""Signing inside the service: organization keys, did:web documents, status lists, and the
signed Open Badges 3.0 credential of every certificate.

- **Keys.** Each organization gets an Ed25519 key when it is created (or, for organizations
  older than this code, when it first signs). The private key is stored encrypted with
  `AKOWE_SECRET_KEY`; rotating retires the current key and adds a new one, and the DID document
  keeps listing every key, so older credentials keep verifying.
- **Identifiers.** A live organization is `did:web:<host>:orgs:<id>` (document at
  `/orgs/<id>/did.json`); a test-mode organization is `did:web:<host>:test:orgs:<id>`
  (`/test/orgs/<id>/did.json`), and its credentials are named `[TEST] ...`: a sandbox
  credential can never pass for a live one, and every akowe verifier answers TEST for it.
- **Credentials.** Issuing records the certificate and queues an outbox message of kind
  `credential` in the same transaction; the delivery worker signs it moments later (woken at
  once in the issuing process), and anything that needs the credential before then (the page,
  the PDF, the API) signs it on demand with `ensure_credential`. The worker signs batches
  (`sign_batch`: one read, the CPU part in a signing process, one write). Signing runs outside
  any write transaction (it is CPU work: about 2-3 ms); only the final insert is one short
  transaction, safe against concurrent signers (the credential's primary key and the status
  index's unique constraint decide, and the loser reads the winner's credential).
- **Status lists.** Each organization's credentials get random indexes in its Bitstring Status
  List (131,072 entries, a new list once half are handed out). Revoking sets the bit and
  re-signs the list credential in the revoking transaction.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Final, Protocol, TypeVar, cast

from sqlalchemy import Table, bindparam, delete, exists, inspect, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from akowe.certificates.models import Certificate
from akowe.db.base import new_id, utcnow
from akowe.db.database import TransactionAborted, session_reader
from akowe.db.statements import Batch, DriverReader, Query
from akowe.delivery import service as delivery_service
from akowe.delivery.models import OutboxMessage
from akowe.errors import ServiceError, ValidationFailed
from akowe.modes import Mode
from akowe.organizations.models import Organization
from akowe.processes import Job, WorkProcesses
from akowe.processes import run as run_job
from akowe.rendering import Attachment
from akowe.signing.did import (
    did_document,
    did_of,
    verification_method_id,
)
from akowe.signing.exceptions import CredentialPending as CredentialPending
from akowe.signing.exceptions import MissingSecretKey as MissingSecretKey
from akowe.signing.exceptions import OrganizationUnknown, SigningFailed
from akowe.signing.keys import (
    generate_private_key,
    public_key_multibase,
)
from akowe.signing.models import Credential, SigningKey, StatusList, SupersededCredential
from akowe.signing.pdf import CREDENTIAL_FILENAME
from akowe.signing.proofs import sign

# Re-exported: callers use the signing service as one module.
from akowe.signing.signer import PUBLIC_CERTIFICATES_PATH as PUBLIC_CERTIFICATES_PATH
from akowe.signing.signer import STATUS_LISTS_PATH as STATUS_LISTS_PATH
from akowe.signing.signer import Signer as Signer
from akowe.signing.signer import dump, sign_certificate
from akowe.signing.signer import is_test_did as is_test_did
from akowe.signing.signer import resolve_secret as resolve_secret
from akowe.signing.status_list import (
    MIN_LIST_LENGTH,
    REVOCATION,
    StatusBitstring,
    build_status_list_credential,
)
from akowe.templates.models import Template

log = logging.getLogger("akowe.signing")

DID_FILENAME: Final = "did.json"
CREDENTIAL: Final = "credential"  # the outbox kind of "sign this certificate's credential"
# Indexes handed out per list before the next one starts: random picks stay cheap (at most
# two tries on average) and every list keeps a crowd of unused entries to hide in.
LIST_CAPACITY: Final = MIN_LIST_LENGTH // 2
_ATTEMPTS: Final = 5

R = TypeVar("R")


# ---------------------------------------------------------------- queries

_KEYS = cast(Table, SigningKey.__table__)
_LISTS = cast(Table, StatusList.__table__)
_CREDENTIALS = cast(Table, Credential.__table__)
_CERTIFICATES = cast(Table, Certificate.__table__)
_ORGANIZATIONS = cast(Table, Organization.__table__)
_TEMPLATES = cast(Table, Template.__table__)
_OUTBOX = cast(Table, OutboxMessage.__table__)
_SUPERSEDED = cast(Table, SupersededCredential.__table__)

ORGANIZATION_KEYS: Query[SigningKey] = Query(
    select(_KEYS.c.id, _KEYS.c.public_key, _KEYS.c.created_at, _KEYS.c.retired_at)
    .where(_KEYS.c.organization_id == bindparam("organization_id"))
    .order_by(_KEYS.c.created_at, _KEYS.c.id),
    name="organization keys",
)
ANY_KEY: Query[SigningKey] = Query(
    select(_KEYS).order_by(_KEYS.c.created_at.desc()).limit(1), name="newest key"
)
KEY_ORGANIZATION: Query[Any] = Query(
    select(_KEYS.c.organization_id).where(_KEYS.c.id == bindparam("key_id")),
    name="organization of key",
)
CURRENT_KEY: Query[SigningKey] = Query(
    select(_KEYS)
    .where(_KEYS.c.organization_id == bindparam("organization_id"), _KEYS.c.retired_at.is_(None))
    .order_by(_KEYS.c.created_at.desc(), _KEYS.c.id.desc())
    .limit(1),
    name="current signing key",
)
ORGANIZATION_MODE: Query[Organization] = Query(
    select(
        _ORGANIZATIONS.c.id,
        _ORGANIZATIONS.c.mode,
        _ORGANIZATIONS.c.account_id,
        _ORGANIZATIONS.c.deleted_at,
    ).where(_ORGANIZATIONS.c.id == bindparam("organization_id")),
    name="organization mode",
)
CURRENT_LIST: Query[StatusList] = Query(
    select(_LISTS.c.id, _LISTS.c.used, _LISTS.c.length)
    .where(
        _LISTS.c.organization_id == bindparam("organization_id"),
        _LISTS.c.purpose == REVOCATION,
        _LISTS.c.used < bindparam("capacity"),
    )
    .order_by(_LISTS.c.created_at.desc(), _LISTS.c.id.desc())
    .limit(1),
    name="current status list",
)
STATUS_LIST_DOCUMENT: Query[StatusList] = Query(
    select(_LISTS.c.id, _LISTS.c.credential, _LISTS.c.version).where(
        _LISTS.c.id == bindparam("list_id")
    ),
    name="status list document",
)
# Superseded and erased credentials keep their (set) bits: their indexes are never reused.
INDEX_TAKEN: Query[Any] = Query(
    select(_CREDENTIALS.c.certificate_id)
    .where(
        _CREDENTIALS.c.status_list_id == bindparam("list_id"),
        _CREDENTIALS.c.status_index == bindparam("index"),
    )
    .union_all(
        select(_SUPERSEDED.c.certificate_id).where(
            _SUPERSEDED.c.status_list_id == bindparam("list_id"),
            _SUPERSEDED.c.status_index == bindparam("index"),
        )
    ),
    name="status index taken",
)
CREDENTIAL_OF: Query[Credential] = Query(
    select(_CREDENTIALS).where(_CREDENTIALS.c.certificate_id == bindparam("certificate_id")),
    name="credential of certificate",
)
_CREDENTIALS_OF_MANY = select(_CREDENTIALS).where(
    _CREDENTIALS.c.certificate_id.in_(bindparam("certificate_ids", expanding=True))
)
_INDEXES_TAKEN = (
    select(_CREDENTIALS.c.status_index)
    .where(
        _CREDENTIALS.c.status_list_id == bindparam("list_id"),
        _CREDENTIALS.c.status_index.in_(bindparam("indexes", expanding=True)),
    )
    .union_all(
        select(_SUPERSEDED.c.status_index).where(
            _SUPERSEDED.c.status_list_id == bindparam("list_id"),
            _SUPERSEDED.c.status_index.in_(bindparam("indexes", expanding=True)),
        )
    )
)
_TO_SIGN = select(
    _CERTIFICATES.c.id,
    _CERTIFICATES.c.mode,
    _CERTIFICATES.c.organization_id,
    _CERTIFICATES.c.organization,
    _CERTIFICATES.c.template_id,
    _CERTIFICATES.c.recipient_name,
    _CERTIFICATES.c.recipient_email,
    _CERTIFICATES.c.attributes,
    _CERTIFICATES.c.issued_at,
    _CERTIFICATES.c.expires_at,
    _TEMPLATES.c.name.label("template_name"),
).select_from(_CERTIFICATES.outerjoin(_TEMPLATES, _TEMPLATES.c.id == _CERTIFICATES.c.template_id))
# An erased certificate is never signed again (its recipient's data is gone).
_NOT_ERASED = _CERTIFICATES.c.status != "erased"
CERTIFICATE_TO_SIGN: Query[Certificate] = Query(
    _TO_SIGN.where(_CERTIFICATES.c.id == bindparam("certificate_id"), _NOT_ERASED),
    name="certificate to sign",
)
# The same for a batch, run through SQLAlchemy (a `Query` has no expanding IN).
_CERTIFICATES_TO_SIGN_MANY = _TO_SIGN.where(
    _CERTIFICATES.c.id.in_(bindparam("certificate_ids", expanding=True)), _NOT_ERASED
)
# A batch's certificate rows, locked in one order before any status list row: two batches
# of one organization (two workers) then never each hold a certificate and the list while
# waiting for a certificate the other holds (PostgreSQL aborts one such pair as a deadlock).
_LOCK_CERTIFICATES = (
    select(_CERTIFICATES.c.id, _CERTIFICATES.c.status)
    .where(_CERTIFICATES.c.id.in_(bindparam("certificate_ids", expanding=True)))
    .order_by(_CERTIFICATES.c.id)
    .with_for_update()
)
_TAKE_INDEXES = (
    update(_LISTS)
    .where(
        _LISTS.c.id == bindparam("list_id"),
        _LISTS.c.used + bindparam("count") <= LIST_CAPACITY,
    )
    .values(used=_LISTS.c.used + bindparam("count"))
)
# A status index drawn by two signers at once (two workers; 128 random draws each from
# 131,072 collide about one batch pair in eight) is stored for the first and skipped for the
# second, which signs that certificate again one by one: the rest of its batch is kept. One
# statement for both databases (SQLite and PostgreSQL share the ON CONFLICT syntax).
_INSERT_CREDENTIAL = insert(_CREDENTIALS).on_conflict_do_nothing(
    index_elements=[_CREDENTIALS.c.status_list_id, _CREDENTIALS.c.status_index]
)
_GIVE_BACK_INDEXES = (
    update(_LISTS)
    .where(_LISTS.c.id == bindparam("list_id"))
    .values(used=_LISTS.c.used - bindparam("count"))
)
_PENDING_SIGNING = exists().where(
    _OUTBOX.c.certificate_id == _CERTIFICATES.c.id,
    _OUTBOX.c.kind == CREDENTIAL,
    _OUTBOX.c.status.in_(delivery_service.PENDING),
)
_UNSIGNED = (
    select(_CERTIFICATES.c.id, _CERTIFICATES.c.account_id, _CERTIFICATES.c.mode)
    .where(
        ~exists().where(_CREDENTIALS.c.certificate_id == _CERTIFICATES.c.id),
        ~_PENDING_SIGNING,
        _CERTIFICATES.c.status != "erased",
        _CERTIFICATES.c.issued_at < bindparam("before"),
    )
    .order_by(_CERTIFICATES.c.issued_at, _CERTIFICATES.c.id)
    .limit(bindparam("limit"))
)


# ---------------------------------------------------------------- keys


def create_key(session: Session, *, signer: Signer, organization_id: str, mode: str) -> SigningKey:
    """A new current key for the organization (the caller retires the old one, if any)."""
    key_id = new_id()
    private = generate_private_key()
    row = SigningKey(
        id=key_id,
        organization_id=organization_id,
        mode=str(mode),
        public_key=public_key_multibase(private),
        private_key=signer.encrypt(private, key_id=key_id),
        created_at=utcnow(),
        retired_at=None,
    )
    session.add(row)
    session.flush()
    return row


def rotate_key(session: Session, *, signer: Signer, organization_id: str) -> SigningKey:
    """Retire the organization's current key and make a new one; both stay in its DID
    document, so credentials signed before keep verifying."""
    organization = session.get(Organization, organization_id, with_for_update=True)
    if organization is None:
        raise OrganizationUnknown()
    now = utcnow()
    session.execute(
        update(_KEYS)
        .where(_KEYS.c.organization_id == organization_id, _KEYS.c.retired_at.is_(None))
        .values(retired_at=now)
    )
    return create_key(
        session, signer=signer, organization_id=organization_id, mode=organization.mode
    )


def list_keys(session: Session, *, organization_id: str) -> list[SigningKey]:
    """The organization's keys, oldest first (public halves only)."""
    return session_reader(session).all(ORGANIZATION_KEYS, organization_id=organization_id)


def did_document_of(
    reader: DriverReader, *, signer: Signer, organization_id: str, mode: str
) -> dict[str, Any] | None:
    """The organization's DID document (every key it ever had), or None (unknown, other
    mode, or no key yet)."""
    organization = reader.one(ORGANIZATION_MODE, organization_id=organization_id)
    if organization is None or organization.mode != mode:
        return None
    keys = reader.all(ORGANIZATION_KEYS, organization_id=organization_id)
    if not keys:
        return None
    return did_document(signer.did(organization_id, mode), [key.public_key for key in keys])


def _prepare_organization(session: Session, *, signer: Signer, organization_id: str) -> None:
    """Give the organization a key and a status list with room, if it lacks either."""
    organization = session.get(Organization, organization_id, with_for_update=True)
    if organization is None:
        raise OrganizationUnknown()
    reader = session_reader(session)
    key = reader.one(CURRENT_KEY, organization_id=organization_id)
    if key is None:
        key = create_key(
            session, signer=signer, organization_id=organization_id, mode=organization.mode
        )
    if reader.one(CURRENT_LIST, organization_id=organization_id, capacity=LIST_CAPACITY) is None:
        create_status_list(
            session,
            signer=signer,
            organization_id=organization_id,
            mode=organization.mode,
            key=key,
        )


# ---------------------------------------------------------------- status lists


def create_status_list(
    session: Session, *, signer: Signer, organization_id: str, mode: str, key: SigningKey
) -> StatusList:
    """A new empty revocation list for the organization, signed."""
    list_id = new_id()
    bits = bytes(MIN_LIST_LENGTH // 8)
    now = utcnow()
    row = StatusList(
        id=list_id,
        organization_id=organization_id,
        mode=str(mode),
        purpose=REVOCATION,
        length=MIN_LIST_LENGTH,
        used=0,
        version=1,
        bits=bits,
        credential=_signed_list(
            signer,
            list_id=list_id,
            issuer=signer.did(organization_id, mode),
            bits=bits,
            key=key,
            now=now,
        ),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def _signed_list(
    signer: Signer, *, list_id: str, issuer: str, bits: bytes, key: SigningKey, now: datetime
) -> str:
    unsigned = build_status_list_credential(
        list_id=signer.status_list_url(list_id),
        issuer=issuer,
        bitstring=StatusBitstring(len(bits) * 8, bits),
        valid_from=now,
        ttl_ms=signer.status_list_ttl_seconds * 1000,
    )
    signed = sign(
        unsigned,
        signer.private_key(key.id, key.private_key),
        verification_method=verification_method_id(issuer, key.public_key),
        created=now,
        loader=signer.loader(),
    )
    return dump(signed)


def set_status(
    session: Session, *, signer: Signer, list_id: str, index: int, value: bool = True
) -> None:
    """Set (or clear) one bit of a status list and re-sign its credential, in the caller's
    transaction (the list row is locked until it commits)."""
    row = session.get(StatusList, list_id, with_for_update=True)
    if row is None:
        raise OrganizationUnknown("The status list no longer exists.")
    bitstring = StatusBitstring(row.length, row.bits)
    if bitstring.get(index) == value:
        return
    bitstring.set(index, value)
    key = session_reader(session).one(CURRENT_KEY, organization_id=row.organization_id)
    if key is None:
        key = create_key(session, signer=signer, organization_id=row.organization_id, mode=row.mode)
    now = utcnow()
    row.bits = bitstring.to_bytes()
    row.version = row.version + 1
    row.updated_at = now
    row.credential = _signed_list(
        signer,
        list_id=row.id,
        issuer=signer.did(row.organization_id, row.mode),
        bits=row.bits,
        key=key,
        now=now,
    )
    session.flush()


def on_revoked(session: Session, *, signer: Signer, certificate_id: str) -> None:
    """Hook for the revoking transaction: flip the certificate's bit if it is signed already
    (if not, `ensure_credential` sets the bit when it signs, seeing the revoked status)."""
    stored = session_reader(session).one(CREDENTIAL_OF, certificate_id=certificate_id)
    if stored is not None:
        set_status(session, signer=signer, list_id=stored.status_list_id, index=stored.status_index)


def supersede(
    session: Session, *, signer: Signer, certificate_id: str, revision: int, keep_document: bool
) -> bool:
    """Retire the certificate's current credential in the caller's transaction: its status
    bit is set (every verifier now sees it revoked) and it moves to `superseded_credential`
    (its index stays taken), so the next `ensure_credential` signs a new one. Without
    `keep_document` its JSON (which names the recipient) is dropped: erasure. False if the
    certificate had no credential yet."""
    stored = session_reader(session).one(CREDENTIAL_OF, certificate_id=certificate_id)
    if stored is None:
        return False
    set_status(session, signer=signer, list_id=stored.status_list_id, index=stored.status_index)
    session.execute(delete(_CREDENTIALS).where(_CREDENTIALS.c.certificate_id == certificate_id))
    session.add(
        SupersededCredential(
            certificate_id=certificate_id,
            revision=revision,
            signing_key_id=stored.signing_key_id,
            status_list_id=stored.status_list_id,
            status_index=stored.status_index,
            document=stored.document if keep_document else None,
            signed_at=stored.signed_at,
            superseded_at=utcnow(),
        )
    )
    session.flush()
    return True


def erase_credentials(session: Session, *, certificate_id: str) -> None:
    """Drop the JSON of every superseded credential of the certificate (erasure)."""
    session.execute(
        update(_SUPERSEDED)
        .where(_SUPERSEDED.c.certificate_id == certificate_id)
        .values(document=None)
    )


# ---------------------------------------------------------------- credentials


class Sessions(Protocol):
    """What `ensure_credential` needs from a database (akowe.db.database.Database has it)."""

    def session(self, *, write: bool = False) -> AbstractContextManager[Session]:
        """A session; the caller commits."""
        ...

    def run_transaction(self, fn: Callable[[Session], R], /) -> R:
        """Run `fn(session)` in one committed write transaction."""
        ...


@dataclass(frozen=True, slots=True)
class _Draft:
    certificate_id: str
    organization_id: str
    list_id: str
    index: int
    key_id: str
    document: str


class _TryAgain(Exception):
    """The list filled up, or another signer took the index: draft again."""


def queue_signing(
    batch: Batch,
    *,
    certificate_id: str,
    account_id: str,
    mode: str,
    turn: datetime | None = None,
) -> None:
    """Hook for the issuing transaction's batch: queue the credential's signing (never lost:
    it commits with the certificate, and the worker retries it until it is done); `turn`:
    its place in line (akowe.delivery.service.queue)."""
    delivery_service.queue(
        batch,
        account_id=account_id,
        mode=mode,
        kind=CREDENTIAL,
        payload={},
        certificate_id=certificate_id,
        turn=turn,
    )


def enqueue_signing(session: Session, *, certificate_id: str, account_id: str, mode: str) -> None:
    """`queue_signing` in the caller's transaction."""
    with session_reader(session).batch() as batch:
        queue_signing(batch, certificate_id=certificate_id, account_id=account_id, mode=mode)


def ensure_credential(db: Sessions, *, signer: Signer, certificate_id: str) -> Credential | None:
    """The certificate's signed credential, signing it now if it has none yet; None if the
    certificate does not exist. Blocking (CPU and database): call it from a thread."""
    for _ in range(_ATTEMPTS):
        with db.session() as session:
            reader = session_reader(session)
            stored = reader.one(CREDENTIAL_OF, certificate_id=certificate_id)
            if stored is not None:
                return stored
            certificate = reader.one(CERTIFICATE_TO_SIGN, certificate_id=certificate_id)
            if certificate is None:
                return None
            organization_id = certificate.organization_id
            key = reader.one(CURRENT_KEY, organization_id=organization_id)
            status_list = reader.one(
                CURRENT_LIST, organization_id=organization_id, capacity=LIST_CAPACITY
            )
            index = _free_index(reader, status_list.id) if status_list is not None else None
        if key is None or status_list is None or index is None:
            db.run_transaction(
                partial(_prepare_organization, signer=signer, organization_id=organization_id)
            )
            continue
        draft = _Draft(
            certificate_id=certificate_id,
            organization_id=organization_id,
            list_id=status_list.id,
            index=index,
            key_id=key.id,
            document=dump(
                sign_certificate(signer, certificate, key=key, list_id=status_list.id, index=index)
            ),
        )
        try:
            return db.run_transaction(partial(_store_one, draft=draft, signer=signer))
        except (IntegrityError, _TryAgain):
            continue  # another signer won (it is read next time) or took the index
    raise SigningFailed()


Signed = dict[str, Credential | None]


def sign_batch(
    db: Sessions,
    *,
    signer: Signer,
    certificate_ids: list[str],
    then: Callable[[Session, Signed], None] | None = None,
    processes: WorkProcesses | None = None,
) -> Signed:
    """`ensure_credential` for many certificates with one read and one write transaction
    (the worker's path: half the commits, and SQLite's write lock taken once per batch).

    Returns what was settled: the credential, or None for a certificate that does not exist.
    `then(session, settled)` runs in the storing transaction (the worker finishes its outbox
    messages there; it may run more than once, the writing transaction being tried again
    when the database aborts it to break a lock cycle). With `processes`, the CPU part runs
    in those. Certificates left out (their organization needs a key or a new list, their
    status index was taken meanwhile, or the batch lost a race) are for `ensure_credential`,
    one by one.
    """
    settled, certificates, unprepared = _plan_batch(db, certificate_ids)
    if unprepared:  # organizations that never signed: a key and a list first, then again
        for organization_id in unprepared:
            db.run_transaction(
                partial(_prepare_organization, signer=signer, organization_id=organization_id)
            )
        settled, certificates, _ = _plan_batch(db, certificate_ids)
    jobs = [
        Job(
            certificate=certificate._asdict(),
            key_id=key.id,
            key_private=key.private_key,
            key_public=key.public_key,
            list_id=list_id,
            index=index,
        )
        for certificate, key, list_id, index in certificates
    ]
    documents = processes.sign(jobs) if processes else [run_job(job, signer) for job in jobs]
    drafts = [
        _Draft(
            certificate_id=job.certificate["id"],
            organization_id=job.certificate["organization_id"],
            list_id=job.list_id,
            index=job.index,
            key_id=job.key_id,
            document=document,
        )
        for job, document in zip(jobs, documents, strict=True)
    ]

    def store(session: Session) -> Signed:
        out = dict(settled)
        if drafts:
            out.update(_store_many(session, drafts=drafts, signer=signer))
        if then is not None:
            then(session, out)
        return out

    tries = _ATTEMPTS
    while True:
        try:
            return db.run_transaction(store)
        except IntegrityError:
            return {}  # a concurrent signer won a race: everything goes one by one
        except TransactionAborted:
            # PostgreSQL broke a lock cycle by aborting this transaction: nothing was written,
            # and the signed drafts are still good.
            tries -= 1
            if not tries:
                raise


def _plan_batch(
    db: Sessions, certificate_ids: list[str]
) -> tuple[Signed, list[tuple[Any, Any, str, int]], set[str]]:
    """Read what a batch needs: already settled ones, the rest with their key, list and a
    free random index each, and the organizations that have no key or list yet.

    A few statements for the whole batch (its credentials, its certificates, the indexes
    drawn for each list), not three per certificate: on PostgreSQL each is a round trip."""
    settled: Signed = {}
    certificates: list[tuple[Any, Any, str, int]] = []
    unprepared: set[str] = set()
    ids = list(dict.fromkeys(certificate_ids))
    with db.session() as session:
        reader = session_reader(session)
        stored: dict[str, Credential] = {
            row.certificate_id: cast(Credential, row)  # its columns, as `Query` rows are
            for row in session.execute(_CREDENTIALS_OF_MANY, {"certificate_ids": ids})
        }
        unsigned = [certificate_id for certificate_id in ids if certificate_id not in stored]
        found = (
            {
                row.id: row
                for row in session.execute(
                    _CERTIFICATES_TO_SIGN_MANY, {"certificate_ids": unsigned}
                )
            }
            if unsigned
            else {}
        )
        plans: dict[str, tuple[Any, Any]] = {}
        wanted: dict[str, list[tuple[Any, Any]]] = {}  # list id -> (certificate, key)
        for certificate_id in ids:
            certificate = found.get(certificate_id)
            if certificate is None:
                settled[certificate_id] = stored.get(certificate_id)
                continue
            organization_id = certificate.organization_id
            if organization_id not in plans:
                plans[organization_id] = (
                    reader.one(CURRENT_KEY, organization_id=organization_id),
                    reader.one(
                        CURRENT_LIST, organization_id=organization_id, capacity=LIST_CAPACITY
                    ),
                )
            key, status_list = plans[organization_id]
            if key is None or status_list is None:
                unprepared.add(organization_id)
                continue
            waiting = wanted.setdefault(status_list.id, [])
            if status_list.used + len(waiting) >= LIST_CAPACITY:
                continue  # the list fills up: the rest go one by one (a new list)
            waiting.append((certificate, key))
        for list_id, waiting in wanted.items():
            indexes = _free_indexes(session, list_id, len(waiting))
            # Short of free indexes (a nearly full list): the rest go one by one.
            for (certificate, key), index in zip(waiting, indexes, strict=False):
                certificates.append((certificate, key, list_id, index))
    return settled, certificates, unprepared


def _free_indexes(session: Session, list_id: str, count: int) -> list[int]:
    """`count` distinct random indexes of the list that no credential holds (fewer if 64
    draws do not find them): drawn together and checked in one statement per draw."""
    chosen: list[int] = []
    for _ in range(64):
        short = count - len(chosen)
        if short <= 0:
            break
        drawn = {secrets.randbelow(MIN_LIST_LENGTH) for _ in range(short)} - set(chosen)
        taken = set(session.scalars(_INDEXES_TAKEN, {"list_id": list_id, "indexes": sorted(drawn)}))
        chosen.extend(index for index in drawn if index not in taken)
    return chosen[:count]


def _free_index(reader: DriverReader, list_id: str) -> int | None:
    for _ in range(64):
        index = secrets.randbelow(MIN_LIST_LENGTH)
        if reader.one(INDEX_TAKEN, list_id=list_id, index=index) is None:
            return index
    return None


def _store_many(session: Session, *, drafts: list[_Draft], signer: Signer) -> dict[str, Credential]:
    """`_store` for a batch, in a few statements: the certificates locked and read, the
    indexes counted per list, the credentials inserted and read back together. A draft whose
    certificate was erased or deleted meanwhile, whose list filled up, or whose index another
    signer stored meanwhile, writes nothing and is left out (it goes one by one)."""
    ids = sorted(draft.certificate_id for draft in drafts)
    # Every certificate row first, in one order (see _LOCK_CERTIFICATES).
    statuses: dict[str, str] = {
        row.id: row.status for row in session.execute(_LOCK_CERTIFICATES, {"certificate_ids": ids})
    }
    out: dict[str, Credential] = {
        row.certificate_id: cast(Credential, row)
        for row in session.execute(_CREDENTIALS_OF_MANY, {"certificate_ids": ids})
    }
    lists: dict[str, list[_Draft]] = {}
    for draft in drafts:
        status = statuses.get(draft.certificate_id)
        # Deleted or erased meanwhile (the draft names the recipient): never stored.
        if draft.certificate_id not in out and status is not None and status != "erased":
            lists.setdefault(draft.list_id, []).append(draft)
    taken: list[_Draft] = []
    for list_id in sorted(lists):  # list rows too in one order, like the certificates
        group = lists[list_id]
        result = session.execute(_TAKE_INDEXES, {"list_id": list_id, "count": len(group)})
        if result.rowcount == 1:  # type: ignore[attr-defined]
            taken.extend(group)
    if not taken:
        return out
    now = utcnow()
    session.execute(
        _INSERT_CREDENTIAL,
        [
            {
                "certificate_id": draft.certificate_id,
                "signing_key_id": draft.key_id,
                "status_list_id": draft.list_id,
                "status_index": draft.index,
                "document": draft.document,
                "signed_at": now,
            }
            for draft in taken
        ],
    )
    # None of them had a credential (read above, their rows locked): those found now are
    # the ones this statement stored. (Read back rather than RETURNING, which made the
    # insert one many-VALUES statement: a fifth slower on PostgreSQL than executemany.)
    stored = {
        row.certificate_id: cast(Credential, row)
        for row in session.execute(
            _CREDENTIALS_OF_MANY, {"certificate_ids": [draft.certificate_id for draft in taken]}
        )
    }
    collided: dict[str, int] = {}
    for draft in taken:
        if draft.certificate_id not in stored:
            collided[draft.list_id] = collided.get(draft.list_id, 0) + 1
        elif statuses[draft.certificate_id] == "revoked":
            set_status(session, signer=signer, list_id=draft.list_id, index=draft.index)
    for list_id, count in sorted(collided.items()):
        session.execute(_GIVE_BACK_INDEXES, {"list_id": list_id, "count": count})
    out.update(stored)
    return out


def _store_one(session: Session, *, draft: _Draft, signer: Signer) -> Credential:
    """`_store_many` for one draft; _TryAgain if it wrote nothing (nothing to sign any more,
    or the list filled up)."""
    stored = _store_many(session, drafts=[draft], signer=signer).get(draft.certificate_id)
    if stored is None:
        raise _TryAgain()
    return stored


def find_unsigned(session: Session, *, before: datetime, limit: int = 500) -> list[str]:
    """Repair, first half: certificates issued before `before` that have neither a
    credential nor a pending signing message (the oldest `limit`). A scan of every
    certificate: run it in a read-only session, where it holds no lock (on SQLite, in a
    write transaction it held the one write lock and stopped every issue while it read)."""
    rows = session.execute(_UNSIGNED, {"before": before, "limit": limit}).all()
    return [row.id for row in rows]


def enqueue_unsigned(session: Session, *, certificate_ids: Sequence[str], before: datetime) -> int:
    """Repair, second half, in a write transaction: queue signing for those of
    `certificate_ids` (found by `find_unsigned`) that still have neither; how many were
    queued. The same conditions, asked again of these rows alone (by primary key)."""
    if not certificate_ids:
        return 0
    still = _UNSIGNED.where(_CERTIFICATES.c.id.in_(list(certificate_ids)))
    rows = session.execute(still, {"before": before, "limit": len(certificate_ids)}).all()
    for row in rows:
        enqueue_signing(session, certificate_id=row.id, account_id=row.account_id, mode=row.mode)
    return len(rows)


def pdf_attachments(
    session: Session,
    *,
    certificate_id: str,
    did_files: dict[str, Attachment | None] | None = None,
) -> list[Attachment] | None:
    """What a certificate's PDF carries: its signed credential (`credential.json`) and its
    issuer's DID document (`did.json`, so `akowe verify --offline` can check the signature);
    None while the certificate has no credential.

    `did_files` keeps the DID documents made, by signing key, for a caller making many
    PDFs at once (a batch of emails: one organization's, mostly): each was the credential
    parsed, two queries and the document built and serialised again, per email."""
    reader = session_reader(session)
    stored = reader.one(CREDENTIAL_OF, certificate_id=certificate_id)
    if stored is None:
        return None
    attachments = [
        Attachment(
            CREDENTIAL_FILENAME,
            stored.document.encode(),
            "application/ld+json",
            "Source",
            "The signed Open Badges 3.0 credential of this certificate",
        )
    ]
    kept = did_files if did_files is not None else {}
    if stored.signing_key_id not in kept:
        kept[stored.signing_key_id] = _did_file(reader, stored)
    did_file = kept[stored.signing_key_id]
    if did_file is not None:
        attachments.append(did_file)
    return attachments


def _did_file(reader: DriverReader, stored: Credential) -> Attachment | None:
    document = cached_did_document(reader, stored)
    if document is None:
        return None
    return Attachment(
        DID_FILENAME,
        dump(document).encode(),
        "application/did+json",
        "Supplement",
        "The issuer's DID document when this file was made (for offline checks)",
    )


def cached_did_document(reader: DriverReader, stored: Credential) -> dict[str, Any] | None:
    """The DID document of the issuer of a stored credential, from the database."""
    issuer = issuer_did_of(json.loads(stored.document))
    organization_id = reader.scalar(KEY_ORGANIZATION, key_id=stored.signing_key_id)
    if issuer is None or organization_id is None:
        return None
    keys = reader.all(ORGANIZATION_KEYS, organization_id=organization_id)
    return did_document(issuer, [key.public_key for key in keys]) if keys else None


def sign_for_vc_api(
    db: Sessions, *, signer: Signer, account_id: str, credential: Any
) -> dict[str, Any]:
    """Sign a caller's credential (VC-API `/credentials/issue`, test mode only) with the key of
    the test-mode organization it names as `issuer`. Blocking."""
    if not isinstance(credential, dict):
        raise ValidationFailed.field("credential", "must be a JSON object")
    if "proof" in credential:
        raise ValidationFailed.field("credential.proof", "must be absent: we add the proof")
    issuer = issuer_did_of(credential)
    ours = signer.parse_did(issuer) if issuer is not None else None
    if issuer is None or ours is None or ours[1] != Mode.TEST:
        raise ValidationFailed.field(
            "credential.issuer", "must be the DID of one of your test-mode organizations"
        )
    organization_id = ours[0]
    for _ in range(2):
        with db.session() as session:
            reader = session_reader(session)
            organization = reader.one(ORGANIZATION_MODE, organization_id=organization_id)
            if (
                organization is None
                or organization.account_id != account_id
                or organization.mode != Mode.TEST
                or organization.deleted_at is not None
            ):
                raise ValidationFailed.field(
                    "credential.issuer", "must be the DID of one of your test-mode organizations"
                )
            key = reader.one(CURRENT_KEY, organization_id=organization_id)
        if key is not None:
            return sign(
                credential,
                signer.private_key(key.id, key.private_key),
                verification_method=verification_method_id(issuer, key.public_key),
                loader=signer.loader(examples=True),
            )
        db.run_transaction(
            partial(_prepare_organization, signer=signer, organization_id=organization_id)
        )
    raise SigningFailed()


def check_secret(db: Sessions, *, signer: Signer) -> None:
    """Refuse (KeyDecryptionFailed) a secret key that does not decrypt the stored keys.
    A database not migrated yet holds no key to check (`akowe db upgrade` comes first)."""
    with db.session() as session:
        if not inspect(session.connection()).has_table(SigningKey.__tablename__):
            log.warning("the database is not migrated: run `akowe db upgrade`")
            return
        key = session_reader(session).one(ANY_KEY)
    if key is not None:
        signer.private_key(key.id, key.private_key)


def read_credential(reader: DriverReader, *, certificate_id: str) -> Credential | None:
    """The stored credential of a certificate, or None."""
    return reader.one(CREDENTIAL_OF, certificate_id=certificate_id)


def status_list_document(reader: DriverReader, *, list_id: str) -> str | None:
    """The signed status list credential's JSON text, or None."""
    row = reader.one(STATUS_LIST_DOCUMENT, list_id=list_id)
    return None if row is None else row.credential


def issuer_did_of(document: dict[str, Any]) -> str | None:
    """The DID of a credential's issuer, if it names one."""
    issuer = document.get("issuer")
    if isinstance(issuer, dict):
        issuer = issuer.get("id")
    if not isinstance(issuer, str):
        return None
    try:
        return did_of(issuer)
    except ServiceError:
        return None
