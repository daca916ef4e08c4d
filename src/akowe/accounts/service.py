"""Accounts, sub-accounts and API keys: keys are shown once and stored only as a hash."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, bindparam, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import ExternallyTraversible, replacement_traverse

from akowe.accounts.exceptions import (
    AccountNotFound,
    InvalidApiKey,
    KeyNotFound,
    UnknownSubAccount,
    ValidationFailed,
)
from akowe.accounts.models import Account, ApiKey, SubAccount
from akowe.db.base import utcnow
from akowe.db.database import Database
from akowe.db.statements import Query
from akowe.modes import Mode

KEY_FORMAT_VERSION = 0
_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_KEY_RE = re.compile(rf"^(live|test)-({_UUID})-(\d)-({_UUID})$")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key, its account and mode, and the sub-account scope if any."""

    key_id: str
    account_id: str
    mode: Mode
    subaccount_id: str | None = None
    subaccount_email: str | None = None
    address: str | None = None  # the client's address, for the audit trail
    # A resource read in the same statement as the key (see `WithKey`): the resource
    # query's name, the id asked for, and the row (None: no such resource in this scope).
    prefetched: tuple[str, str, Any] | None = None

    def prefetched_row(self, query: Query[Any], resource_id: str) -> tuple[bool, Any]:
        """(True, row or None) if `query` was read for `resource_id` with the key, else
        (False, None). Never for a sub-account (its scope needs one more lookup first)."""
        found = self.prefetched
        if found is None or self.subaccount_id is not None:
            return False, None
        name, prefetched_id, row = found
        if name != query.name or prefetched_id != resource_id:
            return False, None
        return True, row


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key as shown once at creation: `api_key` is the only copy of the secret."""

    key: ApiKey
    api_key: str


def hash_secret(secret: str) -> str:
    """SHA-256 of the secret; a UUID v4 has 122 random bits, so a slow KDF adds nothing."""
    return hashlib.sha256(secret.encode()).hexdigest()


_EMPTY_HASH = hash_secret("")


def normalize_email(email: str) -> str:
    """Emails compare case-insensitively."""
    return email.strip().lower()


def create_account(
    session: Session, *, email: str, name: str | None = None
) -> tuple[Account, IssuedKey]:
    """Create an account with zero balances and its first live key."""
    account = Account(email=normalize_email(email), name=name)
    session.add(account)
    try:
        session.flush()
    except IntegrityError as exc:
        raise ValidationFailed.field("email", "an account with this email already exists") from exc
    # Imported here: the credits domain builds on accounts (its balance query joins the key).
    from akowe.credits import service as credits_service

    credits_service.open_balances(session, account_id=account.id)
    return account, create_key(session, account_id=account.id, mode=Mode.LIVE)


def get_account(session: Session, *, account_id: str) -> Account | None:
    """The account, or None."""
    return session.get(Account, account_id)


def require_account(session: Session, *, account_id: str) -> Account:
    """The account, or AccountNotFound."""
    account = get_account(session, account_id=account_id)
    if account is None:
        raise AccountNotFound()
    return account


def get_account_by_email(session: Session, *, email: str) -> Account | None:
    """The account with this email, or None."""
    return session.scalar(select(Account).where(Account.email == normalize_email(email)))


def create_key(
    session: Session,
    *,
    account_id: str,
    mode: Mode,
    expires_in: timedelta | None = None,
    name: str | None = None,
) -> IssuedKey:
    """Create a key `<mode>-<keyId>-0-<secret>`; the secret is returned once, never stored."""
    require_account(session, account_id=account_id)
    key_id, secret = str(uuid.uuid4()), str(uuid.uuid4())
    key = ApiKey(
        id=key_id,
        account_id=account_id,
        mode=mode,
        format_version=KEY_FORMAT_VERSION,
        secret_hash=hash_secret(secret),
        name=name,
        expires_at=utcnow() + expires_in if expires_in else None,
    )
    session.add(key)
    session.flush()
    return IssuedKey(key=key, api_key=f"{mode}-{key_id}-{KEY_FORMAT_VERSION}-{secret}")


def list_keys(session: Session, *, account_id: str) -> Sequence[ApiKey]:
    """The account's keys, oldest first (secrets are not stored, so never shown)."""
    require_account(session, account_id=account_id)
    return session.scalars(
        select(ApiKey).where(ApiKey.account_id == account_id).order_by(ApiKey.created_at)
    ).all()


