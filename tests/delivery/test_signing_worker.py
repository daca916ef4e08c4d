"""The worker signs every issued certificate's credential, and repairs any certificate that
has none (data from before signing existed, a signing message that ran out of attempts)."""

from __future__ import annotations

import io
import json
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session, sessionmaker

from akowe.delivery.models import OutboxMessage
from akowe.delivery.worker import DeliveryWorker
from akowe.signing.models import Credential
from tests.certificates.conftest import ATTRIBUTES, Issuer
from tests.conftest import PG_URL
from tests.delivery.conftest import SmtpServer, issue, unique_email, wait_for

StartWorker = Callable[..., DeliveryWorker]


def _stored(ddb: sessionmaker[Session], certificate_id: str) -> Credential | None:
    with ddb() as session:
        return session.get(Credential, certificate_id)


def _signing_messages(ddb: sessionmaker[Session], certificate_id: str) -> list[str]:
    with ddb() as session:
        return list(
            session.scalars(
                select(OutboxMessage.status).where(
                    OutboxMessage.certificate_id == certificate_id,
                    OutboxMessage.kind == "credential",
                )
            )
        )


def test_the_worker_signs_what_issuing_queued(
    dclient: httpx.Client,
    dissuer: Issuer,
    ddb: sessionmaker[Session],
    start_worker: StartWorker,
) -> None:
    silent = {"templateId": dissuer.template_id}
    certificate_id = issue(dclient, dissuer, mailData=silent)["certificateId"]
    assert _stored(ddb, certificate_id) is None  # queued, not signed in the request
    assert _signing_messages(ddb, certificate_id) == ["queued"]
    start_worker()
    stored = wait_for(lambda: _stored(ddb, certificate_id))
    assert json.loads(stored.document)["id"].endswith(f"/{certificate_id}/credential")
    wait_for(lambda: _signing_messages(ddb, certificate_id) == ["sent"])
    served = dclient.get(f"/api/public/certificates/{certificate_id}/credential")
    assert served.text == stored.document


def test_wake_signs_at_once_instead_of_at_the_next_poll(
    dclient: httpx.Client, dissuer: Issuer, ddb: sessionmaker[Session], start_worker: StartWorker
) -> None:
    worker = start_worker(worker_poll_interval=60)
    time.sleep(0.5)  # it has looked once and now sleeps for a minute
    certificate_id = issue(dclient, dissuer, mailData={"templateId": dissuer.template_id})[
        "certificateId"
    ]
    worker.wake()
    wait_for(lambda: _stored(ddb, certificate_id), timeout=10)


def test_a_certificate_without_credential_or_message_is_repaired(
    dclient: httpx.Client, dissuer: Issuer, ddb: sessionmaker[Session], start_worker: StartWorker
) -> None:
    certificate_id = issue(dclient, dissuer, mailData={"templateId": dissuer.template_id})[
        "certificateId"
    ]
    with ddb.begin() as session:  # as if issued before credentials existed
        session.execute(delete(OutboxMessage).where(OutboxMessage.certificate_id == certificate_id))
    worker = start_worker(run=False)
    assert worker.repair(settle_seconds=0) >= 1
    assert worker.repair(settle_seconds=0) == 0  # queued once, not again
    worker.drain()
    assert _stored(ddb, certificate_id) is not None
    assert worker.repair(settle_seconds=0) == 0


