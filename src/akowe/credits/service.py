"""The credit ledger: balances change only through `add` and `debit`, each writing an entry.

The sandbox (test mode) spends nothing real, so it never runs dry: a new test key and a
sandbox debit that finds the balance too low top the sandbox up to `SANDBOX_ALLOWANCE`, in a
ledger entry like any other (reason `sandbox allowance`), so sandbox issuance is never
refused for credits and is still counted. Live credits are granted only by operators.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CheckConstraint, Table, and_, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from akowe.accounts import service as accounts_service
from akowe.accounts.models import ApiKey
from akowe.accounts.service import Authentication
from akowe.credits.exceptions import InsufficientCredits, ValidationFailed
from akowe.credits.models import CreditBalance, LedgerEntry
from akowe.db.base import new_id, utcnow
from akowe.db.database import Database, session_reader
from akowe.db.statements import Batch, Pending, Query, insert_query, with_defaults
from akowe.modes import Mode

_BALANCES = cast(Table, CreditBalance.__table__)
_LEDGER = cast(Table, LedgerEntry.__table__)
_API_KEYS = cast(Table, ApiKey.__table__)
_IN_BALANCE = and_(
    _BALANCES.c.account_id == bindparam("account_id"), _BALANCES.c.mode == bindparam("mode")
)
# The debit: one conditional UPDATE, so the database applies the `balance >= amount` check
# and the subtraction atomically (a row lock on PostgreSQL, the write lock on SQLite).
DEBIT: Query[CreditBalance] = Query(
    update(_BALANCES)
    .where(_IN_BALANCE, _BALANCES.c.balance >= bindparam("amount"))
    .values(balance=_BALANCES.c.balance - bindparam("amount"))
    .returning(_BALANCES.c.balance),
    name="debit",
)
# Its ledger entry records the balance the UPDATE left, read in the same statement, so both
# can be sent together (one round trip) without waiting for the UPDATE's answer.
_ENTRY_COLUMNS = ("id", "account_id", "mode", "amount", "balance_after", "reason")
DEBIT_ENTRY: Query[LedgerEntry] = Query(
    insert(_LEDGER).from_select(
        [*_ENTRY_COLUMNS, "reference", "actor", "created_at"],
        select(
            bindparam("id", type_=_LEDGER.c.id.type),
            _BALANCES.c.account_id,
            _BALANCES.c.mode,
            -bindparam("amount", type_=_LEDGER.c.amount.type),
            _BALANCES.c.balance,
            bindparam("reason", type_=_LEDGER.c.reason.type),
            bindparam("reference", type_=_LEDGER.c.reference.type),
            bindparam("actor", type_=_LEDGER.c.actor.type),
            bindparam("created_at", type_=_LEDGER.c.created_at.type),
        ).where(_IN_BALANCE),
    ),
    name="debit entry",
)
# The debit of a batch that commits with its statements (`Batch.commits`: on PostgreSQL the
# COMMIT is sent before any answer is read, so the row lock is held for no round trip): the
# database itself must refuse a debit the balance cannot cover. The UPDATE has no condition,
# so an uncovered debit breaks the `balance >= 0` CHECK; the entry takes the balance the
# UPDATE returns, so with no balance row at all its `balance_after` is NULL and breaks NOT
# NULL. Either error aborts the transaction (the COMMIT then rolls back) and is translated
# to InsufficientCredits (`_refused`), the answer the conditional debit gives.
_SPENT = (
    update(_BALANCES)
    .where(_IN_BALANCE)
    .values(balance=_BALANCES.c.balance - bindparam("amount"))
    .returning(_BALANCES.c.balance)
    .cte("spent")
)
DEBIT_BEFORE_COMMIT: Query[CreditBalance] = Query(
    insert(_LEDGER)
    .add_cte(_SPENT)
    .values(
        id=bindparam("id", type_=_LEDGER.c.id.type),
        account_id=bindparam("account_id"),
        mode=bindparam("mode"),
        amount=-bindparam("amount", type_=_LEDGER.c.amount.type),
        balance_after=select(_SPENT.c.balance).scalar_subquery(),
        reason=bindparam("reason", type_=_LEDGER.c.reason.type),
        reference=bindparam("reference", type_=_LEDGER.c.reference.type),
        actor=bindparam("actor", type_=_LEDGER.c.actor.type),
        created_at=bindparam("created_at", type_=_LEDGER.c.created_at.type),
    )
    .returning(_LEDGER.c.balance_after.label("balance")),
    name="debit before commit",
)
_NOT_NEGATIVE = next(
    str(constraint.name)
    for constraint in _BALANCES.constraints
    if isinstance(constraint, CheckConstraint)
)
_INSERT_ENTRY = insert(_LEDGER)
INSERT_ENTRY: Query[LedgerEntry] = insert_query(_LEDGER)
SANDBOX_ALLOWANCE = 1000
SANDBOX_ALLOWANCE_REASON = "sandbox allowance"


@dataclass(frozen=True, slots=True)
class QueuedDebit:
    """A debit sent in a batch: `confirm()` once the batch ran."""

    result: Pending[CreditBalance]
    entry: LedgerEntry

    def confirm(self) -> LedgerEntry:
        """The ledger entry, or InsufficientCredits (the caller's transaction then rolls back,
        taking the entry written alongside with it)."""
        row = self.result.one()
        if row is None:
            raise InsufficientCredits()
        self.entry.balance_after = row.balance
        return self.entry


def open_balances(session: Session, *, account_id: str) -> None:
    """Create the zero balances of a new account (live and sandbox)."""
    session.add_all(CreditBalance(account_id=account_id, mode=mode, balance=0) for mode in Mode)


def balance(session: Session, *, account_id: str, mode: Mode) -> int:
    """The credits left for an account in a mode."""
    value = session.scalar(
        select(CreditBalance.balance).where(
            CreditBalance.account_id == account_id, CreditBalance.mode == mode
        )
    )
    return value or 0


BALANCE: Query[CreditBalance] = Query(
    select(_BALANCES.c.balance).where(
        _BALANCES.c.account_id == bindparam("account_id"), _BALANCES.c.mode == bindparam("mode")
    ),
    name="balance",
)
# The key row and its account's balance in one round trip (the balance endpoint's query).
KEY_WITH_BALANCE: Query[Any] = Query(
    select(*accounts_service.KEY_COLUMNS, _BALANCES.c.balance)
    .select_from(
        _API_KEYS.outerjoin(
            _BALANCES,
            and_(
                _BALANCES.c.account_id == _API_KEYS.c.account_id,
                _BALANCES.c.mode == _API_KEYS.c.mode,
            ),
        )
    )
    .where(_API_KEYS.c.id == bindparam("key_id")),
    name="key with balance",
)


async def read_balance(db: Database, *, account_id: str, mode: Mode) -> int:
    """`balance`, without blocking the event loop."""
    value = await db.scalar(BALANCE, account_id=account_id, mode=mode)
    return int(value or 0)


async def balance_for_key(
    db: Database,
    *,
    raw_key: str | None,
    subaccount_email: str | None,
    now: datetime,
    touch_after: timedelta,
) -> tuple[Authentication, int]:
    """Authenticate a key and read its account's balance (shared by sub-accounts): one query
    for both, through the same authentication function as every route."""
    auth = await accounts_service.authenticate(
        db,
        raw_key=raw_key,
        subaccount_email=subaccount_email,
        now=now,
        touch_after=touch_after,
        key_query=KEY_WITH_BALANCE,
    )
    return auth, int(auth.row.balance or 0)


def add(
    session: Session,
    *,
    account_id: str,
    mode: Mode,
    amount: int,
    reason: str,
    actor: str,
    reference: str | None = None,
) -> LedgerEntry:
    """Grant (positive) or withdraw (negative) credits; never takes the balance below zero."""
    if amount == 0:
        raise ValidationFailed.field("amount", "must not be zero")
    if amount < 0:
        # An operator's withdrawal: never answered by a sandbox top-up.
        return _debit(session, account_id, mode, -amount, reason, actor, reference)
    new_balance = session.scalar(
        update(CreditBalance)
        .where(CreditBalance.account_id == account_id, CreditBalance.mode == mode)
        .values(balance=CreditBalance.balance + amount)
        .returning(CreditBalance.balance)
    )
    if new_balance is None:
        raise ValidationFailed.field("account", "unknown account")
    return _record(session, account_id, mode, amount, new_balance, reason, actor, reference)


def queue_debit(
    batch: Batch,
    *,
    account_id: str,
    mode: Mode,
    amount: int = 1,
    reason: str,
    actor: str,
    reference: str | None = None,
) -> QueuedDebit:
    """Send a debit and its ledger entry in the caller's batch (see `QueuedDebit.confirm`).

    Concurrent debits can never take the balance below zero, and nothing is read first in
    Python; a CHECK constraint stands behind the condition.
    """
    if amount <= 0:
        raise ValidationFailed.field("amount", "must be positive")
    entry = LedgerEntry(
        id=new_id(),
        account_id=account_id,
        mode=str(mode),
        amount=-amount,
        reason=reason,
        actor=actor,
        reference=reference,
        created_at=utcnow(),
    )
    scope = {"account_id": account_id, "mode": mode, "amount": amount}
    details = {
        "id": entry.id,
        "reason": reason,
        "reference": reference,
        "actor": actor,
        "created_at": entry.created_at,
    }
    if batch.commits:
        batch.refuse_with(_refused)
        return QueuedDebit(batch.add(DEBIT_BEFORE_COMMIT, **scope, **details), entry)
    result = batch.add(DEBIT, **scope)
    batch.add(DEBIT_ENTRY, **scope, **details)
    return QueuedDebit(result, entry)


def _refused(exc: Exception) -> Exception | None:
    """InsufficientCredits for the errors with which the database refuses
    DEBIT_BEFORE_COMMIT (a balance that would go negative, or no balance row at all)."""
    diag = getattr(exc, "diag", None)
    if diag is None:
        return None
    if diag.sqlstate == "23514" and diag.constraint_name == _NOT_NEGATIVE:
        return InsufficientCredits()
    if (
        diag.sqlstate == "23502"
        and diag.table_name == _LEDGER.name
        and diag.column_name == _LEDGER.c.balance_after.name
    ):
        return InsufficientCredits()
    return None


def queue_debits(
    batch: Batch,
    *,
    account_id: str,
    mode: Mode,
    balance: int,
    references: Sequence[str],
    reason: str,
    actor: str,
) -> Pending[CreditBalance]:
    """Send one debit of a credit per reference (one UPDATE) and a ledger entry each, in the
    caller's batch; `balance` is the balance the caller holds locked (the entries count down
    from it). Its result is None if the balance no longer covers them: raise
    InsufficientCredits then, and the transaction rolls back."""
    amount = len(references)
    if amount <= 0:
        raise ValidationFailed.field("amount", "must be positive")
    result = batch.add(DEBIT, account_id=account_id, mode=mode, amount=amount)
    created_at = utcnow()
    for index, reference in enumerate(references, start=1):
        entry = {
            "id": new_id(),
            "account_id": account_id,
            "mode": str(mode),
            "amount": -1,
            "balance_after": balance - index,
            "reason": reason,
            "reference": reference,
            "actor": actor,
            "created_at": created_at,
        }
        batch.write(INSERT_ENTRY, **with_defaults(_LEDGER, entry))
    return result


def debit(
    session: Session,
    *,
    account_id: str,
    mode: Mode,
    amount: int = 1,
    reason: str,
    actor: str,
    reference: str | None = None,
) -> LedgerEntry:
    """Spend credits in the caller's transaction, or raise InsufficientCredits (never in the
    sandbox, which is topped up first when it runs low)."""
    ensure_sandbox(session, account_id=account_id, mode=mode, amount=amount)
    return _debit(session, account_id, mode, amount, reason, actor, reference)


def _debit(
    session: Session,
    account_id: str,
    mode: Mode,
    amount: int,
    reason: str,
    actor: str,
    reference: str | None,
) -> LedgerEntry:
    with session_reader(session).batch() as batch:
        queued = queue_debit(
            batch,
            account_id=account_id,
            mode=mode,
            amount=amount,
            reason=reason,
            actor=actor,
            reference=reference,
        )
    return queued.confirm()


def ensure_sandbox(session: Session, *, account_id: str, mode: Mode, amount: int = 1) -> None:
    """Before a sandbox debit of `amount` in the caller's transaction: top the sandbox up if
    it cannot cover it (see top_up_sandbox). Nothing for live credits."""
    if mode == Mode.TEST and 0 < amount <= SANDBOX_ALLOWANCE:
        top_up_sandbox(session, account_id=account_id, below=amount)


def top_up_sandbox(
    session: Session, *, account_id: str, below: int = SANDBOX_ALLOWANCE
) -> LedgerEntry | None:
    """Bring the account's sandbox balance up to SANDBOX_ALLOWANCE (a ledger entry) if it
    is under `below`. The balance row is locked and read first, so a debit that waited for
    another's top-up finds the credits there and adds nothing."""
    current = session.scalar(
        select(CreditBalance.balance)
        .where(CreditBalance.account_id == account_id, CreditBalance.mode == Mode.TEST)
        .with_for_update()
    )
    if current is None or current >= below or current >= SANDBOX_ALLOWANCE:
        return None
    return add(
        session,
        account_id=account_id,
        mode=Mode.TEST,
        amount=SANDBOX_ALLOWANCE - current,
        reason=SANDBOX_ALLOWANCE_REASON,
        actor="akowe",
    )


