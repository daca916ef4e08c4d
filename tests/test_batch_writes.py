"""Writes batched in one `Batch` (akowe.db.statements): many rows of one insert go in by COPY
on PostgreSQL. What is read back must be exactly what was written, whichever way it went.
A batch that commits (issuance's) is one round trip on PostgreSQL, all or nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from akowe.config import Settings
from akowe.credits import service as credits_service
from akowe.credits.exceptions import InsufficientCredits
from akowe.credits.models import CreditBalance, LedgerEntry
from akowe.db.database import final_batch, session_reader
from akowe.db.engine import make_engine, make_sessionmaker
from akowe.db.statements import COPY_ROWS, with_defaults
from akowe.delivery import service as delivery_service
from akowe.delivery.models import OutboxMessage
from akowe.modes import Mode
from tests.conftest import AccountFixture


@pytest.mark.parametrize("count", [1, 2, 6, COPY_ROWS - 1, COPY_ROWS + 7])
def test_rows_of_one_insert_read_back_exactly_as_written(
    db: sessionmaker[Session],
    account: AccountFixture,
    database_url: str,
    count: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """However many: one row, a few (on PostgreSQL one INSERT with a VALUES list), many (by
    COPY)."""
    sent_at = datetime(2026, 11, 26, 9, 30, 0, 123456, tzinfo=UTC)
    written = []
    for i in range(count):
        values = with_defaults(
            OutboxMessage.__table__,  # type: ignore[arg-type]
            {
                "account_id": account.account_id,
                "mode": "test",
                "kind": "batch-test",
                "status": "sent",
                "certificate_id": None,
                # What COPY's text format must escape: tabs, newlines, backslashes, quotes.
                "payload": {"n": i, "name": 'Adéwálé\t"Ògúnlẹ̀"\\\n王', "none": None},
                "last_error": None if i % 2 else f"line one\nline\ttwo \\N {i}",
                "sent_at": sent_at if i % 3 else None,
            },
        )
        written.append(values)
    postgres = database_url.startswith("postgresql")
    statements: list[tuple[str, str]] = []
    if postgres:
        import psycopg

        def recording(method: str) -> Any:
            real = getattr(psycopg.Cursor, method)

            def record(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
                statements.append((method, str(query)))
                return real(self, query, *args, **kwargs)

            return record

        for method in ("execute", "executemany"):
            monkeypatch.setattr(psycopg.Cursor, method, recording(method))
    with db.begin() as session, session_reader(session).batch() as batch:
        for values in written:
            batch.write(delivery_service.INSERT_MESSAGE, **values)
        assert batch.copies() is (postgres and count >= COPY_ROWS)
    if postgres:
        inserts = [(m, q) for m, q in statements if q.startswith("INSERT INTO outbox_message")]
        if count >= COPY_ROWS:
            assert inserts == []  # COPY
        else:
            [(method, query)] = inserts  # one statement, not one per row
            assert method == "execute" and query.count("), (") == count - 1
    ids = [values["id"] for values in written]
    try:
        with db() as session:
            found = session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids)))
            rows = {row.id: row for row in found}
            read = [
                {
                    column.key: getattr(rows[i], column.key)
                    for column in OutboxMessage.__table__.columns
                }
                for i in ids
            ]
        assert read == written
    finally:
        with db.begin() as session:
            session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))


def _debit_batch(session: Session, account: AccountFixture, amount: int, reference: str) -> Any:
    """A transaction's last batch as issuance sends it: a ledger-checked debit, committing."""
    with final_batch(session) as batch:
        return credits_service.queue_debit(
            batch,
            account_id=account.account_id,
            mode=Mode.LIVE,
            amount=amount,
            reason="batch test",
            actor="test",
            reference=reference,
        )


