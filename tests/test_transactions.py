"""A write transaction that PostgreSQL aborts to break a deadlock is a clean 503 for its
caller (the same `ServiceBusy` as an exhausted pool), never a 500, and writes nothing."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from akowe.accounts.models import Account
from akowe.config import Settings
from akowe.db.database import Database, ServiceBusy
from tests.conftest import AccountFixture


def test_the_transaction_postgresql_aborts_in_a_deadlock_is_a_clean_503(
    settings: Settings, db: sessionmaker[Session], make_account
) -> None:
    if not settings.resolved_database_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's: SQLite has one writer at a time, no cycle")
    first: AccountFixture = make_account()
    second: AccountFixture = make_account()
    both = threading.Barrier(2, timeout=30)

    def lock(session: Session, account_id: str) -> None:
        session.execute(select(Account.id).where(Account.id == account_id).with_for_update())

    def crossing(mine: str, theirs: str, name: str):  # type: ignore[no-untyped-def]
        def fn(session: Session) -> str:
            lock(session, mine)
            session.execute(update(Account).where(Account.id == mine).values(name=name))
            both.wait()  # each holds its row: now each wants the other's
            lock(session, theirs)
            return name

        return fn

    database = Database(settings)
    try:
        with ThreadPoolExecutor(2) as pool:
            futures = [
                pool.submit(database.run_transaction, crossing(a, b, name))
                for a, b, name in (
                    (first.account_id, second.account_id, "deadlock-one"),
                    (second.account_id, first.account_id, "deadlock-two"),
                )
            ]
            outcomes = []
            for future in futures:
                try:
                    outcomes.append(future.result(timeout=60))
                except ServiceBusy as busy:
                    outcomes.append(busy)
    finally:
        database.dispose()
    [won] = [o for o in outcomes if isinstance(o, str)]
    [lost] = [o for o in outcomes if isinstance(o, ServiceBusy)]
    assert lost.status_code == 503
    with db() as session:  # the winner's write stands, the loser's was rolled back
        names = set(
            session.scalars(
                select(Account.name).where(Account.id.in_([first.account_id, second.account_id]))
            )
        )
    loser = ({"deadlock-one", "deadlock-two"} - {won}).pop()
    assert won in names and loser not in names, names
