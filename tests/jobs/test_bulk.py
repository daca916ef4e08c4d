"""Bulk issuance through the real API and a real job worker, on the suite's database."""

from __future__ import annotations

import csv
import io
import json

import httpx
from openpyxl import Workbook  # type: ignore[import-untyped]

from akowe.jobs.worker import JobWorker
from tests.certificates.conftest import ATTRIBUTES, make_issuer
from tests.jobs.conftest import all_rows, balance, bulk_body, job, recipients, submit


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


def test_a_dry_run_reports_every_problem_and_creates_and_charges_nothing(
    client: httpx.Client, make_account
) -> None:
    issuer = make_issuer(client, make_account(credits=10))
    rows = recipients(3)
    rows[1]["email"] = "not-an-email"
    rows[2]["attributes"] = {"Course Name": "Physics"}  # lacks "Grade", which the design prints
    rows.append({"name": "Again", "email": "STUDENT0@example.com", "attributes": ATTRIBUTES})
    response = client.post(
        "/api/certificates/bulk",
        json=bulk_body(issuer, rows, options={"dryRun": True}),
        headers=issuer.headers,
    )
    assert response.status_code == 200, response.text
    report = response.json()["data"]
    assert report["dryRun"] is True
    assert report["counts"]["total"] == 4 and report["counts"]["valid"] == 1
    errors = {e["row"]: e for e in report["errors"]}
    assert errors[2]["column"] == "email" and errors[2]["code"] == "invalid_email"
    assert errors[3]["code"] == "missing_attribute"
    assert errors[3]["column"] == "attributes.Grade"
    assert errors[4]["code"] == "duplicate_row" and "row 1" in errors[4]["message"]
    assert balance(client, issuer.headers) == 10
    listed = client.get("/api/jobs", headers=issuer.headers)
    assert listed.status_code == 200 and listed.json()["data"] == []


def test_invalid_rows_are_reported_and_never_charged_while_valid_rows_go_on(
    client: httpx.Client, make_account, worker: JobWorker
) -> None:
    issuer = make_issuer(client, make_account(credits=10))
    rows = recipients(4)
    rows[0]["name"] = "   "
    rows[3]["name"] = "Ada \ue000 Lovelace"  # private use: no font can draw it
    response = client.post(
        "/api/certificates/bulk", json=bulk_body(issuer, rows), headers=issuer.headers
    )
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert data["counts"]["valid"] == 2 and data["counts"]["failed"] == 2
    assert [e["row"] for e in data["errors"]] == [1, 4]
    assert data["errors"][0]["code"] == "missing_name"
    assert data["errors"][1]["code"] == "unrenderable_text"
    worker.drain()
    assert balance(client, issuer.headers) == 8
    failed = all_rows(client, issuer.headers, data["jobId"], "failed")
    assert [r["row"] for r in failed] == [1, 4]
    assert all(r["certificateId"] is None for r in failed)