def test_a_batch_that_commits_is_one_round_trip_and_commits_everything(
    settings: Settings, make_account: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One pooled connection, so the test sees what the batch left on it for the next user.
    engine = make_engine(settings, pool_size=1, max_overflow=0)
    sessions = make_sessionmaker(engine, write=True)
    account = make_account(credits=5)
    syncs = _count_syncs(monkeypatch)
    try:
        with sessions() as session:
            debit = _debit_batch(session, account, 2, "first")
            session.commit()  # what Database.run_transaction does after: nothing left to send
        assert debit.confirm().balance_after == 3
        # PostgreSQL: BEGIN, the debit and COMMIT in one pipeline, one Sync (a round trip);
        # psycopg's own BEGIN and COMMIT would each add one, and a COMMIT after the answers
        # held the balance row's lock while this process read them.
        assert syncs == ([1] if engine.dialect.name == "postgresql" else [])
        _assert_connection_clean(sessions, account, balance=3)
    finally:
        engine.dispose()


def test_a_refused_debit_rolls_the_committing_batch_back(
    settings: Settings, make_account: Any
) -> None:
    engine = make_engine(settings, pool_size=1, max_overflow=0)
    sessions = make_sessionmaker(engine, write=True)
    account = make_account(credits=1)
    try:
        with sessions() as session, pytest.raises(InsufficientCredits):
            # Another write first, in the same batch: it must not survive the refusal.
            with final_batch(session) as batch:
                batch.write(
                    delivery_service.INSERT_MESSAGE,
                    **with_defaults(
                        OutboxMessage.__table__,  # type: ignore[arg-type]
                        {
                            "account_id": account.account_id,
                            "mode": "live",
                            "kind": "batch-test",
                            "status": "sent",
                            "certificate_id": None,
                            "payload": {},
                        },
                    ),
                )
                debit = credits_service.queue_debit(
                    batch,
                    account_id=account.account_id,
                    mode=Mode.LIVE,
                    amount=2,
                    reason="batch test",
                    actor="test",
                )
            debit.confirm()  # SQLite: the conditional debit found no covering balance
        with sessions() as session:
            assert (
                session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.account_id == account.account_id)
                )
                == 0
            )
        _assert_connection_clean(sessions, account, balance=1)
    finally:
        engine.dispose()


def test_a_debit_with_no_balance_row_is_refused(settings: Settings, make_account: Any) -> None:
    engine = make_engine(settings, pool_size=1, max_overflow=0)
    sessions = make_sessionmaker(engine, write=True)
    account = make_account(credits=3)
    try:
        with sessions.begin() as session:
            session.execute(
                delete(CreditBalance).where(
                    CreditBalance.account_id == account.account_id, CreditBalance.mode == "live"
                )
            )
        with sessions() as session, pytest.raises(InsufficientCredits):
            _debit_batch(session, account, 1, "nothing to spend").confirm()
        with sessions() as session:
            assert (
                session.scalar(
                    select(func.count())
                    .select_from(LedgerEntry)
                    .where(LedgerEntry.account_id == account.account_id, LedgerEntry.mode == "live")
                )
                == 1  # the grant of the 3 credits only
            )
    finally:
        engine.dispose()


def _count_syncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times psycopg sends a pipeline Sync (each waits for the server's answer),
    counted from now; a list holding the count once any was sent."""
    counted: list[int] = []
    try:
        from psycopg._pipeline_base import BasePipeline
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return counted
    enqueue = BasePipeline._enqueue_sync

    def counting(self: Any) -> None:
        if not counted:
            counted.append(0)
        counted[0] += 1
        enqueue(self)

    monkeypatch.setattr(BasePipeline, "_enqueue_sync", counting)
    return counted


def _assert_connection_clean(
    sessions: sessionmaker[Session], account: AccountFixture, *, balance: int
) -> None:
    """The (only) pooled connection has no transaction open and is not left in autocommit:
    a write rolled back is gone."""
    with sessions() as session:
        session.execute(
            update(CreditBalance)
            .where(CreditBalance.account_id == account.account_id, CreditBalance.mode == "live")
            .values(balance=999)
        )
        session.rollback()
    with sessions() as session:
        assert (
            credits_service.balance(session, account_id=account.account_id, mode=Mode.LIVE)
            == balance
        )