def revoke_key(session: Session, *, key_id: str) -> ApiKey:
    """Revoke a key for good; revoking twice keeps the first time."""
    key = session.get(ApiKey, key_id)
    if key is None:
        raise KeyNotFound()
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


_API_KEY = ApiKey.__table__
_SUB_ACCOUNT = SubAccount.__table__
# The key row every authenticated request reads; routes that need one more row of the
# key's account (the balance) extend it with a join instead of a second round trip.
KEY_COLUMNS = (
    _API_KEY.c.account_id,
    _API_KEY.c.mode,
    _API_KEY.c.format_version,
    _API_KEY.c.secret_hash,
    _API_KEY.c.expires_at,
    _API_KEY.c.revoked_at,
    _API_KEY.c.last_used_at,
)
KEY_BY_ID: Query[ApiKey] = Query(
    select(*KEY_COLUMNS).where(_API_KEY.c.id == bindparam("key_id")), name="key by id"
)
SUBACCOUNT_BY_EMAIL: Query[SubAccount] = Query(
    select(_SUB_ACCOUNT.c.id, _SUB_ACCOUNT.c.email).where(
        _SUB_ACCOUNT.c.account_id == bindparam("account_id"),
        _SUB_ACCOUNT.c.email == bindparam("email"),
    ),
    name="sub-account by email",
)


@dataclass(frozen=True, slots=True)
class WithKey:
    """A keyed read in one statement: the key row and, joined to it, a resource of the key's
    account and mode (`resource` with its `account_id` and `mode` parameters bound to the key
    row's columns, a LATERAL join), so a request that checks its key and reads one row makes
    one round trip instead of two. The resource's rules (scope, soft delete) stay in its one
    query; the key's checks are authenticate's as for every request, and the resource row is
    used only once they pass. PostgreSQL only: its reads cross the network, while SQLite
    reads inline in microseconds (and has no LATERAL)."""

    query: Query[Any]
    resource: Query[Any]
    param: str  # the resource query's parameter naming the resource's id


def with_key(resource: Query[Any], *, param: str) -> WithKey:
    """`resource` (which selects its `id` first) read together with the key row."""

    def bound_to_key(element: ExternallyTraversible, **_: Any) -> ExternallyTraversible | None:
        if isinstance(element, BindParameter) and element.key in ("account_id", "mode"):
            return _API_KEY.c[element.key]
        return None

    statement = cast(Select[Any], resource.statement)
    assert statement.selected_columns[0].key == "id", "the resource selects its id first"
    scoped = cast(Select[Any], replacement_traverse(statement, {}, bound_to_key)).lateral(
        "resource"
    )
    combined = (
        select(*KEY_COLUMNS, *scoped.c)
        .select_from(_API_KEY.outerjoin(scoped, true()))
        .where(_API_KEY.c.id == bindparam("key_id"))
    )
    return WithKey(Query(combined, name=f"key with {resource.name}"), resource, param)


@dataclass(frozen=True, slots=True)
class Authentication:
    """The outcome of checking a key: who calls, whether its last-used time is due, and the
    key row as read (a query extending KEY_BY_ID carries its extra columns here)."""

    principal: Principal
    touch: bool
    row: Any


