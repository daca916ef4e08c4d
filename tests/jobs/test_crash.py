"""Exactly once across a crash: a real `akowe worker` process is SIGKILLed mid-job, another
one finishes the job, and every valid row is issued and charged exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from akowe.config import Settings
from akowe.jobs import service as jobs_service
from tests.certificates.conftest import make_issuer
from tests.jobs.conftest import all_rows, balance, bulk_body, job, recipients, wait_for


@contextmanager
def worker_process(settings: Settings, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`akowe worker` (job and delivery workers) on the test database, small chunks."""
    environment = {
        **os.environ,
        "AKOWE_DATABASE_URL": settings.resolved_database_url,
        "AKOWE_SECRET_KEY": settings.secret_key.get_secret_value() if settings.secret_key else "",
        "AKOWE_DATA_DIR": str(settings.data_dir),
        "AKOWE_LOG_LEVEL": "WARNING",
        "AKOWE_JOB_CHUNK_SIZE": "40",
        "AKOWE_WORKER_POLL_INTERVAL": "0.1",
        "AKOWE_WORKER_PROCESSES": "0",
        "AKOWE_DB_POOL_SIZE": "2",
        "AKOWE_DB_THREADS": "2",
    }
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "akowe.cli", "worker"],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_a_worker_killed_mid_job_leaves_every_row_issued_and_charged_exactly_once(
    client: httpx.Client,
    make_account,
    settings: Settings,
    db: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    account = make_account(credits=2000)
    issuer = make_issuer(client, account)
    rows = recipients(1200)
    rows[5]["email"] = "broken"  # one invalid row: never issued, never charged
    response = client.post(
        "/api/certificates/bulk", json=bulk_body(issuer, rows), headers=issuer.headers
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["data"]["jobId"]

    def issued() -> int:
        return int(job(client, issuer.headers, job_id)["counts"]["issued"])

    with worker_process(settings, tmp_path / "first.log") as first:
        wait_for(lambda: issued() >= 120, timeout=120, interval=0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    partial = job(client, issuer.headers, job_id)
    assert partial["status"] == "running", partial
    assert 0 < partial["counts"]["issued"] < 1199, partial

    with worker_process(settings, tmp_path / "second.log"):
        wait_for(
            lambda: job(client, issuer.headers, job_id)["status"] == "completed",
            timeout=180,
            interval=0.2,
        )
    done = job(client, issuer.headers, job_id)
    assert done["counts"]["issued"] == 1199 and done["counts"]["failed"] == 1, done
    results = all_rows(client, issuer.headers, job_id, "issued")
    certificate_ids = [r["certificateId"] for r in results]
    assert len(certificate_ids) == len(set(certificate_ids)) == 1199
    assert balance(client, issuer.headers) == 2000 - 1199
    with db() as session:
        recorded = session.execute(
            sa.text(
                "SELECT count(*), count(DISTINCT lower(recipient_email)) FROM certificate "
                "WHERE account_id = :account"
            ),
            {"account": account.account_id},
        ).one()
        debits = session.execute(
            sa.text(
                "SELECT count(*) FROM ledger_entry WHERE account_id = :account AND amount = -1"
            ),
            {"account": account.account_id},
        ).scalar_one()
        signing_queued = session.execute(
            sa.text(
                "SELECT count(*) FROM outbox_message WHERE account_id = :account "
                "AND kind = 'credential'"
            ),
            {"account": account.account_id},
        ).scalar_one()
    # No certificate without its row (a killed chunk left nothing behind), none twice.
    assert tuple(recorded) == (1199, 1199)
    assert debits == 1199
    assert signing_queued == 1199  # one signing message per certificate, none repeated


def test_a_worker_killed_while_checking_a_big_file_leaves_each_row_issued_once(
    client: httpx.Client, make_account, settings: Settings, tmp_path: Path
) -> None:
    account = make_account(credits=4000)
    issuer = make_issuer(client, account)
    rows = recipients(1500)  # over SYNC_ROWS: answered at once, checked by the workers
    rows[7]["email"] = "broken"
    rows[1400]["email"] = rows[10]["email"].upper()  # the same recipient twice in the file
    response = client.post(
        "/api/certificates/bulk", json=bulk_body(issuer, rows), headers=issuer.headers
    )
    assert response.status_code == 202, response.text
    assert response.json()["data"]["status"] == "validating"
    job_id = response.json()["data"]["jobId"]

    def checked() -> int:
        counts = job(client, issuer.headers, job_id)["counts"]
        return int(counts["valid"] + counts["failed"])

    with worker_process(settings, tmp_path / "first.log") as first:
        wait_for(lambda: checked() >= 80, timeout=120, interval=0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    partial = job(client, issuer.headers, job_id)
    assert partial["status"] == "validating", partial
    assert partial["counts"]["issued"] == 0 and 0 < checked() < 1500, partial

    with worker_process(settings, tmp_path / "second.log"):
        wait_for(
            lambda: job(client, issuer.headers, job_id)["status"] == "completed",
            timeout=240,
            interval=0.2,
        )
    done = job(client, issuer.headers, job_id)
    assert done["counts"]["issued"] == 1498 and done["counts"]["failed"] == 2, done
    failed = {r["row"]: r["errorCode"] for r in all_rows(client, issuer.headers, job_id, "failed")}
    assert failed == {8: "invalid_email", 1401: "duplicate_row"}
    certificate_ids = [
        r["certificateId"] for r in all_rows(client, issuer.headers, job_id, "issued")
    ]
    assert len(set(certificate_ids)) == len(certificate_ids) == 1498
    assert balance(client, issuer.headers) == 4000 - 1498


def test_two_workers_share_one_job_without_issuing_a_row_twice(
    client: httpx.Client,
    make_account,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Checked by the workers too (over SYNC_ROWS): they split the checking as well.
    monkeypatch.setattr(jobs_service, "SYNC_ROWS", 100)
    issuer = make_issuer(client, make_account(credits=1000))
    response = client.post(
        "/api/certificates/bulk", json=bulk_body(issuer, recipients(800)), headers=issuer.headers
    )
    assert response.json()["data"]["status"] == "validating"
    job_id = response.json()["data"]["jobId"]
    with (
        worker_process(settings, tmp_path / "a.log"),
        worker_process(settings, tmp_path / "b.log"),
    ):
        wait_for(
            lambda: job(client, issuer.headers, job_id)["status"] == "completed",
            timeout=180,
            interval=0.2,
        )
    certificate_ids = [r["certificateId"] for r in all_rows(client, issuer.headers, job_id)]
    assert len(set(certificate_ids)) == len(certificate_ids) == 800
    assert balance(client, issuer.headers) == 200
    for log in ("a.log", "b.log"):
        assert "Traceback" not in (tmp_path / log).read_text()
