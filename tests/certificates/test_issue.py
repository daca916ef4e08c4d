"""POST /api/certificates/issue: the documented shape, one credit, nothing lost or doubled."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from akowe.certificates.models import Certificate
from akowe.credits import service as credits_service
from akowe.delivery.models import OutboxMessage
from akowe.modes import Mode
from tests.certificates.conftest import Issuer, make_issuer, make_template

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def balance(client: httpx.Client, headers: dict[str, str]) -> int:
    return int(client.get("/api/users/balance", headers=headers).json()["data"]["balance"])


def count_certificates(db, account_id: str) -> int:
    with db() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Certificate)
                .where(Certificate.account_id == account_id)
            )
            or 0
        )


def test_reference_example_issues_with_the_documented_shape(
    client: httpx.Client, issuer: Issuer, settings, db
) -> None:
    response = client.post("/api/certificates/issue", headers=issuer.headers, json=issuer.body())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "Certificate issued successfully"
    data = body["data"]
    documented = {
        "certificateId",
        "recipientName",
        "recipientEmail",
        "organizationId",
        "templateId",
        "attributes",
        "status",
        "issuedAt",
        "verificationUrl",
        "pdfUrl",
        "emailStatus",
    }
    assert documented <= set(data)
    cid = data["certificateId"]
    assert UUID4.match(cid)
    assert data["recipientName"] == "John Doe"
    assert data["recipientEmail"] == "john@example.com"
    assert data["organizationId"] == issuer.organization_id
    assert data["templateId"] == issuer.template_id
    assert data["attributes"] == {"Course Name": "Machine Learning", "Grade": "Excellent"}
    assert data["status"] == "issued"
    assert TIMESTAMP.match(data["issuedAt"])
    assert data["verificationUrl"] == f"{settings.public_base_url}/verify/{cid}"
    assert data["pdfUrl"] == f"{settings.public_base_url}/api/certificates/{cid}/pdf"
    assert data["emailStatus"] == "queued"
    assert data["test"] is False
    assert balance(client, issuer.headers) == 9
    with db() as session:
        entry = credits_service.history(session, account_id=issuer.account.account_id)[0]
        assert (entry.amount, entry.reference) == (-1, cid)
        outbox = session.scalars(
            select(OutboxMessage).where(OutboxMessage.certificate_id == cid)
        ).all()
        # The email, and the signing of its credential (queued in the same transaction).
        assert sorted((m.kind, m.status, m.payload.get("to")) for m in outbox) == [
            ("credential", "queued", None),
            ("email", "queued", "john@example.com"),
        ]


def test_without_subject_and_body_no_email_is_queued(client: httpx.Client, issuer: Issuer) -> None:
    body = issuer.body(mailData={"templateId": issuer.template_id})
    response = client.post("/api/certificates/issue", headers=issuer.headers, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["data"]["emailStatus"] == "not_requested"


def test_top_level_template_id_extension(client: httpx.Client, issuer: Issuer) -> None:
    body = issuer.body(templateId=issuer.template_id)
    del body["mailData"]
    body["recipientData"].pop("email")
    response = client.post("/api/certificates/issue", headers=issuer.headers, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["data"]["recipientEmail"] is None


def test_not_enough_credits_is_402_and_records_nothing(
    client: httpx.Client, make_account, db
) -> None:
    account = make_account(credits=0)
    issuer = make_issuer(client, account)
    response = client.post("/api/certificates/issue", headers=issuer.headers, json=issuer.body())
    assert response.status_code == 402
    assert response.json()["code"] == "insufficient_credits"
    assert response.json()["success"] is False
    assert count_certificates(db, account.account_id) == 0
    with db() as session:
        assert credits_service.history(session, account_id=account.account_id) == []
        assert (
            session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.account_id == account.account_id)
            )
            == 0
        )


def test_another_accounts_organization_or_template_is_404(
    client: httpx.Client, issuer: Issuer, make_account, db
) -> None:
    other = make_issuer(client, make_account(credits=5))
    foreign_org = issuer.body(organizationId=other.organization_id)
    response = client.post("/api/certificates/issue", headers=issuer.headers, json=foreign_org)
    assert response.status_code == 404
    assert response.json()["message"] == "The requested organization could not be found"
    foreign_template = issuer.body()
    foreign_template["mailData"]["templateId"] = other.template_id
    response = client.post("/api/certificates/issue", headers=issuer.headers, json=foreign_template)
    assert response.status_code == 404
    assert balance(client, issuer.headers) == 10
    assert count_certificates(db, issuer.account.account_id) == 0


def test_validation_errors_name_the_field(client: httpx.Client, issuer: Issuer) -> None:
    cases = [
        (
            {
                "recipientData": {"email": "a@b.co"},
                "organizationId": issuer.organization_id,
                "templateId": issuer.template_id,
            },
            "recipientData.name",
        ),
        (issuer.body(recipientData={"name": "X", "email": "not-an-email"}), "recipientData.email"),
        (issuer.body(recipientData={"name": "X"}), "recipientData.email"),
        (issuer.body(mailData={"subject": "s", "body": "b"}), "mailData.templateId"),
        (
            issuer.body(recipientData={"name": "X", "attributes": {"a": {"nested": 1}}}),
            "recipientData.attributes",
        ),
    ]
    for body, field in cases:
        response = client.post("/api/certificates/issue", headers=issuer.headers, json=body)
        assert response.status_code == 400, (field, response.text)
        payload = response.json()
        assert payload["code"] == "validation_error"
        assert field in [e["field"] for e in payload["errors"]], payload
    assert balance(client, issuer.headers) == 10


def test_forty_parallel_issues_against_ten_credits(
    client: httpx.Client, make_account, db, server: str
) -> None:
    account = make_account(credits=10)
    issuer = make_issuer(client, account)

    def issue(_: int) -> int:
        with httpx.Client(base_url=server, timeout=60) as c:
            return c.post(
                "/api/certificates/issue", headers=issuer.headers, json=issuer.body()
            ).status_code

    with ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(issue, range(40)))
    assert statuses.count(201) == 10
    assert statuses.count(402) == 30
    assert balance(client, issuer.headers) == 0
    assert count_certificates(db, account.account_id) == 10
    with db() as session:
        assert (
            credits_service.ledger_sum(session, account_id=account.account_id, mode=Mode.LIVE) == 0
        )


def test_subaccount_issues_only_from_its_own_templates(
    client: httpx.Client, make_account, db
) -> None:
    from akowe.accounts import service as accounts_service

    account = make_account(credits=10)
    with db.begin() as session:
        for email in ("a@team.example", "b@team.example"):
            accounts_service.add_subaccount(session, account_id=account.account_id, email=email)
    issuer = make_issuer(client, account)
    a_headers = account.headers(**{"x-subaccount-email": "a@team.example"})
    b_headers = account.headers(**{"x-subaccount-email": "b@team.example"})
    a_template = make_template(client, a_headers, "A's design")

    body = issuer.body()
    body["mailData"]["templateId"] = a_template
    assert client.post("/api/certificates/issue", headers=b_headers, json=body).status_code == 404
    own = client.post("/api/certificates/issue", headers=a_headers, json=body)
    assert own.status_code == 201, own.text
    cid = own.json()["data"]["certificateId"]
    assert own.json()["data"]["subAccountEmail"] == "a@team.example"
    # the account's template is not the sub-account's: with the header it is a 404
    assert (
        client.post("/api/certificates/issue", headers=a_headers, json=issuer.body()).status_code
        == 404
    )

    def ids(headers: dict[str, str]) -> set[str]:
        return {
            c["certificateId"]
            for c in client.get("/api/certificates", headers=headers).json()["data"]
        }

    assert cid in ids(a_headers)
    assert cid not in ids(b_headers)
    assert cid in ids(issuer.headers)
    assert client.get(f"/api/certificates/{cid}", headers=b_headers).status_code == 404


def test_sandbox_certificates_never_mix_with_live(client: httpx.Client, make_account, db) -> None:
    account = make_account(credits=3, test_credits=3)
    sandbox = make_issuer(client, account, test=True)
    response = client.post("/api/certificates/issue", headers=sandbox.headers, json=sandbox.body())
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["test"] is True
    assert balance(client, sandbox.headers) == 2
    assert balance(client, account.headers()) == 3
    live = account.headers()
    assert client.get(f"/api/certificates/{data['certificateId']}", headers=live).status_code == 404
    assert client.get("/api/certificates", headers=live).json()["data"] == []
    # a live key cannot issue from sandbox resources
    assert (
        client.post("/api/certificates/issue", headers=live, json=sandbox.body()).status_code == 404
    )