def history(
    session: Session, *, account_id: str, mode: Mode | None = None, limit: int = 100
) -> Sequence[LedgerEntry]:
    """The newest ledger entries first."""
    query = select(LedgerEntry).where(LedgerEntry.account_id == account_id)
    if mode is not None:
        query = query.where(LedgerEntry.mode == mode)
    return session.scalars(
        query.order_by(LedgerEntry.created_at.desc(), LedgerEntry.id).limit(limit)
    ).all()


def ledger_sum(session: Session, *, account_id: str, mode: Mode) -> int:
    """The sum of all entries: equals `balance` (kept as a check for operators and tests)."""
    total = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.account_id == account_id, LedgerEntry.mode == mode
        )
    )
    return int(total or 0)


def _record(
    session: Session,
    account_id: str,
    mode: Mode,
    amount: int,
    balance_after: int,
    reason: str,
    actor: str,
    reference: str | None,
) -> LedgerEntry:
    entry = LedgerEntry(
        id=new_id(),
        account_id=account_id,
        mode=str(mode),
        amount=amount,
        balance_after=balance_after,
        reason=reason,
        actor=actor,
        reference=reference,
        created_at=utcnow(),
    )
    # A Core insert: the ORM's unit of work costs more than the statement on this hot path.
    session.execute(_INSERT_ENTRY, {c.key: getattr(entry, c.key) for c in _LEDGER.columns})
    return entry
