"""Idempotency-Key on issue: replay, mismatch, in-flight duplicates, failed first attempts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx

from akowe.certificates.models import IdempotencyKey
from akowe.certificates.schemas import IssueRequest
from akowe.db.base import utcnow
from akowe.modes import Mode
from tests.certificates.conftest import Issuer, make_issuer
from tests.certificates.test_issue import balance, count_certificates


def issue(client: httpx.Client, issuer: Issuer, key: str, **overrides) -> httpx.Response:
    return client.post(
        "/api/certificates/issue",
        headers={**issuer.headers, "Idempotency-Key": key},
        json=issuer.body(**overrides),
    )


def test_replay_returns_the_first_response_and_spends_nothing(
    client: httpx.Client, issuer: Issuer, db
) -> None:
    first = issue(client, issuer, "order-1")
    second = issue(client, issuer, "order-1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert balance(client, issuer.headers) == 9
    assert count_certificates(db, issuer.account.account_id) == 1


def test_same_key_with_a_different_body_is_422(client: httpx.Client, issuer: Issuer, db) -> None:
    assert issue(client, issuer, "order-2").status_code == 201
    other = issue(client, issuer, "order-2", recipientData={"name": "Jane Roe", "email": "j@x.io"})
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert balance(client, issuer.headers) == 9


def test_key_still_being_processed_is_409(client: httpx.Client, issuer: Issuer, db) -> None:
    from akowe.certificates import idempotency

    body = issuer.body()
    fingerprint = idempotency.request_hash(
        "/api/certificates/issue", IssueRequest.model_validate(body)
    )
    with db.begin() as session:  # a first request that is still running elsewhere
        session.add(
            IdempotencyKey(
                account_id=issuer.account.account_id,
                mode=Mode.LIVE,
                key="order-3",
                request_hash=fingerprint,
                state="processing",
                locked_until=utcnow() + timedelta(minutes=1),
                expires_at=utcnow() + timedelta(days=2),
            )
        )
    response = issue(client, issuer, "order-3")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_use"
    assert balance(client, issuer.headers) == 10


def test_claim_abandoned_by_a_crash_is_taken_over(client: httpx.Client, issuer: Issuer, db) -> None:
    from akowe.certificates import idempotency

    fingerprint = idempotency.request_hash(
        "/api/certificates/issue", IssueRequest.model_validate(issuer.body())
    )
    stale = utcnow() - timedelta(seconds=1)
    with db.begin() as session:  # a claim whose process died before finishing
        session.add(
            IdempotencyKey(
                account_id=issuer.account.account_id,
                mode=Mode.LIVE,
                key="order-4",
                request_hash=fingerprint,
                state="processing",
                locked_until=stale,
                expires_at=utcnow() + timedelta(days=2),
            )
        )
    assert issue(client, issuer, "order-4").status_code == 201
    assert balance(client, issuer.headers) == 9


def test_concurrent_duplicates_issue_exactly_once(
    client: httpx.Client, issuer: Issuer, db, server: str
) -> None:
    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=server, timeout=60) as c:
            return issue(c, issuer, "order-5")

    with ThreadPoolExecutor(max_workers=12) as pool:
        responses = list(pool.map(send, range(12)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}
    created = {r.json()["data"]["certificateId"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    assert count_certificates(db, issuer.account.account_id) == 1
    assert balance(client, issuer.headers) == 9


def test_failed_first_attempt_can_be_retried_with_the_same_key(
    client: httpx.Client, make_account, db
) -> None:
    from akowe.credits import service as credits_service

    account = make_account(credits=0)
    issuer = make_issuer(client, account)
    assert issue(client, issuer, "order-6").status_code == 402
    with db.begin() as session:
        credits_service.add(
            session,
            account_id=account.account_id,
            mode=Mode.LIVE,
            amount=1,
            reason="top-up",
            actor="tests",
        )
    retried = issue(client, issuer, "order-6")
    assert retried.status_code == 201
    assert balance(client, issuer.headers) == 0


def test_keys_are_per_account(client: httpx.Client, issuer: Issuer, make_account) -> None:
    other = make_issuer(client, make_account(credits=2))
    assert issue(client, issuer, "shared-key").status_code == 201
    assert issue(client, other, "shared-key").status_code == 201
    assert balance(client, other.headers) == 1


def test_a_replay_says_so_in_a_header(client: httpx.Client, issuer: Issuer) -> None:
    first = issue(client, issuer, "order-header")
    second = issue(client, issuer, "order-header")
    assert "idempotent-replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
