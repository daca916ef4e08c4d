"""GET /api/users/balance, exactly as Akowe documents it."""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from akowe.accounts import service as accounts_service
from akowe.api.balance_fastpath import BALANCE_PATH, balance_fast_path
from akowe.config import Settings
from akowe.main import build_litestar
from tests.conftest import revoked_and_expired_keys


def test_balance_answers_the_documented_shape(client: httpx.Client, account) -> None:
    response = client.get("/api/users/balance", headers=account.headers())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"success": True, "data": {"balance": 10}}


def test_seed_sample_request_works_verbatim_with_curl(server: str, account) -> None:
    # The seed's sample: curl --location URL --header 'x-api-key: ...' --data ''
    # (--data '' makes curl send a POST with an empty form body).
    out = subprocess.run(
        [
            "curl",
            "-s",
            "--location",
            f"{server}/api/users/balance",
            "--header",
            f"x-api-key: {account.api_key}",
            "--data",
            "",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert out.stdout == '{"success":true,"data":{"balance":10}}'


def test_sandbox_key_sees_its_own_balance(client: httpx.Client, account) -> None:
    response = client.get("/api/users/balance", headers=account.headers(test=True))
    assert response.json() == {"success": True, "data": {"balance": 5}}


def test_balance_without_key_is_401(client: httpx.Client) -> None:
    response = client.get("/api/users/balance")
    assert response.status_code == 401
    assert response.json() == {
        "success": False,
        "message": "Invalid or missing API key",
        "code": "invalid_api_key",
    }


class _Spy:
    """Stands in for the Litestar app behind the fast path: counts what falls through."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = app.state
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        await self.app(scope, receive, send)


async def _ask(asgi: Any, method: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if body:
        raw.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "method": method,
        "path": BALANCE_PATH,
        "raw_path": BALANCE_PATH.encode(),
        "query_string": b"",
        "headers": raw,
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1),
        "root_path": "",
        "asgi": {"version": "3.0"},
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asgi(scope, receive, send)
    payload = b"".join(m.get("body", b"") for m in sent[1:])
    return sent[0]["status"], json.loads(payload)


def test_the_fast_path_applies_exactly_the_routes_rules(
    settings: Settings, db: sessionmaker[Session], make_account
) -> None:
    """The same request answered by the fast path (GET, no body) and by the registered route
    (a body makes the fast path step aside) gets the same answer, for every rule a key is
    checked against; and the fast path answered the successes itself."""
    owner, other = make_account(credits=7, test_credits=3), make_account(credits=2)
    with db.begin() as session:
        accounts_service.add_subaccount(session, account_id=owner.account_id, email="team@x.io")
        accounts_service.add_subaccount(session, account_id=other.account_id, email="them@x.io")
        revoked, expired = revoked_and_expired_keys(session, owner.account_id)
    live, test = owner.api_key, owner.test_api_key
    # The test key's secret with the live prefix: the mode is part of the key.
    wrong_mode = "live-" + test.split("-", 1)[1]
    cases = {
        "live key": ({"x-api-key": live}, 200),
        "test key": ({"x-api-key": test}, 200),
        "own sub-account": ({"x-api-key": live, "x-subaccount-email": "TEAM@x.io"}, 200),
        "blank sub-account header": ({"x-api-key": live, "x-subaccount-email": " "}, 200),
        "other account's sub-account": (
            {"x-api-key": live, "x-subaccount-email": "them@x.io"},
            403,
        ),
        "unknown sub-account": ({"x-api-key": live, "x-subaccount-email": "no@x.io"}, 403),
        "revoked key": ({"x-api-key": revoked.api_key}, 401),
        "expired key": ({"x-api-key": expired.api_key}, 401),
        "wrong mode prefix": ({"x-api-key": wrong_mode}, 401),
        "malformed key": ({"x-api-key": "live-nope"}, 401),
        "no key": ({}, 401),
    }
    inner = build_litestar(settings)
    spy = _Spy(inner)
    fast = balance_fast_path(spy)  # type: ignore[arg-type]

    async def run() -> None:
        for name, (headers, status) in cases.items():
            before = spy.calls
            fast_answer = await _ask(fast, "GET", headers, b"")
            answered_fast = spy.calls == before
            route_answer = await _ask(spy, "POST", headers, b"x")
            assert fast_answer == route_answer, name
            assert fast_answer[0] == status, (name, fast_answer)
            assert answered_fast is (status == 200), name
        assert (await _ask(fast, "GET", {"x-api-key": live}, b""))[1] == {
            "success": True,
            "data": {"balance": 7},
        }
        assert (await _ask(fast, "GET", {"x-api-key": test}, b""))[1]["data"] == {"balance": 3}

    async def main() -> None:
        try:
            await run()
        finally:
            # The app opened its database (on PostgreSQL an async pool) in this event loop.
            await inner.state.services.db.close()

    asyncio.run(main())
