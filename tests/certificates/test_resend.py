"""Resend: only to the recipient or a corrected address that becomes the recipient, limited
per certificate and per account per day (429 with Retry-After), every resend recorded."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from akowe.config import Settings
from akowe.main import create_app
from tests.certificates.conftest import make_issuer
from tests.conftest import SMALL_POOL, _free_port, serve


@pytest.fixture(scope="module")
def resend_server(settings: Settings) -> Iterator[str]:
    port = _free_port()
    config = settings.model_copy(
        update={
            "port": port,
            **SMALL_POOL,
            "resend_per_certificate_per_day": 2,
            "resend_per_account_per_day": 3,
        }
    )
    with serve(create_app(config), port) as url:
        yield url


def _issue(http: httpx.Client, issuer) -> str:
    response = http.post("/api/certificates/issue", json=issuer.body(), headers=issuer.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["certificateId"])


def test_resends_are_limited_per_certificate_and_per_account(
    resend_server: str, make_account, engine: sa.Engine
) -> None:
    with httpx.Client(base_url=resend_server, timeout=30) as http:
        issuer = make_issuer(http, make_account(credits=10))
        first, second = _issue(http, issuer), _issue(http, issuer)
        url = f"/api/certificates/{first}/resend"
        assert http.post(url, headers=issuer.headers).status_code == 202
        corrected = http.post(url, headers=issuer.headers, json={"email": "right@example.com"})
        assert corrected.status_code == 202
        # The corrected address is now the recipient: resends never go anywhere else.
        assert corrected.json()["data"]["recipientEmail"] == "right@example.com"
        refused = http.post(url, headers=issuer.headers, json={"email": "else@example.com"})
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert "certificate has reached its limit of 2 resends a day" in refused.json()["message"]
        assert 86_000 < int(refused.headers["retry-after"]) <= 86_400
        got = http.get(f"/api/certificates/{first}", headers=issuer.headers).json()["data"]
        assert got["recipientEmail"] == "right@example.com"  # the refused one changed nothing
        # The account's third resend is its last of the day, on any certificate.
        assert (
            http.post(f"/api/certificates/{second}/resend", headers=issuer.headers).status_code
            == 202
        )
        over = http.post(f"/api/certificates/{second}/resend", headers=issuer.headers)
        assert over.status_code == 429
        assert "account has reached its limit of 3" in over.json()["message"]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT certificate_id, address_corrected, message_id FROM certificate_resend "
                "WHERE account_id = :a ORDER BY created_at"
            ),
            {"a": issuer.account.account_id},
        ).all()
        assert [(r[0], bool(r[1])) for r in rows] == [
            (first, False),
            (first, True),
            (second, False),
        ]
        sent_to = conn.execute(
            sa.text("SELECT payload FROM outbox_message WHERE id = :m"), {"m": rows[1][2]}
        ).scalar_one()
    assert "right@example.com" in str(sent_to)


def test_a_resend_goes_to_the_recipient_only(client: httpx.Client, make_account) -> None:
    issuer = make_issuer(client, make_account(credits=2))
    cid = _issue(client, issuer)
    response = client.post(f"/api/certificates/{cid}/resend", headers=issuer.headers)
    assert response.status_code == 202
    messages = client.get(f"/api/certificates/{cid}/messages", headers=issuer.headers).json()
    assert {m["to"] for m in messages["data"]} == {"john@example.com"}