def test_a_job_with_no_valid_row_is_a_400_naming_the_rows(
    client: httpx.Client, make_account
) -> None:
    issuer = make_issuer(client, make_account(credits=10))
    rows = recipients(2)
    for row in rows:
        row["email"] = "nope"
    response = client.post(
        "/api/certificates/bulk", json=bulk_body(issuer, rows), headers=issuer.headers
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "no_valid_rows"
    assert [e["field"] for e in body["errors"]] == ["rows.1.email", "rows.2.email"]
    # The message names the first row's column too: "is missing: ..." alone names nothing.
    assert body["message"].startswith("No row can be issued: email: "), body["message"]
    assert body["message"].endswith("(row 1)"), body["message"]


def _csv_upload(
    client: httpx.Client,
    issuer: object,
    content: bytes,
    *,
    file_name: str = "class.csv",
    **fields: str,
) -> httpx.Response:
    data = {
        "organizationId": issuer.organization_id,  # type: ignore[attr-defined]
        "templateId": issuer.template_id,  # type: ignore[attr-defined]
        **fields,
    }
    return client.post(
        "/api/certificates/bulk",
        data=data,
        files={"file": (file_name, content, "text/csv")},
        headers=issuer.headers,  # type: ignore[attr-defined]
    )


def test_a_csv_with_bom_semicolons_quoted_newlines_and_a_mapping_is_issued(
    client: httpx.Client, make_account, worker: JobWorker
) -> None:
    issuer = make_issuer(client, make_account(credits=10))
    text = (
        "Full name;E-mail;Course;Grade;Internal\r\n"
        'Ada Obi;ada@example.com;"Machine; Learning";Excellent;x\r\n'
        '"Bola\nAde";bola@example.com;Physics;"Good ""plus""";y\r\n'
    )
    mapping = (
        '{"Full name": "name", "E-mail": "email", "Course": "attributes.Course Name", '
        '"Internal": ""}'
    )
    response = _csv_upload(client, issuer, b"\xef\xbb\xbf" + text.encode(), mapping=mapping)
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert data["fileName"] == "class.csv"
    assert data["counts"]["total"] == 2, data
    # The name with a newline cannot be one line: reported, not issued.
    assert data["counts"]["valid"] == 1 and data["errors"][0]["column"] == "Full name"
    worker.drain()
    issued = all_rows(client, issuer.headers, data["jobId"], "issued")
    certificate = client.get(
        f"/api/certificates/{issued[0]['certificateId']}", headers=issuer.headers
    ).json()["data"]
    assert certificate["recipientName"] == "Ada Obi"
    assert certificate["attributes"] == {"Course Name": "Machine; Learning", "Grade": "Excellent"}

    results = client.get(f"/api/jobs/{data['jobId']}/results.csv", headers=issuer.headers)
    assert results.status_code == 200
    assert results.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(results.content.decode("utf-8-sig"))))
    assert table[0] == [
        "Full name", "E-mail", "Course", "Grade", "Internal",
        "status", "certificateId", "errorCode", "errorMessage",
    ]  # fmt: skip
    assert table[1][:6] == [
        "Ada Obi",
        "ada@example.com",
        "Machine; Learning",
        "Excellent",
        "x",
        "issued",
    ]
    assert table[1][6] == issued[0]["certificateId"]
    assert table[2][0] == "Bola\nAde" and table[2][5] == "failed" and table[2][7]


def test_excel_exports_are_read_by_their_delimiter_or_told_to_be_saved_as_utf8(
    client: httpx.Client, make_account, worker: JobWorker
) -> None:
    issuer = make_issuer(client, make_account(credits=10))
    # Excel writes a "sep=;" line where the list separator is not a comma; tab-separated
    # text is what "Text (Tab delimited)" gives. Both are read, and line numbers count
    # every line of the file.
    sep = "sep=;\r\nname;email;Course Name;Grade\r\nAda Obi;ada@example.com;Physics, Year 2;A\r\n"
    tabs = (
        "name\temail\tCourse Name\tGrade\nBola Ade\tbola@example.com\tMachine; Learning, 101\tB\n"
    )
    for text, course, grade in (
        (sep, "Physics, Year 2", "A"),
        (tabs, "Machine; Learning, 101", "B"),
    ):
        response = _csv_upload(client, issuer, text.encode())
        assert response.status_code == 202, response.text
        data = response.json()["data"]
        assert data["counts"] == {**data["counts"], "total": 1, "valid": 1}, data
        worker.drain()
        [row] = all_rows(client, issuer.headers, data["jobId"], "issued")
        certificate = client.get(
            f"/api/certificates/{row['certificateId']}", headers=issuer.headers
        ).json()["data"]
        assert certificate["attributes"] == {"Course Name": course, "Grade": grade}
    broken = "sep=;\nname;email;Course Name;Grade\nAda;a@example.com;P;A\nBo;b@example.com;x;y;z\n"
    response = _csv_upload(client, issuer, broken.encode())
    assert response.status_code == 400 and "line 4:" in response.json()["message"], response.text
    # Excel's "Unicode Text" is UTF-16: named as such, not as a line of bad UTF-8.
    unicode_text = "name\temail\tCourse Name\nJosé\tjose@example.com\tPhysics\n"
    response = _csv_upload(client, issuer, unicode_text.encode("utf-16"))
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "malformed_file"
    assert "UTF-16" in response.json()["message"] and "CSV UTF-8" in response.json()["message"]
    assert balance(client, issuer.headers) == 8


