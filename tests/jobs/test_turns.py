"""A big job's credentials and emails do not stand in front of what others issue meanwhile.

Everything a job records goes into the one outbox that also carries every single issue's
signing and email. Served first come, first served, a school's certificate issued while
another organization's 10,000-row job is being emailed would wait for all of that job's
emails (minutes; an hour for 100,000 rows). The real service, job worker and delivery
worker, on a database of the test's own (the suite's shared one holds other tests' unsent
messages, which would come first), with a real SMTP server on loopback.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import select

from akowe.db.base import utcnow
from akowe.db.database import session_reader
from akowe.delivery import service as delivery_service
from akowe.delivery.models import OutboxMessage
from akowe.delivery.worker import DeliveryWorker
from akowe.jobs.worker import JobWorker
from akowe.main import create_app
from akowe.signing.service import CREDENTIAL
from tests.certificates.conftest import ATTRIBUTES, make_issuer
from tests.conftest import OwnDatabase, _free_port, serve
from tests.delivery.conftest import SmtpServer
from tests.jobs.conftest import bulk_body, job, recipients

MAIL = {"subject": "Your certificate", "body": "Dear {{name}}, well done."}
BATCH = 16


def test_another_accounts_certificate_is_signed_and_emailed_before_a_big_jobs_rest(
    own_database: OwnDatabase,
) -> None:
    smtp = SmtpServer().start()
    settings = own_database.settings.model_copy(
        update={
            "port": _free_port(),
            "smtp_url": SecretStr(smtp.url),
            "mail_from": "certificates@akowe.test",
            "worker_enabled": False,
            "worker_processes": 0,
            "worker_batch_size": BATCH,
            "job_chunk_size": 50,
        }
    )
    try:
        with (
            serve(create_app(settings), settings.port) as url,
            httpx.Client(base_url=url, timeout=30) as client,
        ):
            big = make_issuer(client, own_database.make_account(credits=300))
            other = make_issuer(client, own_database.make_account(credits=5))
            submitted = client.post(
                "/api/certificates/bulk",
                json=bulk_body(big, recipients(300), mailData=MAIL),
                headers=big.headers,
            )
            assert submitted.status_code == 202, submitted.text
            job_id = submitted.json()["data"]["jobId"]
            jobs = JobWorker(settings)
            try:
                jobs.drain()
            finally:
                jobs.close()
            assert job(client, big.headers, job_id)["counts"]["issued"] == 300
            single = client.post(
                "/api/certificates/issue",
                json={
                    "recipientData": {
                        "name": "Ada Obi",
                        "email": "ada@other.example",
                        "attributes": dict(ATTRIBUTES),
                    },
                    "organizationId": other.organization_id,
                    "mailData": {**MAIL, "templateId": other.template_id},
                },
                headers=other.headers,
            )
            assert single.status_code == 201, single.text
            single_id = single.json()["data"]["certificateId"]

            delivery = DeliveryWorker(settings)
            try:
                batches = 0
                while not smtp.sink.to("ada@other.example"):
                    assert delivery.run_once() > 0, "the queue ran dry before ada's email"
                    batches += 1
                    assert batches < 40
                before = [
                    rcpts for rcpts, _ in smtp.sink.messages if "ada@other.example" not in rcpts
                ]
                # In the worker's next batch or so, not after the job's 300 credentials and
                # emails (first come, first served, or every credential before any email);
                # what went before it is the job's first rows, whose turn had come (a
                # batch's emails go out side by side, so not necessarily in row order).
                assert batches <= 2, batches
                assert len(before) < BATCH, len(before)
                first_rows = [[f"student{i}@example.com"] for i in range(BATCH)]
                assert all(rcpts in first_rows for rcpts in before), before
                # Its credential was signed before the job's rest too (in the first batch).
                with own_database.db() as session:
                    signed = _signing_order(session, [single_id])
                assert signed[single_id] < BATCH
                # And the rest of the job still goes out, every email once.
                delivery.drain()
            finally:
                delivery.close()
            assert len(smtp.sink.messages) == 301
            assert len({tuple(rcpts) for rcpts, _ in smtp.sink.messages}) == 301
    finally:
        smtp.stop()


def _signing_order(session: Any, certificate_ids: list[str]) -> dict[str, int]:
    """Where each certificate's credential came in the order credentials were signed."""
    sent = session.execute(
        select(OutboxMessage.certificate_id)
        .where(OutboxMessage.kind == CREDENTIAL, OutboxMessage.status == "sent")
        .order_by(OutboxMessage.sent_at, OutboxMessage.id)
    ).scalars()
    order = {certificate_id: n for n, certificate_id in enumerate(sent)}
    return {i: order[i] for i in certificate_ids}


def test_a_turn_to_come_holds_nothing_back(own_database: OwnDatabase) -> None:
    """Turns order the queue; they are not times to wait for: with nothing else queued,
    messages whose turns lie an hour ahead are claimed at once, in turn order."""
    account_id = own_database.make_account().account_id
    now = utcnow()
    with own_database.db.begin() as session, session_reader(session).batch() as batch:
        for n in reversed(range(5)):
            delivery_service.queue(
                batch,
                account_id=account_id,
                mode="live",
                kind=delivery_service.EMAIL,
                payload={"to": f"r{n}@example.com"},
                turn=now + timedelta(hours=1, seconds=n),
            )
    with own_database.db.begin() as session:
        claimed = delivery_service.claim(
            session, worker_id="test", now=utcnow(), lease=timedelta(minutes=5), limit=10
        )
        assert [m.payload["to"] for m in claimed] == [f"r{n}@example.com" for n in range(5)]
