"""Big submissions are answered at once (`validating`) and checked by the workers.

A submission of more than `SYNC_ROWS` rows is recorded before its rows are checked; these
tests lower the threshold so a few rows take that path, and hold its outcome to the one a
submission checked before its answer gets: the same verdict, column and message on every row,
the same counts, nothing charged for a row that fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from akowe import processes
from akowe.certificates.drawable import design_of
from akowe.config import Settings
from akowe.db.base import utcnow
from akowe.db.database import Database
from akowe.delivery.worker import DeliveryWorker
from akowe.jobs import service as jobs_service
from akowe.jobs.worker import JobWorker
from akowe.organizations.models import Organization
from akowe.storage.store import make_store
from akowe.templates.models import Template
from tests.certificates.conftest import ATTRIBUTES, Issuer, make_issuer
from tests.jobs.conftest import all_rows, balance, bulk_body, job, recipients

MAPPING = (
    '{"Full name": "name", "E-mail": "email", "Course": "attributes.Course Name", '
    '"Mark": "attributes.Grade"}'
)
# Every kind of verdict, with the columns named by the mapping.
CLASS_CSV = (
    "Full name,E-mail,Course,Mark\r\n"
    "Ada Obi,ada@example.com,Machine Learning,Excellent\r\n"  # 1 issued
    "   ,blank@example.com,Machine Learning,Excellent\r\n"  # 2 missing_name
    "Bola Ade,not-an-email,Machine Learning,Excellent\r\n"  # 3 invalid_email
    "Chi Eze,chi@example.com,Machine Learning,Top \ue001\r\n"  # 4 an attribute undrawable
    "Ada \ue000 Obi,pua@example.com,Machine Learning,Excellent\r\n"  # 5 unrenderable_text
    "Ada Again,ADA@example.com,Machine Learning,Excellent\r\n"  # 6 duplicate_row of 1
    "Dayo Ojo,bad@,Machine Learning,Excellent\r\n"  # 7 invalid_email
    "Dayo Ojo,dayo@example.com,Machine Learning,Excellent\r\n"  # 8 issued
    "Held Already,held@example.com,Machine Learning,Excellent\r\n"  # 9 skipped
    "  Efe Uche ,efe@EXAMPLE.com,Machine Learning,Excellent\r\n"  # 10 issued, normalised
).encode()


@pytest.fixture
def checked_by_workers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Submissions of more than 3 rows take the `validating` path."""
    monkeypatch.setattr(jobs_service, "SYNC_ROWS", 3)
    yield


def _upload(client: httpx.Client, issuer: Issuer, content: bytes, **fields: str) -> httpx.Response:
    return client.post(
        "/api/certificates/bulk",
        data={
            "organizationId": issuer.organization_id,
            "templateId": issuer.template_id,
            "mapping": MAPPING,
            **fields,
        },
        files={"file": ("class.csv", content, "text/csv")},
        headers=issuer.headers,
    )


def _hold(client: httpx.Client, issuer: Issuer, email: str) -> None:
    """Give `email` a live certificate of the issuer's template (one credit)."""
    single = client.post(
        "/api/certificates/issue",
        json=issuer.body(recipientData={"name": "Held", "email": email, "attributes": ATTRIBUTES}),
        headers=issuer.headers,
    )
    assert single.status_code == 201, single.text


def _verdicts(client: httpx.Client, issuer: Issuer, job_id: str) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in row.items() if k != "certificateId"}
        for row in all_rows(client, issuer.headers, job_id)
    ]