def test_an_xlsx_file_is_issued_like_a_csv(
    client: httpx.Client, make_account, worker: JobWorker
) -> None:
    issuer = make_issuer(client, make_account(credits=10))
    book = Workbook()
    sheet = book.active
    sheet.append(["name", "email", "Course Name", "Grade"])
    sheet.append(["Chidi Okafor", "chidi@example.com", "Chemistry", 1])
    sheet.append(["Ngozi Eze", "ngozi@example.com", "Biology", 2.5])
    buffer = io.BytesIO()
    book.save(buffer)
    response = _csv_upload(client, issuer, buffer.getvalue(), file_name="class.xlsx")
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert data["counts"]["valid"] == 2
    worker.drain()
    issued = all_rows(client, issuer.headers, data["jobId"], "issued")
    attributes = [
        client.get(f"/api/certificates/{r['certificateId']}", headers=issuer.headers).json()[
            "data"
        ]["attributes"]
        for r in issued
    ]
    assert attributes == [
        {"Course Name": "Chemistry", "Grade": "1"},
        {"Course Name": "Biology", "Grade": "2.5"},
    ]
    assert balance(client, issuer.headers) == 8


def test_a_malformed_file_is_a_400_naming_the_line_and_creates_nothing(
    client: httpx.Client, make_account
) -> None:
    issuer = make_issuer(client, make_account(credits=10))
    text = "name,email,Course Name,Grade\nAda,ada@example.com,Physics,A\nBola,b@example.com,x,y,z\n"
    response = _csv_upload(client, issuer, text.encode())
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "malformed_file"
    assert "line 3" in response.json()["message"]
    latin1 = "name,email\nJos\xe9,jose@example.com\n".encode("latin-1")
    response = _csv_upload(client, issuer, latin1)
    assert response.status_code == 400 and "line 2" in response.json()["message"]
    response = _csv_upload(client, issuer, b"PK\x03\x04 not a workbook", file_name="x.xlsx")
    assert response.status_code == 400 and response.json()["code"] == "malformed_file"
    good = "name,email,Course Name,Grade\nAda,ada@example.com,Physics,A\n"
    response = _csv_upload(client, issuer, good.encode(), mapping='{"Nope": "name"}')
    assert response.status_code == 400 and "Nope" in response.json()["message"]
    assert client.get("/api/jobs", headers=issuer.headers).json()["data"] == []
    assert balance(client, issuer.headers) == 10


def test_a_file_without_a_name_or_email_column_is_refused_with_the_mapping_to_send(
    client: httpx.Client, make_account
) -> None:
    issuer = make_issuer(client, make_account(credits=10))
    text = "Full Name,Email Address,Course Name,Grade\nAda Obi,ada@example.com,Physics,A\n"
    response = _csv_upload(client, issuer, text.encode())
    assert response.status_code == 400, response.text
    assert response.json()["errors"] == [
        {
            "field": "mapping",
            "message": 'no column gives the name: add a "name" column or map one to "name" '
            '(for example "mapping": {"Full Name": "name"})',
        }
    ]
    # Emailed: every row would fail for want of an address, so the file is refused whole.
    mail = json.dumps({"subject": "Your certificate", "body": "Dear {{name}}"})
    mapped = '{"Full Name": "name"}'
    response = _csv_upload(client, issuer, text.encode(), mapping=mapped, mailData=mail)
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert message.startswith("mapping: no column gives the email (mailData sends"), message
    assert message.endswith('(for example "mapping": {"Email Address": "email"})'), message
    # Not emailed, a file without addresses is fine.
    response = _csv_upload(client, issuer, text.encode(), mapping=mapped)
    assert response.status_code == 202, response.text
    assert response.json()["data"]["counts"]["valid"] == 1


