"""API keys: shape, hashing, and every way a key can be refused."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from akowe.accounts import service as accounts_service
from akowe.accounts.models import ApiKey
from akowe.db.base import utcnow
from akowe.modes import Mode

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
INVALID = {"success": False, "message": "Invalid or missing API key", "code": "invalid_api_key"}


def test_live_key_has_the_seed_shape_and_only_its_hash_is_stored(db, account) -> None:
    match = re.fullmatch(rf"live-({UUID})-0-({UUID})", account.api_key)
    assert match, account.api_key
    key_id, secret = match.groups()
    with db() as session:
        row = session.get(ApiKey, key_id)
        assert row is not None and row.mode == "live"
        stored = " ".join(str(v) for v in vars(row).values())
    assert secret not in stored
    assert row.secret_hash == accounts_service.hash_secret(secret)


def test_test_key_has_the_test_prefix(account) -> None:
    assert re.fullmatch(rf"test-{UUID}-0-{UUID}", account.test_api_key)


def balance(client: httpx.Client, key: str) -> httpx.Response:
    return client.get("/api/users/balance", headers={"x-api-key": key})


@pytest.mark.parametrize(
    "key",
    [
        "",
        "nonsense",
        "live-f512814e-9a17-4a67-a567-54f02d5c7317-0-a13c1092-e8d7-473c-b3e0-a80b50c5d672",
    ],
    ids=["empty", "malformed", "unknown"],
)
def test_malformed_or_unknown_key_is_401(client: httpx.Client, key: str) -> None:
    response = balance(client, key)
    assert response.status_code == 401
    assert response.json() == INVALID


def test_tampered_secret_is_401(client: httpx.Client, account) -> None:
    tampered = account.api_key[:-1] + ("0" if account.api_key[-1] != "0" else "1")
    response = balance(client, tampered)
    assert response.status_code == 401
    assert response.json() == INVALID


def test_live_key_presented_as_test_is_401(client: httpx.Client, account) -> None:
    response = balance(client, "test-" + account.api_key.removeprefix("live-"))
    assert response.status_code == 401
    assert response.json() == INVALID


def test_revoked_key_is_401_at_once(client: httpx.Client, db, account) -> None:
    assert balance(client, account.api_key).status_code == 200
    with db.begin() as session:
        accounts_service.revoke_key(session, key_id=account.live_key_id)
    response = balance(client, account.api_key)
    assert response.status_code == 401
    assert response.json() == INVALID


def test_expired_key_is_401(client: httpx.Client, db, account) -> None:
    with db.begin() as session:
        issued = accounts_service.create_key(
            session, account_id=account.account_id, mode=Mode.LIVE, expires_in=timedelta(days=1)
        )
    assert balance(client, issued.api_key).status_code == 200
    with db.begin() as session:
        session.get(ApiKey, issued.key.id).expires_at = utcnow() - timedelta(seconds=1)
    response = balance(client, issued.api_key)
    assert response.status_code == 401
    assert response.json() == INVALID


def test_use_records_last_used_time(client: httpx.Client, db, account) -> None:
    # Written in the background, right after the answer (no request waits for it).
    before = utcnow()
    assert balance(client, account.api_key).status_code == 200
    deadline = time.monotonic() + 5
    used = None
    while used is None and time.monotonic() < deadline:
        with db() as session:
            used = session.scalar(
                select(ApiKey.last_used_at).where(ApiKey.id == account.live_key_id)
            )
        time.sleep(0.02)
    assert used is not None and before - timedelta(seconds=1) <= used <= utcnow()


def test_unknown_subaccount_is_403(client: httpx.Client, account) -> None:
    response = client.get(
        "/api/users/balance", headers=account.headers(**{"x-subaccount-email": "who@x.com"})
    )
    assert response.status_code == 403
    body = response.json()
    assert body["success"] is False and body["code"] == "unknown_subaccount"


def test_another_accounts_subaccount_is_403(client: httpx.Client, db, make_account) -> None:
    mine, theirs = make_account(), make_account()
    with db.begin() as session:
        accounts_service.add_subaccount(session, account_id=theirs.account_id, email="s@x.com")
    headers = mine.headers(**{"x-subaccount-email": "s@x.com"})
    assert client.get("/api/users/balance", headers=headers).status_code == 403


def test_known_subaccount_shares_the_account_balance(client: httpx.Client, db, account) -> None:
    with db.begin() as session:
        accounts_service.add_subaccount(session, account_id=account.account_id, email="Sub@X.com")
    response = client.get(
        "/api/users/balance", headers=account.headers(**{"x-subaccount-email": "sub@x.com"})
    )
    assert response.json() == {"success": True, "data": {"balance": 10}}
