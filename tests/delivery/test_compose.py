"""Composing certificate emails: what a mail client reads back, whatever was composed before.

The composer remembers header objects, their header classes and how each folds (see
`akowe.delivery.email._RememberingHeaders`); these tests read messages back with the standard
library's parser, composed one after another in an order where a wrongly shared header or fold
would show: the same subject in an SMTPUTF8 message and then in a plain one.
"""

from __future__ import annotations

import email
import os
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default

from akowe.delivery.email import CertificateMail, outgoing

FROM = "certificates@akowe.example"
SUBJECT = "Ẹ kú oríire, {{recipientName}}: your {{Course}} certificate"


def _mail(number: int, to: str, name: str) -> CertificateMail:
    return CertificateMail(
        outbox_id=f"outbox-{number}",
        to=to,
        subject=SUBJECT,
        body="Dear {{recipientName}},\n\nyour certificate is attached.",
        recipient_name=name,
        organization_name="Ilé-Ẹ̀kọ́ Bench Academy",
        organization_email="office@bench.example",
        verification_url=f"https://verify.akowe.example/c/CERT-{number}",
        attributes={"Course": "Typography"},
        certificate_id=f"CERT-{number}",
        sent_at=datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
    )


def _read(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def _headers(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


def test_each_message_reads_back_with_its_own_headers_and_exact_pdf() -> None:
    pdfs = [os.urandom(size) for size in (0, 1, 56, 57, 58, 114, 190_001)]
    recipients = [
        ("adewale@example.com", "Adéwálé Ògúnlẹ̀"),
        ("zoe@example.com", "Zoë Brontë-Smith"),
        ("wang@example.com", "王小明"),
    ]
    for number, pdf in enumerate(pdfs):
        to, name = recipients[number % len(recipients)]
        sent = outgoing(_mail(number, to, name), pdf=pdf, mail_from=FROM)
        raw = sent.raw
        assert _headers(raw).isascii(), "without SMTPUTF8, headers are ASCII (RFC 2047)"
        assert b"\n" not in raw.replace(b"\r\n", b""), "every line ends in CRLF"
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998
        message = _read(raw)
        assert message["To"] == to
        assert message["Subject"] == f"Ẹ kú oríire, {name}: your Typography certificate"
        assert message["From"].addresses[0].display_name == "Ilé-Ẹ̀kọ́ Bench Academy"
        assert message["Message-ID"] == sent.message_id
        assert message["X-Akowe-Certificate-Id"] == f"CERT-{number}"
        (attachment,) = list(message.iter_attachments())
        assert attachment.get_filename() == f"certificate-CERT-{number}.pdf"
        assert attachment.get_content() == pdf
        encoded = attachment.get_payload(decode=False).splitlines()
        assert all(len(line) <= 76 for line in encoded)
        assert all(len(line) == 76 for line in encoded[:-1])
        text = message.get_body(("plain",))
        assert text is not None and f"Dear {name}," in text.get_content()


def test_an_smtputf8_message_then_a_plain_one_each_fold_their_own_way() -> None:
    name = "Adéwálé Ògúnlẹ̀"
    for _ in range(2):  # the second time round every header comes from the composer's memory
        international = outgoing(_mail(1, "adéwálé@exämple.com", name), pdf=b"%PDF", mail_from=FROM)
        plain = outgoing(_mail(2, "adewale@example.com", name), pdf=b"%PDF", mail_from=FROM)
        again = outgoing(_mail(3, "adéwálé@exämple.com", name), pdf=b"%PDF", mail_from=FROM)

        # SMTPUTF8 (RFC 6532): headers in UTF-8 as they are.
        for sent in (international, again):
            assert "Ẹ kú oríire".encode() in sent.raw
            assert _read(sent.raw)["To"] == sent.recipient
        # Without it the same subject must be RFC 2047 encoded words, never raw UTF-8.
        assert _headers(plain.raw).isascii()
        assert b"=?utf-8?" in _headers(plain.raw)
        assert _read(plain.raw)["Subject"] == f"Ẹ kú oríire, {name}: your Typography certificate"