def test_duplicates_against_live_certificates_follow_the_policy(
    client: httpx.Client, make_account, worker: JobWorker
) -> None:
    issuer = make_issuer(client, make_account(credits=20))
    single = client.post(
        "/api/certificates/issue",
        json=issuer.body(
            recipientData={
                "name": "Student 0",
                "email": "student0@example.com",
                "attributes": ATTRIBUTES,
            }
        ),
        headers=issuer.headers,
    )
    assert single.status_code == 201, single.text
    rows = recipients(3)

    denied = client.post(
        "/api/certificates/bulk",
        json=bulk_body(issuer, rows, options={"duplicates": "deny"}),
        headers=issuer.headers,
    )
    assert denied.status_code == 409, denied.text
    assert denied.json()["code"] == "duplicate_recipients"
    assert denied.json()["errors"][0]["field"] == "rows.1.email"

    skipped = client.post(
        "/api/certificates/bulk",
        json=bulk_body(issuer, rows, options={"duplicates": "skip"}),
        headers=issuer.headers,
    )
    assert skipped.status_code == 202, skipped.text
    assert skipped.json()["data"]["counts"]["skipped"] == 1
    worker.drain()
    done = job(client, issuer.headers, skipped.json()["data"]["jobId"])
    assert done["counts"]["issued"] == 2 and done["counts"]["skipped"] == 1
    assert balance(client, issuer.headers) == 20 - 1 - 2

    allowed = client.post(
        "/api/certificates/bulk", json=bulk_body(issuer, rows[:1]), headers=issuer.headers
    )
    assert allowed.status_code == 202
    worker.drain()
    assert job(client, issuer.headers, allowed.json()["data"]["jobId"])["counts"]["issued"] == 1


