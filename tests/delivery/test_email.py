"""Certificate emails reach a real SMTP server: content, retries, faults, test mode, resend."""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from akowe.certificates import service as certificates_service
from akowe.db.base import utcnow
from akowe.delivery.models import OutboxMessage
from akowe.delivery.worker import DeliveryWorker
from akowe.signing.models import Credential
from tests.certificates.conftest import Issuer, make_issuer
from tests.conftest import AccountFixture
from tests.delivery.conftest import (
    SmtpServer,
    certificate,
    free_port,
    issue,
    unique_email,
    wait_for,
)
from tests.storage.factories import SVG_LOGO, image_bytes

StartWorker = Callable[..., DeliveryWorker]


def _recipient(name: str, address: str) -> dict[str, Any]:
    return {
        "name": name,
        "email": address,
        "attributes": {"Course Name": "Machine Learning", "Grade": "Excellent"},
    }


def _status(client: httpx.Client, issuer: Issuer, cid: str, wanted: str) -> dict[str, Any]:
    return wait_for(  # type: ignore[no-any-return]
        lambda: (c := certificate(client, issuer, cid))["emailStatus"] == wanted and c
    )


def test_email_arrives_with_placeholders_both_parts_pdf_and_link(
    dclient: httpx.Client, dissuer: Issuer, smtp: SmtpServer, start_worker: StartWorker
) -> None:
    address = unique_email()
    name = "<script>alert('x')</script> Ada"
    issued = issue(
        dclient,
        dissuer,
        recipientData=_recipient(name, address),
        mailData={
            "templateId": dissuer.template_id,
            "subject": "Your {{Course Name}} certificate from {{organization}}",
            "body": "Dear {{name}},\n\nYou passed with {{ Grade }}.\n\nCheck: {{verificationUrl}}",
        },
    )
    assert issued["emailStatus"] == "queued"
    assert issued["delivery"] == {
        "status": "queued",
        "attempts": 0,
        "lastError": None,
        "sentAt": None,
    }
    start_worker(smtp_url=smtp.url)
    cid = issued["certificateId"]
    data = _status(dclient, dissuer, cid, "sent")
    assert data["delivery"]["status"] == "sent"
    assert data["delivery"]["attempts"] == 1
    assert data["delivery"]["lastError"] is None
    assert data["delivery"]["sentAt"].endswith("Z")

    [message] = smtp.sink.to(address)
    link = issued["verificationUrl"]
    assert link.endswith(f"/verify/{cid}")
    assert message["Subject"] == "Your Machine Learning certificate from Lagos Academy"
    assert message["From"] == "Lagos Academy <certificates@akowe.test>"
    assert message["Reply-To"] == "Lagos Academy <registrar@lagos.example>"
    assert message["To"] == address
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"]
    outbox_ids = {m["id"] for m in _messages(dclient, dissuer, cid)}
    assert message["Message-ID"] in {f"<{i}@akowe.test>" for i in outbox_ids}

    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    text_content, html_content = text.get_content(), html.get_content()
    assert f"Dear {name}," in text_content
    assert "You passed with Excellent." in text_content
    assert f"Check: {link}" in text_content
    assert "<script>" not in html_content
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Ada" in html_content
    assert f'href="{link}"' in html_content

    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"certificate-{cid}.pdf"
    pdf = PdfReader(io.BytesIO(attachment.get_content()))
    assert len(pdf.pages) == 1
    served = dclient.get(f"/api/certificates/{cid}/pdf", headers=dissuer.headers)
    assert served.content == attachment.get_content()


def _issued(
    client: httpx.Client, issuer: Issuer, name: str, count: int
) -> tuple[list[str], list[str]]:
    """`count` certificates issued to new addresses: the addresses and the certificate ids."""
    addresses = [unique_email() for _ in range(count)]
    ids = [
        issue(client, issuer, recipientData=_recipient(f"{name} {i}", address))["certificateId"]
        for i, address in enumerate(addresses)
    ]
    return addresses, ids


