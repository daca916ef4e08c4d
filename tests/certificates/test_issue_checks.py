"""Issue-time checks: what would print blank or be emailed as written is refused before
anything is recorded or spent, each problem named; "" leaves a field blank on purpose."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from akowe.delivery import email
from tests.certificates.conftest import ATTRIBUTES, Issuer
from tests.certificates.test_issue import balance, count_certificates


def _issue(client: httpx.Client, issuer: Issuer, **recipient: Any) -> httpx.Response:
    mail = recipient.pop("mail", None)
    body = issuer.body()
    body["recipientData"] = {**body["recipientData"], **recipient}
    if mail is not None:
        body["mailData"] = {**body["mailData"], **mail}
    return client.post("/api/certificates/issue", headers=issuer.headers, json=body)


def _refused(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "validation_error"
    return body  # type: ignore[no-any-return]


def test_attributes_the_template_prints_must_be_sent(
    client: httpx.Client, issuer: Issuer, db
) -> None:
    spent_before = balance(client, issuer.headers)
    body = _refused(_issue(client, issuer, attributes={"Grade": "Excellent"}))
    assert body["message"] == (
        'recipientData.attributes lacks "Course Name", which the template prints '
        '(send "" to leave a field blank on purpose)'
    )
    assert body["errors"] == [
        {
            "field": "recipientData.attributes.Course Name",
            "message": 'is missing: the template prints it (send "" to leave it blank)',
        }
    ]
    assert balance(client, issuer.headers) == spent_before
    assert count_certificates(db, issuer.account.account_id) == 0


def test_every_missing_attribute_is_named_with_a_near_match(
    client: httpx.Client, issuer: Issuer
) -> None:
    body = _refused(_issue(client, issuer, attributes={"course name": "ML"}))
    assert '"Course Name" and "Grade"' in body["message"]
    fields = {e["field"]: e["message"] for e in body["errors"]}
    assert set(fields) == {"recipientData.attributes.Course Name", "recipientData.attributes.Grade"}
    assert fields["recipientData.attributes.Course Name"].endswith('did you mean "course name"?')


def test_an_empty_attribute_leaves_the_field_blank_on_purpose(
    client: httpx.Client, issuer: Issuer
) -> None:
    response = _issue(client, issuer, attributes={"Course Name": "Machine Learning", "Grade": ""})
    assert response.status_code == 201, response.text
    assert response.json()["data"]["attributes"]["Grade"] == ""


def test_attributes_no_field_prints_are_kept(client: httpx.Client, issuer: Issuer) -> None:
    response = _issue(client, issuer, attributes={**ATTRIBUTES, "Cohort": "2026"})
    assert response.status_code == 201, response.text
    assert response.json()["data"]["attributes"]["Cohort"] == "2026"


@pytest.mark.parametrize(
    ("mail", "field", "named"),
    [
        ({"subject": "Hello {{nmae}}"}, "mailData.subject", "{{nmae}}"),
        ({"body": "Your grade: {{Grad}} / {{Score}}"}, "mailData.body", "{{Grad}}, {{Score}}"),
    ],
)
def test_unknown_email_placeholders_are_refused_and_named(
    client: httpx.Client, issuer: Issuer, db, mail: dict[str, str], field: str, named: str
) -> None:
    body = _refused(_issue(client, issuer, mail=mail))
    [error] = body["errors"]
    assert error["field"] == field
    assert named in error["message"]
    # ... with what may be used instead: the built-ins and this recipient's attributes.
    for available in ("{{name}}", "{{organization}}", "{{verificationUrl}}", "{{Course Name}}"):
        assert available in error["message"]
    assert count_certificates(db, issuer.account.account_id) == 0


def test_every_documented_placeholder_is_accepted(client: httpx.Client, issuer: Issuer) -> None:
    text = " ".join("{{" + p + "}}" for p in email.BUILT_IN_PLACEHOLDERS)
    mail = {"subject": "{{ name }}: {{Course Name}}", "body": f"{text} {{{{Grade}}}}"}
    response = _issue(client, issuer, mail=mail)
    assert response.status_code == 201, response.text


def test_placeholders_are_not_checked_when_no_email_is_sent(
    client: httpx.Client, issuer: Issuer
) -> None:
    # A subject without a body sends no email (Akowe's rule), so nothing is filled.
    response = _issue(client, issuer, mail={"subject": "{{anything}}", "body": None})
    assert response.status_code == 201, response.text
    assert response.json()["data"]["emailStatus"] == "not_requested"


def test_a_refused_request_releases_its_idempotency_key(
    client: httpx.Client, issuer: Issuer
) -> None:
    headers = {**issuer.headers, "Idempotency-Key": "checks-1"}
    body = issuer.body()
    body["recipientData"]["attributes"] = {}
    refused = client.post("/api/certificates/issue", headers=headers, json=body)
    assert refused.status_code == 400
    fixed = client.post("/api/certificates/issue", headers=headers, json=issuer.body())
    assert fixed.status_code == 201, fixed.text


def test_the_built_in_placeholders_are_those_emails_fill() -> None:
    mail = email.CertificateMail(
        outbox_id="o",
        to="a@b.co",
        subject="",
        body="",
        recipient_name="Ada",
        organization_name="Lagos Academy",
        organization_email=None,
        verification_url="https://x/verify/1",
        attributes={},
        certificate_id="1",
        sent_at=None,  # type: ignore[arg-type]
    )
    assert set(email.placeholder_values(mail)) == set(email.BUILT_IN_PLACEHOLDERS)