def test_the_same_idempotency_key_returns_the_same_job_and_issues_once(
    client: httpx.Client, make_account, worker: JobWorker
) -> None:
    issuer = make_issuer(client, make_account(credits=20))
    body = bulk_body(issuer, recipients(5))
    headers = {**issuer.headers, "Idempotency-Key": "class-2025-batch-1"}
    first = client.post("/api/certificates/bulk", json=body, headers=headers)
    again = client.post("/api/certificates/bulk", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["data"]["jobId"] == first.json()["data"]["jobId"]
    other = client.post(
        "/api/certificates/bulk", json=bulk_body(issuer, recipients(4)), headers=headers
    )
    assert other.status_code == 422
    worker.drain()
    assert len(client.get("/api/jobs", headers=issuer.headers).json()["data"]) == 1
    assert balance(client, issuer.headers) == 15


def test_cancel_stops_the_job_before_its_next_chunk(
    client: httpx.Client, make_account, worker: JobWorker
) -> None:
    issuer = make_issuer(client, make_account(credits=500))
    job_id = submit(client, issuer, 160)
    result = worker.run_once(job_id)  # one chunk of 50
    assert result is not None and result.issued == 50
    cancelled = client.post(f"/api/jobs/{job_id}/cancel", headers=issuer.headers)
    assert cancelled.status_code == 200, cancelled.text
    data = cancelled.json()["data"]
    assert data["status"] == "cancelled"
    assert data["counts"]["issued"] == 50 and data["counts"]["cancelled"] == 110
    worker.drain()
    assert job(client, issuer.headers, job_id)["counts"]["issued"] == 50
    assert balance(client, issuer.headers) == 450
    again = client.post(f"/api/jobs/{job_id}/cancel", headers=issuer.headers)
    assert again.status_code == 409


def test_credits_running_out_fail_the_rest_then_a_retry_after_a_top_up_finishes(
    client: httpx.Client, make_account, worker: JobWorker, db
) -> None:
    from akowe.credits import service as credits_service
    from akowe.modes import Mode

    account = make_account(credits=70)
    issuer = make_issuer(client, account)
    job_id = submit(client, issuer, 100)
    worker.drain()
    done = job(client, issuer.headers, job_id)
    assert done["status"] == "completed"
    assert done["counts"]["issued"] == 70 and done["counts"]["failed"] == 30
    failed = all_rows(client, issuer.headers, job_id, "failed")
    assert {r["errorCode"] for r in failed} == {"insufficient_credits"}
    assert [r["row"] for r in failed] == list(range(71, 101))
    assert balance(client, issuer.headers) == 0

    with db.begin() as session:
        credits_service.add(
            session, account_id=account.account_id, mode=Mode.LIVE, amount=40,
            reason="top-up", actor="tests",
        )  # fmt: skip
    retried = client.post(f"/api/jobs/{job_id}/retry", headers=issuer.headers)
    assert retried.status_code == 200, retried.text
    assert retried.json()["data"]["status"] == "queued"
    worker.drain()
    done = job(client, issuer.headers, job_id)
    assert done["counts"]["issued"] == 100 and done["counts"]["failed"] == 0
    assert balance(client, issuer.headers) == 10
    certificates = {r["certificateId"] for r in all_rows(client, issuer.headers, job_id)}
    assert len(certificates) == 100


def test_another_accounts_job_is_not_found(
    client: httpx.Client, make_account, worker: JobWorker
) -> None:
    issuer = make_issuer(client, make_account(credits=10))
    other = make_account(credits=10)
    job_id = submit(client, issuer, 2)
    for method, path in (
        ("GET", f"/api/jobs/{job_id}"),
        ("GET", f"/api/jobs/{job_id}/rows"),
        ("GET", f"/api/jobs/{job_id}/results.csv"),
        ("POST", f"/api/jobs/{job_id}/cancel"),
        ("POST", f"/api/jobs/{job_id}/retry"),
    ):
        answer = client.request(method, path, headers=other.headers())
        assert answer.status_code == 404, (path, answer.text)
        assert answer.json()["success"] is False
    assert client.get("/api/jobs", headers=other.headers()).json()["data"] == []
    # Another account's organization cannot be bulk-issued from either.
    stolen = client.post(
        "/api/certificates/bulk", json=bulk_body(issuer, recipients(1)), headers=other.headers()
    )
    assert stolen.status_code == 404


def test_a_small_job_submitted_after_a_big_one_is_served_in_turn(
    client: httpx.Client, make_account, worker: JobWorker
) -> None:
    worker.drain()  # jobs other tests left queued would take turns too
    big = make_issuer(client, make_account(credits=3000))
    small = make_issuer(client, make_account(credits=20))
    first = client.post(
        "/api/certificates/bulk", json=bulk_body(big, recipients(2000)), headers=big.headers
    )
    assert first.status_code == 202
    big_id = first.json()["data"]["jobId"]
    while job(client, big.headers, big_id)["status"] != "running":
        worker.run_once()  # its rows are checked (over 1,000: after the answer), then issued
    before = job(client, big.headers, big_id)["counts"]["issued"]
    assert before == 50  # one chunk
    second = client.post(
        "/api/certificates/bulk", json=bulk_body(small, recipients(10)), headers=small.headers
    )
    small_id = second.json()["data"]["jobId"]
    served = [worker.run_once(), worker.run_once()]
    assert small_id in {r.job_id for r in served if r is not None}
    assert job(client, small.headers, small_id)["status"] == "completed"
    big_job = job(client, big.headers, big_id)
    assert big_job["counts"]["issued"] == 100 and big_job["status"] == "running"
    worker.drain()
    assert job(client, big.headers, big_id)["counts"]["issued"] == 2000


def test_a_subaccounts_job_is_its_own_and_its_certificates_are_too(
    client: httpx.Client, make_account, worker: JobWorker, db
) -> None:
    from akowe.accounts import service as accounts_service
    from tests.certificates.conftest import make_template

    account = make_account(credits=10)
    with db.begin() as session:
        for email in ("a@team.example", "b@team.example"):
            accounts_service.add_subaccount(session, account_id=account.account_id, email=email)
    issuer = make_issuer(client, account)
    a_headers = account.headers(**{"x-subaccount-email": "a@team.example"})
    b_headers = account.headers(**{"x-subaccount-email": "b@team.example"})
    body = bulk_body(issuer, recipients(2))
    body["templateId"] = make_template(client, a_headers, "A's design")
    assert client.post("/api/certificates/bulk", json=body, headers=b_headers).status_code == 404
    response = client.post("/api/certificates/bulk", json=body, headers=a_headers)
    assert response.status_code == 202, response.text
    job_id = response.json()["data"]["jobId"]
    assert response.json()["data"]["subAccountEmail"] == "a@team.example"
    worker.drain()
    assert client.get(f"/api/jobs/{job_id}", headers=b_headers).status_code == 404
    assert [j["jobId"] for j in client.get("/api/jobs", headers=b_headers).json()["data"]] == []
    assert job(client, a_headers, job_id)["counts"]["issued"] == 2
    assert job(client, issuer.headers, job_id)["status"] == "completed"  # the whole account
    row = all_rows(client, a_headers, job_id)[0]
    certificate = client.get(f"/api/certificates/{row['certificateId']}", headers=a_headers)
    assert certificate.json()["data"]["subAccountEmail"] == "a@team.example"
    assert balance(client, issuer.headers) == 8  # one balance, shared


def test_a_finished_job_queues_one_job_completed_webhook_event(
    client: httpx.Client, make_account, worker: JobWorker, db
) -> None:
    from sqlalchemy import select

    from akowe.delivery.models import OutboxMessage, WebhookEndpoint

    account = make_account(credits=10)
    issuer = make_issuer(client, account)
    with db.begin() as session:
        session.add(
            WebhookEndpoint(
                account_id=account.account_id,
                mode="live",
                url="https://hooks.example/akowe",
                events=["job.completed"],
                secret="whsec-test",
            )
        )
    job_id = submit(client, issuer, 3)
    worker.drain()
    worker.drain()  # nothing left: the event is not queued twice
    with db() as session:
        queued = [
            m.payload
            for m in session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.account_id == account.account_id, OutboxMessage.kind == "event"
                )
            )
        ]
    events = [p for p in queued if p["event"] == "job.completed"]
    assert len(events) == 1
    assert events[0]["data"]["jobId"] == job_id
    assert events[0]["data"]["status"] == "completed"
    assert events[0]["data"]["counts"]["issued"] == 3
    # The rows' own events too (the chunk asks once whether the account has an endpoint).
    issued = sorted(
        p["data"]["certificateId"] for p in queued if p["event"] == "certificate.issued"
    )
    rows = sorted(r["certificateId"] for r in all_rows(client, issuer.headers, job_id))
    assert issued == rows and len(rows) == 3


