"""A read of a `{certificateId}` route makes one round trip on PostgreSQL: the certificate is
read in the key's own statement (akowe.accounts.service.WithKey). It must answer exactly as
the two separate reads do, for every rule of the key and of the certificate's scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from akowe.accounts import service as accounts_service
from akowe.api import edge
from akowe.db.database import Database
from tests.certificates.conftest import make_issuer
from tests.conftest import AccountFixture, revoked_and_expired_keys


class _SubAccount:
    """An account fixture whose requests carry a sub-account's header."""

    def __init__(self, account: AccountFixture, email: str) -> None:
        self.account, self.email = account, email

    def headers(self, *, test: bool = False) -> dict[str, str]:
        return self.account.headers(test=test, **{"x-subaccount-email": self.email})


def _issue(
    client: httpx.Client, account: AccountFixture | _SubAccount, *, test: bool = False
) -> str:
    issuer = make_issuer(client, account, test=test)
    response = client.post("/api/certificates/issue", headers=issuer.headers, json=issuer.body())
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["certificateId"])


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the queries the server runs through its async reads from now on."""
    names: list[str] = []
    original = Database.all

    async def counted(self: Database, query: Any, /, **kwargs: Any) -> Any:
        names.append(query.name)
        return await original(self, query, **kwargs)

    monkeypatch.setattr(Database, "all", counted)
    return names


def test_a_certificate_read_with_the_key_answers_like_two_reads(
    client: httpx.Client,
    db: sessionmaker[Session],
    make_account: Callable[..., AccountFixture],
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    owner, other = make_account(credits=5, test_credits=5), make_account(credits=5)
    with db.begin() as session:
        accounts_service.add_subaccount(session, account_id=owner.account_id, email="team@x.io")
        revoked, expired = revoked_and_expired_keys(session, owner.account_id)
    live = _issue(client, owner)
    sandbox = _issue(client, owner, test=True)
    team = _issue(client, _SubAccount(owner, "team@x.io"))
    foreign = _issue(client, other)
    key, test_key = owner.api_key, owner.test_api_key
    cases: dict[str, tuple[str, dict[str, str], int]] = {
        "own certificate": (live, {"x-api-key": key}, 200),
        "own, through the sub-account's scope": (team, {"x-api-key": key}, 200),
        "sub-account's own": (team, {"x-api-key": key, "x-subaccount-email": "team@x.io"}, 200),
        "outside the sub-account": (
            live,
            {"x-api-key": key, "x-subaccount-email": "team@x.io"},
            404,
        ),
        "another account's": (foreign, {"x-api-key": key}, 404),
        "a live one with the test key": (live, {"x-api-key": test_key}, 404),
        "a test one with the test key": (sandbox, {"x-api-key": test_key}, 200),
        "a test one with the live key": (sandbox, {"x-api-key": key}, 404),
        "no such certificate": ("00000000-0000-4000-8000-000000000000", {"x-api-key": key}, 404),
        "revoked key": (live, {"x-api-key": revoked.api_key}, 401),
        "expired key": (live, {"x-api-key": expired.api_key}, 401),
        "malformed key": (live, {"x-api-key": "live-nope"}, 401),
    }
    paths = ("", "/messages")

    def answers() -> dict[str, Any]:
        out = {}
        for name, (cid, headers, status) in cases.items():
            for path in paths:
                response = client.get(f"/api/certificates/{cid}{path}", headers=headers)
                assert response.status_code == status, (name, path, response.text)
                out[f"{name} {path}"] = response.json()
        return out

    reads = _reads(monkeypatch)
    with_key = answers()
    reads.clear()
    client.get(f"/api/certificates/{live}", headers={"x-api-key": key})
    one_read = [name for name in reads if "rate limit" not in name]  # the limiter's own
    reads.clear()
    with monkeypatch.context() as patch:
        patch.setattr(edge, "_prefetch", lambda services, scope: None)  # two reads, as before
        apart = answers()
        reads.clear()
        client.get(f"/api/certificates/{live}", headers={"x-api-key": key})
    two_reads = [name for name in reads if "rate limit" not in name]
    assert with_key == apart
    if database_url.startswith("postgresql"):
        assert one_read == ["key with certificate by id (False,)"]
        assert two_reads == ["key by id", "certificate by id (False,)"]
    else:  # SQLite reads inline, in microseconds: two reads
        assert one_read == two_reads == ["key by id", "certificate by id (False,)"]