async def authenticate(
    db: Database,
    *,
    raw_key: str | None,
    subaccount_email: str | None,
    now: datetime,
    touch_after: timedelta,
    key_query: Query[Any] = KEY_BY_ID,
    prefetch: tuple[WithKey, str] | None = None,
) -> Authentication:
    """Check a raw key (and resolve the optional sub-account email): the one authentication
    function of every route, the balance fast path included.

    Every key failure is the same InvalidApiKey; the secret is compared in constant time,
    also for unknown ids, so timing does not reveal which ids exist. An unknown sub-account
    email is UnknownSubAccount (403). With `prefetch` (a `WithKey` and the resource's id) and
    no sub-account, the resource is read in the key's statement and handed to the route
    through `Principal.prefetched`.
    """
    match = _KEY_RE.match(raw_key.strip()) if raw_key else None
    if match is None:
        raise InvalidApiKey()
    mode, key_id, version, secret = match.groups()
    sub_account = subaccount_email is not None and bool(subaccount_email.strip())
    params: dict[str, Any] = {"key_id": key_id}
    if prefetch is not None and not sub_account:
        key_query = prefetch[0].query
        params[prefetch[0].param] = prefetch[1]
    else:
        prefetch = None
    # Counted against the key's share of the pool: one client's burst of requests queues
    # behind itself, never in front of other accounts (akowe.db.database.Gate).
    row = await db.one(key_query, tenant=f"key:{key_id}", **params)
    expected = row.secret_hash if row is not None else _EMPTY_HASH
    secret_ok = hmac.compare_digest(hash_secret(secret), expected)
    if (
        row is None
        or not secret_ok
        or row.mode != mode
        or row.format_version != int(version)
        or row.revoked_at is not None
        or (row.expires_at is not None and row.expires_at <= now)
    ):
        raise InvalidApiKey()
    touch = row.last_used_at is None or now - row.last_used_at >= touch_after
    principal = Principal(key_id=key_id, account_id=row.account_id, mode=Mode(mode))
    if prefetch is not None:
        spec, resource_id = prefetch
        width = len(KEY_COLUMNS)
        resource = None
        if row[width] is not None:  # the resource's id: NULL when the join found nothing
            resource = spec.resource.plan(db.dialect).record._make(row[width:])
        principal = replace(principal, prefetched=(spec.resource.name, resource_id, resource))
    if sub_account:
        assert subaccount_email is not None
        sub = await db.one(
            SUBACCOUNT_BY_EMAIL,
            tenant=row.account_id,
            account_id=row.account_id,
            email=normalize_email(subaccount_email),
        )
        if sub is None:
            raise UnknownSubAccount()
        principal = Principal(
            key_id=key_id,
            account_id=row.account_id,
            mode=Mode(mode),
            subaccount_id=sub.id,
            subaccount_email=sub.email,
        )
    return Authentication(principal=principal, touch=touch, row=row)


def touch_key(session: Session, *, key_id: str, now: datetime) -> None:
    """Record that a key was used."""
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))


def add_subaccount(session: Session, *, account_id: str, email: str) -> SubAccount:
    """Add a sub-account identified by email."""
    require_account(session, account_id=account_id)
    email = normalize_email(email)
    if "@" not in email:
        raise ValidationFailed.field("email", "must be an email address")
    sub = SubAccount(account_id=account_id, email=email)
    session.add(sub)
    try:
        session.flush()
    except IntegrityError as exc:
        raise ValidationFailed.field("email", "this sub-account already exists") from exc
    return sub


def list_subaccounts(session: Session, *, account_id: str) -> Sequence[SubAccount]:
    """The account's sub-accounts."""
    require_account(session, account_id=account_id)
    return session.scalars(
        select(SubAccount).where(SubAccount.account_id == account_id).order_by(SubAccount.email)
    ).all()


def list_accounts(session: Session) -> Sequence[Account]:
    """Every account, oldest first (operators only)."""
    return session.scalars(select(Account).order_by(Account.created_at)).all()