@pytest.mark.skipif(PG_URL is not None, reason="SQLite's one write lock; PostgreSQL has none")
def test_the_repairs_scan_of_every_certificate_holds_no_write_lock(
    dclient: httpx.Client, dissuer: Issuer, ddb: sessionmaker[Session], start_worker: StartWorker
) -> None:
    """The repair reads every certificate (seconds at a million, every ten minutes): on
    SQLite, inside a write transaction, that held the one write lock and every issue, job
    chunk and email waited for it. While the scan runs, another connection takes the write
    lock at once (no busy wait), and the repair still queues what it found."""
    certificate_id = issue(dclient, dissuer, mailData={"templateId": dissuer.template_id})[
        "certificateId"
    ]
    with ddb.begin() as session:  # as if issued before credentials existed
        session.execute(delete(OutboxMessage).where(OutboxMessage.certificate_id == certificate_id))
    worker = start_worker(run=False)
    path = worker.engine.url.database
    assert path
    writable: list[bool] = []

    def during_the_scan(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if "FROM certificate" in sql and "credential" in sql and "NOT (EXISTS" in sql:
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
                writable.append(True)
            except sqlite3.OperationalError:  # database is locked
                writable.append(False)
            finally:
                other.close()

    event.listen(worker.engine, "before_cursor_execute", during_the_scan)
    try:
        assert worker.repair(settle_seconds=0) >= 1
    finally:
        event.remove(worker.engine, "before_cursor_execute", during_the_scan)
    assert writable and writable[0] is True, writable  # the scan itself
    assert _signing_messages(ddb, certificate_id) == ["queued"]


def test_the_emailed_pdf_carries_the_signed_credential(
    dclient: httpx.Client, dissuer: Issuer, smtp: SmtpServer, start_worker: StartWorker
) -> None:
    address = unique_email()
    certificate_id = issue(
        dclient,
        dissuer,
        recipientData={"name": "Ada", "email": address, "attributes": dict(ATTRIBUTES)},
    )["certificateId"]
    start_worker(smtp_url=smtp.url)
    [message] = wait_for(lambda: smtp.sink.to(address))
    [attachment] = list(message.iter_attachments())
    reader = PdfReader(io.BytesIO(attachment.get_content()))
    embedded = reader.attachments["credential.json"][0]
    served = dclient.get(f"/api/public/certificates/{certificate_id}/credential")
    assert json.loads(embedded) == served.json()


def test_a_batch_is_signed_in_one_pass_revoked_ones_with_their_bit_set(
    dclient: httpx.Client, dissuer: Issuer, ddb: sessionmaker[Session], start_worker: StartWorker
) -> None:
    from akowe.signing.models import StatusList
    from akowe.signing.status_list import StatusBitstring

    silent = {"templateId": dissuer.template_id}
    ids = [issue(dclient, dissuer, mailData=silent)["certificateId"] for _ in range(5)]
    revoked = dclient.post(
        f"/api/certificates/{ids[0]}/revoke", headers=dissuer.headers, json={"reason": "x"}
    )
    assert revoked.status_code == 200
    worker = start_worker(run=False)
    worker.drain()
    indexes = set()
    for certificate_id in ids:
        stored = _stored(ddb, certificate_id)
        assert stored is not None
        assert _signing_messages(ddb, certificate_id) == ["sent"]
        indexes.add((stored.status_list_id, stored.status_index))
        with ddb() as session:
            status_list = session.get(StatusList, stored.status_list_id)
            assert status_list is not None
            bit = StatusBitstring(status_list.length, status_list.bits).get(stored.status_index)
        assert bit == (certificate_id == ids[0])
    assert len(indexes) == 5
    verdicts = [
        dclient.get(f"/api/public/verify/{certificate_id}").json()["data"]["status"]
        for certificate_id in ids
    ]
    assert verdicts == ["revoked", "valid", "valid", "valid", "valid"]


def test_the_worker_signs_in_a_separate_process(
    dclient: httpx.Client, dissuer: Issuer, ddb: sessionmaker[Session], start_worker: StartWorker
) -> None:
    silent = {"templateId": dissuer.template_id}
    ids = [issue(dclient, dissuer, mailData=silent)["certificateId"] for _ in range(3)]
    worker = start_worker(run=False, worker_processes=1)
    assert worker.worker_processes is not None
    worker.drain()
    executor = worker.worker_processes._executor
    assert executor is not None and len(executor._processes) == 1  # it really ran there
    for certificate_id in ids:
        assert _stored(ddb, certificate_id) is not None
        assert _signing_messages(ddb, certificate_id) == ["sent"]
        verdict = dclient.get(f"/api/public/verify/{certificate_id}").json()["data"]
        assert verdict["status"] == "valid"