def _one_by_one(*args: Any, **kwargs: Any) -> bytes:
    # One by one, a worker renders through certificates.service.pdf: a batch must not.
    raise AssertionError("an email of the batch was rendered one by one")


@pytest.mark.parametrize("processes", [0, 1], ids=["in-thread", "worker-process"])
def test_a_batch_of_emails_each_carries_its_own_pdf_rendered_in_the_worker_processes(
    dclient: httpx.Client,
    dissuer: Issuer,
    smtp: SmtpServer,
    start_worker: StartWorker,
    monkeypatch: pytest.MonkeyPatch,
    processes: int,
) -> None:
    addresses, ids = _issued(dclient, dissuer, "Student", 5)
    revoked = dclient.post(
        f"/api/certificates/{ids[-1]}/revoke", headers=dissuer.headers, json={"reason": "typo"}
    )
    assert revoked.status_code == 200, revoked.text

    monkeypatch.setattr(certificates_service, "pdf", _one_by_one)
    worker = start_worker(
        run=False, smtp_url=smtp.url, worker_processes=processes, worker_concurrency=2
    )
    worker.drain()
    monkeypatch.undo()  # the download route below renders through it (same process)
    if processes:
        assert worker.worker_processes is not None
        executor = worker.worker_processes._executor
        assert executor is not None and len(executor._processes) == 1
    for cid, address in zip(ids[:-1], addresses[:-1], strict=True):
        assert certificate(dclient, dissuer, cid)["delivery"]["status"] == "sent"
        [message] = smtp.sink.to(address)
        assert message["X-Akowe-Certificate-Id"] == cid
        [attachment] = list(message.iter_attachments())
        assert attachment.get_filename() == f"certificate-{cid}.pdf"
        served = dclient.get(f"/api/certificates/{cid}/pdf", headers=dissuer.headers)
        assert served.status_code == 200
        assert served.content == attachment.get_content()  # rendered again: the same bytes
    delivery = certificate(dclient, dissuer, ids[-1])["delivery"]
    assert delivery["status"] == "failed"
    assert "revoked before delivery" in delivery["lastError"]
    assert smtp.sink.to(addresses[-1]) == []


def test_a_batch_of_emails_signs_the_credentials_it_finds_missing_first(
    dclient: httpx.Client,
    dissuer: Issuer,
    ddb: sessionmaker[Session],
    smtp: SmtpServer,
    start_worker: StartWorker,
) -> None:
    addresses, ids = _issued(dclient, dissuer, "Signer", 3)
    # Their signing messages are not due (say, retrying later): the batch claims the emails
    # alone, and a PDF without its credential must never be sent.
    with ddb.begin() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.certificate_id.in_(ids), OutboxMessage.kind == "credential")
            .values(status="retrying", next_attempt_at=utcnow() + timedelta(hours=1))
        )
    with pytest.MonkeyPatch.context() as patch:  # the batch, not the one-by-one path
        patch.setattr(certificates_service, "pdf", _one_by_one)
        start_worker(run=False, smtp_url=smtp.url, worker_processes=1).drain()
    for cid, address in zip(ids, addresses, strict=True):
        [message] = smtp.sink.to(address)
        [attachment] = list(message.iter_attachments())
        reader = PdfReader(io.BytesIO(attachment.get_content()))
        credential = json.loads(reader.attachments["credential.json"][0])
        assert credential["id"].endswith(f"/{cid}/credential")
        served = dclient.get(f"/api/public/certificates/{cid}/credential")
        assert served.status_code == 200 and served.json() == credential


def test_credentials_are_signed_before_any_email_is_sent(
    dclient: httpx.Client,
    dissuer: Issuer,
    ddb: sessionmaker[Session],
    smtp: SmtpServer,
    start_worker: StartWorker,
) -> None:
    addresses, ids = _issued(dclient, dissuer, "First", 4)

    def signed() -> int:
        with ddb() as session:
            found = session.scalars(
                select(Credential.certificate_id).where(Credential.certificate_id.in_(ids))
            )
            return len(set(found))

    # Batches of 2: claimed oldest first, the first would hold a credential and its email.
    worker = start_worker(run=False, smtp_url=smtp.url, worker_batch_size=2)
    for _ in range(50):
        if signed() == len(ids):
            break
        assert worker.run_once(), "the worker found nothing to do before signing all four"
    assert signed() == len(ids)
    assert all(smtp.sink.to(address) == [] for address in addresses)
    worker.drain()
    assert all(len(smtp.sink.to(address)) == 1 for address in addresses)


