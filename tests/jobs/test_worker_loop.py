"""The workers' loops: a step the database turns away is run again, said in one warning line
(no traceback: it is expected now and then, and nothing was written), and nothing is lost
or done twice.

The faults are injected where the loop calls its step, as the exceptions
`Database.run_transaction` raises for them: a real lock cycle needs another transaction timed
against the step's own (tests/verification/test_signing_service.py builds one for batch
signing), and a real busy timeout holds SQLite's write lock for 30 s. What is tested here is
the loops' answer to them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from akowe.config import Settings
from akowe.db.database import ServiceBusy, TransactionAborted
from akowe.delivery.models import OutboxMessage
from akowe.delivery.worker import DeliveryWorker
from akowe.jobs import service as jobs_service
from akowe.jobs.worker import JobWorker
from akowe.main import create_app
from akowe.signing.models import Credential
from akowe.signing.service import CREDENTIAL
from tests.certificates.conftest import ATTRIBUTES, make_issuer
from tests.conftest import OwnDatabase, _free_port, serve
from tests.jobs.conftest import balance, bulk_body, job, recipients, wait_for

ABORTED = "was aborted by the database (lock cycle); running it again"
PUT_OFF = "was put off: The service is busy. Please retry in a moment."


def failing_first(real: Callable[..., Any]) -> Callable[..., Any]:
    """`real`, except that its first call raises TransactionAborted and its second
    ServiceBusy, before doing anything."""
    faults: Iterator[Exception] = iter([TransactionAborted(), ServiceBusy()])

    def step(*args: Any, **kwargs: Any) -> Any:
        fault = next(faults, None)
        if fault is not None:
            raise fault
        return real(*args, **kwargs)

    return step


def warnings_of(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger and r.levelno == logging.WARNING]


def test_a_job_step_the_database_turned_away_runs_again_and_the_job_issues_once(
    client: httpx.Client,
    make_account: Any,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    issuer = make_issuer(client, make_account(credits=200))
    submitted = client.post(
        "/api/certificates/bulk", json=bulk_body(issuer, recipients(120)), headers=issuer.headers
    )
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["data"]["jobId"]
    monkeypatch.setattr(jobs_service, "run_chunk", failing_first(jobs_service.run_chunk))
    caplog.set_level(logging.INFO, logger="akowe")
    runner = JobWorker(
        settings.model_copy(update={"job_chunk_size": 50, "worker_poll_interval": 0.05})
    )
    runner.start()
    try:
        wait_for(lambda: job(client, issuer.headers, job_id)["status"] == "completed")
    finally:
        runner.stop()
    done = job(client, issuer.headers, job_id)
    assert done["counts"]["issued"] == 120 and done["counts"]["failed"] == 0
    assert balance(client, issuer.headers) == 80  # one credit a row, none twice
    said = warnings_of(caplog, "akowe.jobs")
    assert [r.getMessage() for r in said] == [f"a job step {ABORTED}", f"a job step {PUT_OFF}"]
    assert all(r.exc_info is None for r in said)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_delivery_step_the_database_turned_away_runs_again_and_signs_once(
    own_database: OwnDatabase,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A database of its own: the suite's holds other tests' unsent messages, whose delivery
    # (to endpoints long gone) would speak in this test's log.
    settings = own_database.settings.model_copy(
        update={"port": _free_port(), "worker_poll_interval": 0.05}
    )
    with (
        serve(create_app(settings), settings.port) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        issuer = make_issuer(client, own_database.make_account(credits=5))
        issued = client.post(
            "/api/certificates/issue",
            json={
                "recipientData": {
                    "name": "Ada Obi",
                    "email": "ada@example.com",
                    "attributes": dict(ATTRIBUTES),
                },
                "organizationId": issuer.organization_id,
                "templateId": issuer.template_id,
            },
            headers=issuer.headers,
        )
        assert issued.status_code == 201, issued.text
    certificate_id = issued.json()["data"]["certificateId"]
    monkeypatch.setattr(DeliveryWorker, "run_once", failing_first(DeliveryWorker.run_once))
    caplog.set_level(logging.INFO, logger="akowe")
    worker = DeliveryWorker(settings)
    worker.start()
    try:

        def signing_sent() -> bool:
            with own_database.db() as session:
                return (
                    session.scalar(
                        select(OutboxMessage.status).where(
                            OutboxMessage.certificate_id == certificate_id,
                            OutboxMessage.kind == CREDENTIAL,
                        )
                    )
                    == "sent"
                )

        wait_for(signing_sent)
    finally:
        worker.stop()
    with own_database.db() as session:
        signed = session.scalars(
            select(Credential.certificate_id).where(Credential.certificate_id == certificate_id)
        ).all()
    assert signed == [certificate_id]
    said = warnings_of(caplog, "akowe.delivery")
    assert [r.getMessage() for r in said] == [
        f"a delivery step {ABORTED}",
        f"a delivery step {PUT_OFF}",
    ]
    assert all(r.exc_info is None for r in said)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
