"""Database.run_grouped: concurrent writes of one group share a commit on PostgreSQL (each in
its own savepoint), without changing what each caller sees: its own result, or its own
error, and nothing of a failed call is kept. On SQLite it is a plain transaction."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import text

from akowe.config import Settings
from akowe.credits import service as credits_service
from akowe.credits.exceptions import InsufficientCredits
from akowe.db.database import Database
from akowe.modes import Mode


def _transaction_id(session: Any, database: Database) -> str | None:
    if database.is_sqlite:
        return None
    return str(session.execute(text("SELECT txid_current()")).scalar_one())


def test_concurrent_debits_share_commits_and_fail_alone(
    settings: Settings, make_account, db
) -> None:
    account = make_account(credits=5)
    database = Database(settings)
    first_started = threading.Event()

    def debit(index: int) -> tuple[str, str | None]:
        def work(session: Any) -> str | None:
            if index == 0:
                first_started.set()
                time.sleep(0.3)  # the others arrive meanwhile and wait for the next commit
            credits_service.debit(
                session,
                account_id=account.account_id,
                mode=Mode.LIVE,
                reason="test",
                actor="test",
                reference=f"debit-{index}",
            )
            return _transaction_id(session, database)

        if index:
            first_started.wait(5)
        try:
            return "ok", database.run_grouped(account.account_id, work)
        except InsufficientCredits:
            return "insufficient", None

    try:
        with ThreadPoolExecutor(max_workers=12) as pool:
            results = list(pool.map(debit, range(12)))
    finally:
        database.dispose()
    outcomes = [outcome for outcome, _ in results]
    assert outcomes.count("ok") == 5 and outcomes.count("insufficient") == 7
    with db() as session:
        assert credits_service.balance(session, account_id=account.account_id, mode=Mode.LIVE) == 0
        assert (
            credits_service.ledger_sum(session, account_id=account.account_id, mode=Mode.LIVE) == 0
        )
        entries = session.execute(
            text("SELECT count(*) FROM ledger_entry WHERE account_id = :a AND amount < 0"),
            {"a": account.account_id},
        ).scalar_one()
    assert entries == 5  # a refused debit left no entry behind
    if not database.is_sqlite:
        transactions = {txid for outcome, txid in results if outcome == "ok"}
        assert len(transactions) < 5, "the waiting debits should have shared a commit"


def test_an_error_in_one_call_keeps_the_others(settings: Settings, make_account, db) -> None:
    account = make_account(credits=10)
    database = Database(settings)
    gate = threading.Event()

    def run(index: int) -> str:
        def work(session: Any) -> str:
            if index == 0:
                gate.set()
                time.sleep(0.3)
            credits_service.debit(
                session,
                account_id=account.account_id,
                mode=Mode.LIVE,
                reason="test",
                actor="test",
                reference=f"call-{index}",
            )
            if index == 3:
                raise ValueError("this call fails after its debit")
            return "ok"

        if index:
            gate.wait(5)
        try:
            return database.run_grouped(account.account_id, work)
        except ValueError as exc:
            return str(exc)

    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(run, range(6)))
    finally:
        database.dispose()
    assert results.count("ok") == 5
    assert results[3] == "this call fails after its debit"
    with db() as session:
        assert credits_service.balance(session, account_id=account.account_id, mode=Mode.LIVE) == 5
        references = set(
            session.execute(
                text("SELECT reference FROM ledger_entry WHERE account_id = :a AND amount < 0"),
                {"a": account.account_id},
            ).scalars()
        )
    assert references == {f"call-{i}" for i in (0, 1, 2, 4, 5)}


@pytest.mark.parametrize("size", [1, 40])
def test_groups_are_never_left_behind(settings: Settings, size: int) -> None:
    """Every caller returns, whatever the mix of leaders and followers."""
    database = Database(settings)
    try:
        with ThreadPoolExecutor(max_workers=size) as pool:
            results = list(
                pool.map(
                    lambda i: database.run_grouped("g", lambda session: i * 2), range(size * 3)
                )
            )
    finally:
        database.dispose()
    assert results == [i * 2 for i in range(size * 3)]
