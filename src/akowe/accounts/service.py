"""Accounts, sub-accounts and API keys: keys are shown once and stored only as a hash."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from akowe.accounts.exceptions import (
    AccountNotFound,
    InvalidApiKey,
    KeyNotFound,
    UnknownSubAccount,
    ValidationFailed,
)
from akowe.accounts.models import Account, ApiKey, SubAccount
from akowe.credits import service as credits_service
from akowe.db.base import utcnow
from akowe.db.quick import QuickReader, as_utc
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


_KEY_SQL = (
    "SELECT account_id, mode, format_version, secret_hash, expires_at, revoked_at, last_used_at"
    " FROM api_key WHERE id = ?"
)
_SUBACCOUNT_SQL = "SELECT id, email FROM sub_account WHERE account_id = ? AND email = ?"


async def authenticate(
    reader: QuickReader,
    *,
    raw_key: str | None,
    subaccount_email: str | None,
    now: datetime,
    touch_after: timedelta,
) -> tuple[Principal, bool]:
    """The principal for a raw key and optional sub-account email, and whether to touch the key.

    Every key failure is the same InvalidApiKey; the secret is compared in constant time.
    """
    match = _KEY_RE.match(raw_key.strip()) if raw_key else None
    if match is None:
        raise InvalidApiKey()
    mode, key_id, version, secret = match.groups()
    row = await reader.fetch(_KEY_SQL, key_id)
    # Hash and compare even for an unknown id, so timing does not reveal which ids exist.
    expected = row[3] if row is not None else _EMPTY_HASH
    secret_ok = hmac.compare_digest(hash_secret(secret), expected)
    if row is None or not secret_ok or row[1] != mode or row[2] != int(version) or row[5]:
        raise InvalidApiKey()
    expires_at, last_used_at = as_utc(row[4]), as_utc(row[6])
    if expires_at is not None and expires_at <= now:
        raise InvalidApiKey()
    touch = last_used_at is None or now - last_used_at >= touch_after
    account_id = row[0]
    if subaccount_email is None or not subaccount_email.strip():
        return Principal(key_id=key_id, account_id=account_id, mode=Mode(mode)), touch
    sub = await reader.fetch(_SUBACCOUNT_SQL, account_id, normalize_email(subaccount_email))
    if sub is None:
        raise UnknownSubAccount()
    principal = Principal(
        key_id=key_id,
        account_id=account_id,
        mode=Mode(mode),
        subaccount_id=sub[0],
        subaccount_email=sub[1],
    )
    return principal, touch


def touch_key(session: Session, *, key_id: str, now: datetime) -> None:
    """Record that a key was used."""
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))


def resolve_subaccount(session: Session, *, account_id: str, email: str) -> SubAccount:
    """The sub-account named by `x-subaccount-email`, or 403."""
    sub = session.scalar(
        select(SubAccount).where(
            SubAccount.account_id == account_id, SubAccount.email == normalize_email(email)
        )
    )
    if sub is None:
        raise UnknownSubAccount()
    return sub


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