def test_a_job_of_an_account_without_webhook_endpoints_queues_no_events(
    client: httpx.Client, make_account, worker: JobWorker, db
) -> None:
    from sqlalchemy import func, select

    from akowe.delivery.models import OutboxMessage

    account = make_account(credits=10)
    issuer = make_issuer(client, account)
    job_id = submit(client, issuer, 3)
    worker.drain()
    assert job(client, issuer.headers, job_id)["counts"]["issued"] == 3
    with db() as session:
        kinds = dict(
            session.execute(
                select(OutboxMessage.kind, func.count())
                .where(OutboxMessage.account_id == account.account_id)
                .group_by(OutboxMessage.kind)
            ).all()
        )
    assert "event" not in kinds
    assert kinds["credential"] == 3  # the rows were recorded with their other messages


def test_a_bulk_request_without_a_body_says_what_to_send(
    client: httpx.Client, make_account
) -> None:
    account = make_account(credits=1)
    response = client.post("/api/certificates/bulk", headers=account.headers())
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and body["code"] == "validation_error"
    assert "recipients" in body["message"] and "file" in body["message"]
    keyless = client.post("/api/certificates/bulk", content=b"{}")
    assert keyless.status_code == 401


def test_erasing_a_bulk_issued_certificate_erases_its_job_row_input(
    client: httpx.Client, make_account, worker: JobWorker
) -> None:
    issuer = make_issuer(client, make_account(credits=10))
    rows = recipients(2, domain="erase.example")
    rows[0]["name"] = "Temitope Forgetme"
    response = client.post(
        "/api/certificates/bulk", json=bulk_body(issuer, rows), headers=issuer.headers
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["data"]["jobId"]
    assert worker.drain() == 2
    first, _ = all_rows(client, issuer.headers, job_id, "issued")
    erased = client.post(
        f"/api/certificates/{first['certificateId']}/erase", headers=issuer.headers
    )
    assert erased.status_code == 200, erased.text

    results = client.get(f"/api/jobs/{job_id}/results.csv", headers=issuer.headers)
    assert results.status_code == 200
    assert "Forgetme" not in results.text and "student0@erase.example" not in results.text
    assert "student1@erase.example" in results.text  # the other row keeps its input
    listed = client.get(f"/api/jobs/{job_id}/rows", headers=issuer.headers).text
    assert "Forgetme" not in listed and "student0@erase.example" not in listed
    assert first["certificateId"] in results.text  # the row's result stays
