"""The sandbox spends nothing real, so it never runs dry: it is topped up to its allowance
(a ledger entry like any other) when a sandbox debit finds it too low, and a new test key
made with the CLI starts with the full allowance. Live credits are never topped up."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from akowe.credits import service as credits_service
from akowe.credits.models import LedgerEntry
from akowe.errors import InsufficientCredits
from akowe.modes import Mode
from tests.certificates.conftest import make_issuer
from tests.credits.test_ledger import _debit

ALLOWANCE = credits_service.SANDBOX_ALLOWANCE


def _balance(client: httpx.Client, headers: dict[str, str]) -> int:
    return int(client.get("/api/users/balance", headers=headers).json()["data"]["balance"])


def _allowances(db, account_id: str) -> list[LedgerEntry]:
    with db() as session:
        return [
            e
            for e in credits_service.history(session, account_id=account_id, mode=Mode.TEST)
            if e.reason == credits_service.SANDBOX_ALLOWANCE_REASON
        ]


def test_a_new_sandbox_issues_at_once_and_the_top_up_is_in_the_ledger(
    client: httpx.Client, db, make_account
) -> None:
    account = make_account()  # no credits at all, live or sandbox
    sandbox = make_issuer(client, account, test=True)
    response = client.post("/api/certificates/issue", headers=sandbox.headers, json=sandbox.body())
    assert response.status_code == 201, response.text
    assert response.json()["data"]["test"] is True
    assert _balance(client, sandbox.headers) == ALLOWANCE - 1
    [top_up] = _allowances(db, account.account_id)
    assert (top_up.amount, top_up.balance_after, top_up.actor) == (ALLOWANCE, ALLOWANCE, "akowe")
    with db() as session:
        total = credits_service.ledger_sum(session, account_id=account.account_id, mode=Mode.TEST)
    assert total == ALLOWANCE - 1
    # Live mode is untouched: no credits, so a live issue is still refused.
    live = make_issuer(client, account)
    refused = client.post("/api/certificates/issue", headers=live.headers, json=live.body())
    assert refused.status_code == 402
    assert _balance(client, account.headers()) == 0


def test_an_exhausted_sandbox_is_topped_up_to_the_allowance(db, make_account) -> None:
    account = make_account(test_credits=1)
    assert _debit(db, account.account_id, Mode.TEST)
    assert _debit(db, account.account_id, Mode.TEST)  # empty: topped up, then spent
    with db() as session:
        balance = credits_service.balance(session, account_id=account.account_id, mode=Mode.TEST)
    assert balance == ALLOWANCE - 1
    [top_up] = _allowances(db, account.account_id)
    assert top_up.amount == ALLOWANCE


def test_concurrent_sandbox_debits_top_up_once(db, make_account) -> None:
    account = make_account()
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda _: _debit(db, account.account_id, Mode.TEST), range(24)))
    assert all(results)
    assert len(_allowances(db, account.account_id)) == 1
    with db() as session:
        balance = credits_service.balance(session, account_id=account.account_id, mode=Mode.TEST)
        total = credits_service.ledger_sum(session, account_id=account.account_id, mode=Mode.TEST)
    assert balance == total == ALLOWANCE - 24


def test_an_operator_withdrawal_from_the_sandbox_is_never_topped_up(db, make_account) -> None:
    account = make_account(test_credits=2)
    with pytest.raises(InsufficientCredits), db.begin() as session:
        credits_service.add(
            session,
            account_id=account.account_id,
            mode=Mode.TEST,
            amount=-5,
            reason="withdraw",
            actor="tests",
        )
    assert _allowances(db, account.account_id) == []


def test_live_credits_are_never_topped_up(db, make_account) -> None:
    account = make_account()
    assert not _debit(db, account.account_id, Mode.LIVE)
    with db() as session:
        assert credits_service.history(session, account_id=account.account_id) == []