def _messages(client: httpx.Client, issuer: Issuer, cid: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/certificates/{cid}/messages", headers=issuer.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


def test_smtp_down_at_issue_time_is_retried_until_it_is_up(
    dclient: httpx.Client, dissuer: Issuer, start_worker: StartWorker
) -> None:
    address = unique_email()
    down = SmtpServer(port=free_port())
    cid = issue(dclient, dissuer, recipientData=_recipient("Bola", address))["certificateId"]
    worker = start_worker(run=False, smtp_url=down.url)
    worker.run_once()
    data = certificate(dclient, dissuer, cid)
    assert data["emailStatus"] == "retrying"
    assert data["delivery"]["attempts"] == 1
    assert "SMTP connection failed" in data["delivery"]["lastError"]
    down.start()
    try:
        worker.start()
        data = _status(dclient, dissuer, cid, "sent")
        assert data["delivery"]["attempts"] >= 2
        assert len(down.sink.to(address)) == 1
    finally:
        worker.stop()
        down.stop()


def test_temporary_smtp_refusal_is_retried_then_delivered(
    dclient: httpx.Client, dissuer: Issuer, smtp: SmtpServer, start_worker: StartWorker
) -> None:
    address = unique_email()
    smtp.sink.refusals.append("451 4.3.0 Try again later")
    cid = issue(dclient, dissuer, recipientData=_recipient("Chi", address))["certificateId"]
    start_worker(smtp_url=smtp.url)
    data = _status(dclient, dissuer, cid, "sent")
    assert data["delivery"]["attempts"] == 2
    assert len(smtp.sink.to(address)) == 1


def test_attempts_are_bounded_then_failed_with_the_last_error(
    dclient: httpx.Client, dissuer: Issuer, smtp: SmtpServer, start_worker: StartWorker
) -> None:
    address = unique_email()
    smtp.sink.refuse_always = "452 4.2.2 Mailbox full"
    cid = issue(dclient, dissuer, recipientData=_recipient("Dayo", address))["certificateId"]
    start_worker(smtp_url=smtp.url, delivery_max_attempts=3)
    data = _status(dclient, dissuer, cid, "failed")
    assert data["delivery"]["attempts"] == 3
    assert data["delivery"]["lastError"].startswith("SMTP 452")
    assert "Mailbox full" in data["delivery"]["lastError"]
    assert smtp.sink.to(address) == []


def test_permanent_smtp_rejection_fails_at_once(
    dclient: httpx.Client, dissuer: Issuer, smtp: SmtpServer, start_worker: StartWorker
) -> None:
    smtp.sink.refuse_always = "550 5.1.1 No such user"
    cid = issue(dclient, dissuer, recipientData=_recipient("Efe", unique_email()))["certificateId"]
    start_worker(smtp_url=smtp.url)
    data = _status(dclient, dissuer, cid, "failed")
    assert data["delivery"]["attempts"] == 1
    assert "550" in data["delivery"]["lastError"]


def test_a_non_ascii_address_is_sent_with_smtputf8_or_fails_clearly(
    dclient: httpx.Client, dissuer: Issuer, start_worker: StartWorker
) -> None:
    address = f"adéwálé.{uuid.uuid4().hex[:8]}@example.org"
    modern, old = SmtpServer(smtputf8=True).start(), SmtpServer().start()
    try:
        cid = issue(dclient, dissuer, recipientData=_recipient("Adéwálé", address))["certificateId"]
        worker = start_worker(smtp_url=old.url)
        failed = _status(dclient, dissuer, cid, "failed")["delivery"]
        assert "SMTPUTF8" in failed["lastError"] and failed["attempts"] == 1
        assert old.sink.messages == []
        worker.stop()
        resent = dclient.post(f"/api/certificates/{cid}/resend", headers=dissuer.headers, json={})
        assert resent.status_code == 202, resent.text
        start_worker(smtp_url=modern.url)
        _status(dclient, dissuer, cid, "sent")
        [message] = modern.sink.to(address)
        assert message["To"] == address
        assert message["Subject"]
        [attachment] = list(message.iter_attachments())
        served = dclient.get(f"/api/certificates/{cid}/pdf", headers=dissuer.headers)
        assert served.content == attachment.get_content()
    finally:
        modern.stop()
        old.stop()


def test_test_mode_email_is_captured_and_never_sent(
    dclient: httpx.Client, daccount: AccountFixture, smtp: SmtpServer, start_worker: StartWorker
) -> None:
    sandbox = make_issuer(dclient, daccount, test=True)
    address = unique_email()
    issued = issue(
        dclient,
        sandbox,
        recipientData=_recipient("Femi <b>", address),
        mailData={
            "templateId": sandbox.template_id,
            "subject": "Hi {{name}}",
            "body": "Open {{verificationUrl}}",
        },
    )
    cid = issued["certificateId"]
    start_worker(smtp_url=smtp.url)
    data = _status(dclient, sandbox, cid, "captured")
    assert data["test"] is True
    assert data["delivery"]["status"] == "captured"
    [captured] = _messages(dclient, sandbox, cid)
    assert captured["status"] == "captured"
    assert captured["to"] == address
    assert captured["subject"] == "Hi Femi <b>"
    assert f"Open {issued['verificationUrl']}" in captured["text"]
    assert "<b>" not in captured["html"]
    assert "<title>Hi Femi &lt;b&gt;</title>" in captured["html"]
    assert captured["messageId"] == f"<{captured['id']}@akowe.test>"
    assert smtp.sink.data_commands == 0
    # Live keys do not see sandbox certificates or their messages.
    live = dclient.get(f"/api/certificates/{cid}/messages", headers=daccount.headers())
    assert live.status_code == 404


def test_resend_to_a_corrected_address(
    dclient: httpx.Client, dissuer: Issuer, smtp: SmtpServer, start_worker: StartWorker
) -> None:
    wrong, right = unique_email(), unique_email()
    cid = issue(dclient, dissuer, recipientData=_recipient("Gbenga", wrong))["certificateId"]
    worker = start_worker(smtp_url=smtp.url)
    _status(dclient, dissuer, cid, "sent")
    worker.stop()

    response = dclient.post(
        f"/api/certificates/{cid}/resend", headers=dissuer.headers, json={"email": right}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["message"] == "Certificate email has been queued"
    assert body["data"]["recipientEmail"] == right
    assert body["data"]["emailStatus"] == "queued"
    assert body["data"]["delivery"]["attempts"] == 0

    start_worker(smtp_url=smtp.url)
    _status(dclient, dissuer, cid, "sent")
    [first] = smtp.sink.to(wrong)
    [second] = smtp.sink.to(right)
    assert first["Message-ID"] != second["Message-ID"]
    assert [m["status"] for m in _messages(dclient, dissuer, cid)] == ["sent", "sent"]

    bare = dclient.post(f"/api/certificates/{cid}/resend", headers=dissuer.headers)
    assert bare.status_code == 202, bare.text
    invalid = dclient.post(
        f"/api/certificates/{cid}/resend", headers=dissuer.headers, json={"email": "nope"}
    )
    assert invalid.status_code == 400
    assert invalid.json()["code"] == "validation_error"


def test_resend_of_a_revoked_certificate_is_refused(dclient: httpx.Client, dissuer: Issuer) -> None:
    cid = issue(dclient, dissuer, recipientData=_recipient("Hauwa", unique_email()))[
        "certificateId"
    ]
    revoked = dclient.post(
        f"/api/certificates/{cid}/revoke", headers=dissuer.headers, json={"reason": "error"}
    )
    assert revoked.status_code == 200
    response = dclient.post(f"/api/certificates/{cid}/resend", headers=dissuer.headers, json={})
    assert response.status_code == 409
    assert response.json() == {
        "success": False,
        "message": "The certificate has been revoked and cannot be resent",
        "code": "certificate_revoked",
    }
    missing = dclient.post(
        "/api/certificates/00000000-0000-4000-8000-000000000000/resend", headers=dissuer.headers
    )
    assert missing.status_code == 404


def test_revoke_get_and_list_show_the_same_delivery(
    dclient: httpx.Client, dissuer: Issuer, smtp: SmtpServer, start_worker: StartWorker
) -> None:
    address = unique_email()
    cid = issue(dclient, dissuer, recipientData=_recipient("Ngozi", address))["certificateId"]
    start_worker(smtp_url=smtp.url)
    sent = _status(dclient, dissuer, cid, "sent")["delivery"]
    assert sent["attempts"] == 1 and sent["sentAt"]
    revoked = dclient.post(
        f"/api/certificates/{cid}/revoke", headers=dissuer.headers, json={"reason": "duplicate"}
    )
    assert revoked.status_code == 200, revoked.text
    listed = dclient.get("/api/certificates", headers=dissuer.headers).json()["data"]
    [in_list] = [c for c in listed if c["certificateId"] == cid]
    got = certificate(dclient, dissuer, cid)
    assert revoked.json()["data"]["delivery"] == got["delivery"] == in_list["delivery"] == sent


def test_the_organization_logo_is_inline_in_the_email(
    dclient: httpx.Client, daccount: AccountFixture, smtp: SmtpServer, start_worker: StartWorker
) -> None:
    logo = image_bytes(1200, 600, "PNG", "#e01010")
    issuer = make_issuer(dclient, daccount)
    dclient.patch(
        f"/api/profile/organization/{issuer.organization_id}",
        headers=issuer.headers,
        json={"logo": "data:image/png;base64," + base64.b64encode(logo).decode()},
    )
    address = unique_email()
    issued = issue(
        dclient,
        issuer,
        recipientData=_recipient("Ada", address),
        mailData={"templateId": issuer.template_id, "subject": "Hi", "body": "Well done"},
    )
    start_worker(smtp_url=smtp.url)
    _status(dclient, issuer, issued["certificateId"], "sent")
    [message] = smtp.sink.to(address)
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    cid = f"logo.{issued['certificateId']}@akowe"
    assert f'src="cid:{cid}"' in html.get_content()
    [image] = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert image["Content-ID"] == f"<{cid}>"
    assert image.get_content_disposition() == "inline"
    inline = Image.open(io.BytesIO(image.get_content()))
    assert inline.size == (320, 160)  # scaled to fit 480x160, proportions kept
    assert inline.convert("RGB").getpixel((10, 10)) == (224, 16, 16)
    # The PDF is still the one attachment.
    assert [a.get_content_type() for a in message.iter_attachments()] == ["application/pdf"]


def test_an_svg_logo_is_left_out_of_the_email(
    dclient: httpx.Client, daccount: AccountFixture, smtp: SmtpServer, start_worker: StartWorker
) -> None:
    issuer = make_issuer(dclient, daccount)
    dclient.patch(
        f"/api/profile/organization/{issuer.organization_id}",
        headers=issuer.headers,
        json={"logo": "data:image/svg+xml;base64," + base64.b64encode(SVG_LOGO).decode()},
    )
    address = unique_email()
    issued = issue(
        dclient,
        issuer,
        recipientData=_recipient("Ada", address),
        mailData={"templateId": issuer.template_id, "subject": "Hi", "body": "Well done"},
    )
    start_worker(smtp_url=smtp.url)
    _status(dclient, issuer, issued["certificateId"], "sent")
    [message] = smtp.sink.to(address)
    assert not [part for part in message.walk() if part.get_content_maintype() == "image"]
    html = message.get_body(preferencelist=("html",))
    assert html is not None and "cid:" not in html.get_content()
