"""The credit ledger: append-only, never negative, under any concurrency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from akowe.credits import service as credits_service
from akowe.errors import InsufficientCredits
from akowe.modes import Mode


def _debit(db, account_id: str, mode: Mode = Mode.LIVE) -> bool:
    try:
        with db.begin() as session:
            credits_service.debit(
                session, account_id=account_id, mode=mode, reason="test", actor="tests"
            )
        return True
    except InsufficientCredits:
        return False


def test_fifty_concurrent_debits_against_twenty_credits(db, make_account) -> None:
    account = make_account(credits=20)
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda _: _debit(db, account.account_id), range(50)))
    assert results.count(True) == 20
    with db() as session:
        assert credits_service.balance(session, account_id=account.account_id, mode=Mode.LIVE) == 0
        assert (
            credits_service.ledger_sum(session, account_id=account.account_id, mode=Mode.LIVE) == 0
        )


def test_debit_below_zero_is_refused_and_changes_nothing(db, make_account) -> None:
    account = make_account(credits=1)
    assert _debit(db, account.account_id)
    assert not _debit(db, account.account_id)
    with db() as session:
        entries = credits_service.history(session, account_id=account.account_id)
        assert [e.amount for e in entries] == [-1, 1]
        assert credits_service.balance(session, account_id=account.account_id, mode=Mode.LIVE) == 0


def test_failed_transaction_spends_nothing(db, make_account) -> None:
    account = make_account(credits=3)
    with pytest.raises(RuntimeError), db.begin() as session:
        credits_service.debit(
            session, account_id=account.account_id, mode=Mode.LIVE, reason="x", actor="t"
        )
        raise RuntimeError("issuance failed after the debit")
    with db() as session:
        assert credits_service.balance(session, account_id=account.account_id, mode=Mode.LIVE) == 3


def test_withdrawal_cannot_go_negative(db, make_account) -> None:
    account = make_account(credits=2)
    with pytest.raises(InsufficientCredits), db.begin() as session:
        credits_service.add(
            session, account_id=account.account_id, mode=Mode.LIVE, amount=-3, reason="x", actor="t"
        )


def test_balance_equals_sum_of_entries_with_reasons(db, make_account) -> None:
    account = make_account(credits=5)
    with db.begin() as session:
        credits_service.add(
            session,
            account_id=account.account_id,
            mode=Mode.LIVE,
            amount=7,
            reason="purchase #42",
            actor="ops@akowe",
            reference="invoice-42",
        )
    _debit(db, account.account_id)
    with db() as session:
        assert credits_service.balance(
            session, account_id=account.account_id, mode=Mode.LIVE
        ) == credits_service.ledger_sum(session, account_id=account.account_id, mode=Mode.LIVE)
        newest_grant = credits_service.history(session, account_id=account.account_id)[1]
        assert (newest_grant.reason, newest_grant.reference, newest_grant.actor) == (
            "purchase #42",
            "invoice-42",
            "ops@akowe",
        )


def test_sandbox_and_live_ledgers_never_mix(client: httpx.Client, db, make_account) -> None:
    account = make_account(credits=4, test_credits=9)
    _debit(db, account.account_id, Mode.TEST)
    live = client.get("/api/users/balance", headers=account.headers()).json()
    test = client.get("/api/users/balance", headers=account.headers(test=True)).json()
    assert live["data"]["balance"] == 4
    assert test["data"]["balance"] == 8
