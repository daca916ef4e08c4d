"""Bulk issuance through the real API and a real job worker, on the suite's database."""

from __future__ import annotations

import httpx

from akowe.jobs.worker import JobWorker
from tests.certificates.conftest import ATTRIBUTES, make_issuer
from tests.jobs.conftest import all_rows, balance, bulk_body, job, recipients


def test_a_json_job_issues_every_valid_row_once_and_charges_one_credit_each(
    client: httpx.Client, make_account, worker: JobWorker
) -> None:
    issuer = make_issuer(client, make_account(credits=200))
    rows = recipients(120)
    response = client.post(
        "/api/certificates/bulk", json=bulk_body(issuer, rows), headers=issuer.headers
    )
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert data["status"] == "queued"
    assert data["counts"]["total"] == 120 and data["counts"]["valid"] == 120
    assert balance(client, issuer.headers) == 200  # nothing charged before the worker runs

    assert worker.drain() == 120
    done = job(client, issuer.headers, data["jobId"])
    assert done["status"] == "completed"
    assert done["counts"]["issued"] == 120 and done["counts"]["remaining"] == 0
    assert done["progress"] == 1
    assert balance(client, issuer.headers) == 80
    issued = all_rows(client, issuer.headers, data["jobId"], "issued")
    assert [r["row"] for r in issued] == list(range(1, 121))
    first = client.get(f"/api/certificates/{issued[0]['certificateId']}", headers=issuer.headers)
    assert first.status_code == 200
    assert first.json()["data"]["recipientEmail"] == "student0@example.com"
    assert first.json()["data"]["attributes"] == ATTRIBUTES