def test_a_big_file_is_answered_at_once_and_its_rows_get_the_verdicts_a_small_one_gets(
    client: httpx.Client, make_account, worker: JobWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker.drain()  # jobs other tests left queued would take turns too
    outcomes = {}
    for path, sync_rows in (("checked first", 1000), ("checked by the workers", 3)):
        monkeypatch.setattr(jobs_service, "SYNC_ROWS", sync_rows)
        issuer = make_issuer(client, make_account(credits=20))
        _hold(client, issuer, "held@example.com")
        response = _upload(client, issuer, CLASS_CSV, options='{"duplicates": "skip"}')
        assert response.status_code == 202, response.text
        data = response.json()["data"]
        if path == "checked by the workers":
            assert data["status"] == "validating" and "errors" not in data
            assert data["counts"]["total"] == data["counts"]["remaining"] == 10
            assert data["counts"]["valid"] == 0 and data["progress"] == 0
            rows = all_rows(client, issuer.headers, data["jobId"], "validating")
            assert [r["row"] for r in rows] == list(range(1, 11))
        worker.drain()
        done = job(client, issuer.headers, data["jobId"])
        assert done["status"] == "completed", done
        assert balance(client, issuer.headers) == 20 - 1 - 3  # the held one, then 3 issued
        outcomes[path] = (done["counts"], _verdicts(client, issuer, data["jobId"]))

    counts, verdicts = outcomes["checked by the workers"]
    assert outcomes["checked first"] == (counts, verdicts)
    assert counts == {
        "total": 10, "valid": 4, "issued": 3, "failed": 6, "skipped": 1,
        "cancelled": 0, "remaining": 0,
    }  # fmt: skip
    by_row = {v["row"]: v for v in verdicts}
    assert [by_row[n]["status"] for n in (1, 8, 10)] == ["issued"] * 3
    assert (by_row[10]["name"], by_row[10]["email"]) == ("Efe Uche", "efe@example.com")
    assert (by_row[2]["errorCode"], by_row[2]["errorColumn"]) == ("missing_name", "Full name")
    assert (by_row[3]["errorCode"], by_row[3]["errorColumn"]) == ("invalid_email", "E-mail")
    assert (by_row[4]["errorCode"], by_row[4]["errorColumn"]) == ("unrenderable_text", "Mark")
    assert by_row[5]["errorCode"] == "unrenderable_text"
    assert by_row[6]["errorCode"] == "duplicate_row" and "row 1" in by_row[6]["errorMessage"]
    assert by_row[7]["errorCode"] == "invalid_email"  # so row 8's email is its own
    assert (by_row[9]["status"], by_row[9]["errorCode"]) == ("skipped", "already_issued")


def _class_task(
    client: httpx.Client, make_account, settings: Settings, db: sessionmaker[Session]
) -> tuple[jobs_service.CheckTask, list[Any]]:
    """The class file's checking task and rows, as a job's checking step makes them."""
    issuer = make_issuer(client, make_account(credits=20))
    fields = {"organizationId": issuer.organization_id, "templateId": issuer.template_id}
    submission = jobs_service.from_file(
        {**fields, "mapping": json.loads(MAPPING)}, CLASS_CSV, "class.csv", "test"
    )
    with db() as session:
        organization = session.get(Organization, issuer.organization_id)
        template = session.get(Template, issuer.template_id)
    assert organization is not None and template is not None
    database = Database(settings)
    with database.read_connection() as reader:
        design = design_of(
            reader, template=template, organization=organization, store=make_store(settings)
        )
    database.dispose()
    task = jobs_service.CheckTask(
        settings=submission.settings,
        plan=submission.plan,
        fields=tuple(template.fields),
        design=design,
        issued_at=utcnow(),
    )
    return task, list(submission.inputs)


def test_a_worker_process_gives_every_row_the_verdict_this_process_gives(
    client: httpx.Client, make_account, settings: Settings, db: sessionmaker[Session]
) -> None:
    # A checking step's parts go to the delivery worker's processes: what a real child
    # process makes of the rows must be exactly what this process makes of them.
    task, inputs = _class_task(client, make_account, settings, db)
    delivery = DeliveryWorker(settings.model_copy(update={"worker_processes": 1}))
    assert delivery.worker_processes is not None
    try:
        in_child = delivery.worker_processes._using(
            lambda pool: pool.submit(processes._check_rows, task, inputs)
        ).result(timeout=60)
    finally:
        delivery.close()
    here = jobs_service.check_task(task, inputs)
    assert in_child == here
    codes = {row["error_code"] for row in here}
    assert codes >= {"missing_name", "invalid_email", "unrenderable_text", None}, codes


def _handed_out(work: processes.WorkProcesses, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The functions `work`'s pool is given from now on."""
    pool = work._pool()
    given: list[Any] = []
    submit = pool.submit

    def spy(function: Any, *args: Any, **kwargs: Any) -> Any:
        given.append(function)
        return submit(function, *args, **kwargs)

    monkeypatch.setattr(pool, "submit", spy)
    return given


def test_processes_get_rows_to_check_only_once_they_have_imported_the_checking_code(
    client: httpx.Client,
    make_account,
    settings: Settings,
    db: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A part sent to a process still importing the checking code (a second or two) made the
    # whole step wait for it: until the processes are ready, this thread checks every row.
    task, inputs = _class_task(client, make_account, settings, db)
    here = jobs_service.check_task(task, inputs)
    work = processes.WorkProcesses(processes.Signer(base_url="http://x", secret="s" * 32), 2)
    try:
        given = _handed_out(work, monkeypatch)
        assert work.check(task, inputs) == here
        assert processes._check_rows not in given
        assert given == [processes._prepare_checking] * 2  # asked to get ready, once
        assert work.ready_to_check(wait=True)
        assert work.check(task, inputs) == here
        assert given.count(processes._check_rows) == 2  # a part for each process
        assert given.count(processes._prepare_checking) == 2
    finally:
        work.close()


def test_a_big_file_checked_with_worker_processes_gets_the_verdicts_of_one_checked_without(
    client: httpx.Client,
    make_account,
    settings: Settings,
    worker: JobWorker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `akowe serve` and `akowe worker` split a big file's checking steps between the
    # delivery worker's processes and the job thread (which takes back a part no process
    # has started yet, so which process checks which row varies): the outcome may not.
    monkeypatch.setattr(jobs_service, "SYNC_ROWS", 3)
    monkeypatch.setattr(jobs_service, "PARALLEL_CHECK_ROWS", 2)
    worker.drain()  # jobs other tests left queued would take turns too
    delivery = DeliveryWorker(settings.model_copy(update={"worker_processes": 2}))
    assert delivery.worker_processes is not None
    # Until the processes have imported the checking code, the job thread checks alone.
    assert delivery.worker_processes.ready_to_check(wait=True)
    given = _handed_out(delivery.worker_processes, monkeypatch)
    in_processes = JobWorker(
        settings.model_copy(update={"job_chunk_size": 50}),
        processes=delivery.worker_processes,
    )
    outcomes = {}
    try:
        for path, runner in (("thread", worker), ("processes", in_processes)):
            issuer = make_issuer(client, make_account(credits=20))
            _hold(client, issuer, "held@example.com")
            response = _upload(client, issuer, CLASS_CSV, options='{"duplicates": "skip"}')
            assert response.status_code == 202, response.text
            job_id = response.json()["data"]["jobId"]
            assert response.json()["data"]["status"] == "validating"
            runner.drain()
            done = job(client, issuer.headers, job_id)
            assert done["status"] == "completed", done
            outcomes[path] = (done["counts"], _verdicts(client, issuer, job_id))
        assert processes._check_rows in given  # parts were handed out
    finally:
        in_processes.close()
        delivery.close()
    assert outcomes["processes"] == outcomes["thread"]
    counts = outcomes["processes"][0]
    assert (counts["issued"], counts["failed"], counts["skipped"]) == (3, 6, 1)


def test_deny_found_by_the_workers_fails_the_job_and_charges_nothing(
    client: httpx.Client, make_account, worker: JobWorker, checked_by_workers: None
) -> None:
    issuer = make_issuer(client, make_account(credits=20))
    _hold(client, issuer, "student2@example.com")
    response = client.post(
        "/api/certificates/bulk",
        json=bulk_body(issuer, recipients(6), options={"duplicates": "deny"}),
        headers=issuer.headers,
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["data"]["jobId"]
    worker.drain()
    done = job(client, issuer.headers, job_id)
    assert done["status"] == "failed"
    assert "already hold a live certificate" in done["error"]
    assert done["counts"]["issued"] == 0 and done["counts"]["failed"] == 6
    assert balance(client, issuer.headers) == 19  # only the certificate held before
    rows = {r["row"]: r for r in all_rows(client, issuer.headers, job_id)}
    assert rows[3]["errorCode"] == "already_issued" and rows[3]["errorColumn"] == "email"
    assert {rows[n]["errorCode"] for n in (1, 2, 4, 5, 6)} == {"duplicates_denied"}


def test_no_valid_row_found_by_the_workers_fails_the_job_naming_the_first(
    client: httpx.Client, make_account, worker: JobWorker, checked_by_workers: None
) -> None:
    issuer = make_issuer(client, make_account(credits=20))
    rows = recipients(5)
    for row in rows:
        row["email"] = "nope"
    response = client.post(
        "/api/certificates/bulk", json=bulk_body(issuer, rows), headers=issuer.headers
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["data"]["jobId"]
    worker.drain()
    done = job(client, issuer.headers, job_id)
    assert done["status"] == "failed" and done["finishedAt"]
    assert done["error"].startswith("No row can be issued: email: "), done["error"]
    assert done["error"].endswith("(row 1)"), done["error"]
    assert done["counts"]["valid"] == 0 and done["counts"]["failed"] == 5
    assert balance(client, issuer.headers) == 20


def test_cancel_while_validating_leaves_nothing_to_issue(
    client: httpx.Client, make_account, worker: JobWorker, checked_by_workers: None
) -> None:
    issuer = make_issuer(client, make_account(credits=500))
    response = client.post(
        "/api/certificates/bulk", json=bulk_body(issuer, recipients(250)), headers=issuer.headers
    )
    job_id = response.json()["data"]["jobId"]
    result = worker.run_once(job_id)  # one step: 100 rows checked (chunks of 50, two each)
    assert result is not None and result.issued == 0
    checking = job(client, issuer.headers, job_id)
    assert checking["status"] == "validating"
    assert checking["counts"]["valid"] == 100 and checking["counts"]["remaining"] == 250
    cancelled = client.post(f"/api/jobs/{job_id}/cancel", headers=issuer.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["data"]["counts"]["cancelled"] == 250
    worker.drain()
    done = job(client, issuer.headers, job_id)
    assert done["status"] == "cancelled" and done["counts"]["issued"] == 0
    assert balance(client, issuer.headers) == 500


def test_a_small_job_is_served_while_a_big_one_is_being_checked(
    client: httpx.Client, make_account, worker: JobWorker, checked_by_workers: None
) -> None:
    worker.drain()
    big = make_issuer(client, make_account(credits=3000))
    small = make_issuer(client, make_account(credits=20))
    first = client.post(
        "/api/certificates/bulk", json=bulk_body(big, recipients(2000)), headers=big.headers
    )
    worker.run_once()  # the big job's first rows are checked
    second = client.post(
        "/api/certificates/bulk", json=bulk_body(small, recipients(3)), headers=small.headers
    )
    small_id = second.json()["data"]["jobId"]
    served = [worker.run_once(), worker.run_once()]
    assert small_id in {r.job_id for r in served if r is not None}
    assert job(client, small.headers, small_id)["status"] == "completed"
    assert job(client, big.headers, first.json()["data"]["jobId"])["status"] == "validating"


def test_a_resubmitted_big_file_is_the_same_job(
    client: httpx.Client, make_account, worker: JobWorker, checked_by_workers: None
) -> None:
    issuer = make_issuer(client, make_account(credits=20))
    headers = {**issuer.headers, "Idempotency-Key": "big-class-1"}
    body = bulk_body(issuer, recipients(8))
    first = client.post("/api/certificates/bulk", json=body, headers=headers)
    again = client.post("/api/certificates/bulk", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json()["data"]["jobId"] == first.json()["data"]["jobId"]
    worker.drain()
    assert balance(client, issuer.headers) == 12
