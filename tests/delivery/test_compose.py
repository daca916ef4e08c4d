"""Composing certificate emails: what a mail client reads back, whatever was composed before.

The composer remembers header objects, their header classes and how each folds (see
`akowe.delivery.email._RememberingHeaders`); these tests read messages back with the standard
library's parser, composed one after another in an order where a wrongly shared header or fold
would show: the same subject in an SMTPUTF8 message and then in a plain one.
"""

from __future__ import annotations

import base64
import email
import os
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import EmailPolicy, default

import pytest

from akowe.delivery.email import POLICY, CertificateMail, outgoing, shared_at, shared_lines
from akowe.rendering import CertificateData, TemplateSpec

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


_DESIGN = os.urandom(100_000)  # the start a design's PDFs share (its background)


@pytest.mark.parametrize("design", [b"", _DESIGN], ids=["small-pdfs", "pdfs-sharing-a-start"])
def test_a_text_carrying_a_boundary_gets_boundaries_of_its_own(design: bytes) -> None:
    """Boundaries are the composing process's own, the same in every message; a message
    whose text holds one (copied from an earlier email, say) must not be cut there. With
    PDFs that share their start, the check skips the shared base64 lines (no boundary can be
    in them) and still finds the boundaries in the text."""
    first = outgoing(_mail(1, "a@example.com", "Ada"), pdf=design + b"%first", mail_from=FROM).raw
    outgoing(_mail(1, "a@example.com", "Ada"), pdf=design + b"%again", mail_from=FROM)
    boundaries = [part.get_boundary() for part in _read(first).walk() if part.is_multipart()]
    assert len(boundaries) == 2 and all(boundaries), boundaries  # mixed, alternative
    body = "".join(f"Dear {{{{recipientName}}}},\n--{b}\n--{b}--\n" for b in boundaries)
    mail = replace(_mail(2, "b@example.com", "Bo"), subject="Plain", body=body)
    raw = outgoing(mail, pdf=design + b"%PDF-second", mail_from=FROM).raw
    assert (shared_at(raw, shared_lines()) > 0) == bool(design)
    message = _read(raw)
    used = [part.get_boundary() for part in message.walk() if part.is_multipart()]
    assert not set(used) & set(boundaries), used
    text = message.get_body(("plain",))
    assert text is not None
    for boundary in boundaries:
        assert f"--{boundary}--" in text.get_content()
    assert _pdf_of(raw) == design + b"%PDF-second"
    # And the next message is framed with the process's boundaries again.
    again = outgoing(_mail(3, "c@example.com", "Cy"), pdf=design + b"%third", mail_from=FROM).raw
    assert [p.get_boundary() for p in _read(again).walk() if p.is_multipart()] == boundaries


def _pdf_of(raw: bytes) -> bytes:
    (attachment,) = [p for p in _read(raw).walk() if p.get_content_type() == "application/pdf"]
    payload = attachment.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


def _attachment_lines(raw: bytes) -> list[bytes]:
    """The attachment's base64 lines as sent (between its headers and the closing boundary)."""
    part = raw[raw.index(b"Content-Disposition: attachment") :]
    body = part.split(b"\r\n\r\n", 1)[1]
    return body[: body.index(b"\r\n--")].rstrip(b"\r\n").split(b"\r\n")


def test_pdfs_sharing_their_start_are_encoded_exactly_whatever_came_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A design's PDFs begin with the same ~190 KB, whose base64 lines the composer keeps
    (`_base64_lines`). Starts shared at every alignment to a 57-byte line, PDFs longer and
    shorter than the kept start, one that differs in its last shared byte, and another
    design's in between: each reads back as its exact bytes, in lines of 76 characters."""
    encoded: list[int] = []
    real = base64.b64encode
    monkeypatch.setattr(
        "akowe.delivery.email.base64.b64encode",
        lambda data: encoded.append(len(data)) or real(data),
    )
    design = os.urandom(190_000)
    other = os.urandom(120_000)
    pdfs = []
    for extra in (0, 1, 56, 57, 58, 5_000):
        pdfs.append(design + os.urandom(extra))
        pdfs.append(design[:-1] + bytes([design[-1] ^ 1]) + os.urandom(extra))
        pdfs.append(design[: 190_000 - 57 * 3 - extra % 57])  # shorter than the kept start
    pdfs[7:7] = [other + b"a", other + b"b", other + b"c"]  # another design, in between
    for number, pdf in enumerate(pdfs):
        raw = outgoing(_mail(number, "a@example.com", "Ada"), pdf=pdf, mail_from=FROM).raw
        assert _pdf_of(raw) == pdf, number
        lines = _attachment_lines(raw)
        assert all(len(line) == 76 for line in lines[:-1]) and 0 < len(lines[-1]) <= 76
        assert b"".join(lines) == real(pdf)
    # The shared start is encoded when it is first seen twice, not for every PDF.
    assert sum(encoded) < 8 * len(design), encoded


def test_emails_made_in_a_worker_process_cross_the_pipe_without_their_shared_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A design's messages share ~250 KB of base64 lines (the background); a chunk's travel
    back from the worker process once, not with every message, and each message is put back
    together exactly: its own headers and text, its own PDF."""
    from akowe.processes import Email, WorkProcesses, _Packed, _unpack
    from akowe.rendering import render_pdf
    from akowe.signing.signer import Signer
    from tests.rendering.factories import FIELDS, HEIGHT, WIDTH, photo_background

    # Keys of their own: a design's key names its background for good (each process caches
    # it by key), and these backgrounds are random, unlike tests/rendering's "tpl-jpeg:1".
    spec = TemplateSpec(
        "compose-jpeg:1", WIDTH, HEIGHT, photo_background(WIDTH, HEIGHT, "JPEG"), FIELDS
    )
    other = TemplateSpec(
        "compose-png:1", WIDTH, HEIGHT, photo_background(WIDTH, HEIGHT, "PNG"), FIELDS
    )
    specs = {spec.key: spec, other.key: other}
    names = ["Adéwálé Ògúnlẹ̀", "Zoë Brontë-Smith", "王小明", "Ada"] * 5
    emails = [
        Email(
            other.key if n in (9, 10) else spec.key,  # another design's, in between
            CertificateData(
                f"CERT-{n}",
                name,
                datetime(2026, 11, 25, tzinfo=UTC),
                {},
                f"https://v.example/c/{n}",
            ),
            (),
            _mail(n, f"r{n}@example.com", name),
            FROM,
        )
        for n, name in enumerate(names)
    ]
    crossed: list[_Packed] = []
    monkeypatch.setattr(
        "akowe.processes._unpack", lambda packed: crossed.append(packed) or _unpack(packed)
    )
    work = WorkProcesses(Signer(base_url="http://x", secret="s" * 32), 1)
    try:
        made = list(work.emails(specs, emails))
    finally:
        work.close()
    assert len(made) == len(emails)
    for n, (email_, result) in enumerate(zip(emails, made, strict=True)):
        assert result.message is not None and result.render_seconds > 0
        message = _read(result.message.raw)
        assert message["To"] == f"r{n}@example.com"
        assert message["X-Akowe-Certificate-Id"] == f"CERT-{n}"
        text = message.get_body(("plain",))
        assert text is not None and f"Dear {email_.mail.recipient_name}," in text.get_content()
        assert email_.data is not None
        design = specs[email_.spec_key]
        assert _pdf_of(result.message.raw) == render_pdf(design, email_.data, strict=True)
    # Over the pipe: the shared lines once per chunk, each message without them.
    whole = sum(len(result.message.raw) for result in made if result.message)
    sent = sum(
        len(packed.shared) + sum(len(m.message.raw) for m in packed.made if m.message)
        for packed in crossed
    )
    assert all(packed.shared for packed in crossed[1:])  # the first chunk finds the start
    assert sent < whole / 3, (sent, whole)


# Values of the per-message headers around every length where a fold could change, and
# characters the address and id grammars allow, for the plain-header path (`_Plain`).
_ATEXT = "!#$%&'*+/=?^_`{|}~-"
_PLAIN_CASES = [
    *(("To", f"{'a' * n}@example.com") for n in range(1, 80)),
    *(("To", f"{c}x.y{c}@mail.example.org") for c in _ATEXT),
    ("To", "first.last@sub.example.co.uk"),
    *(("Message-ID", f"<{'m' * n}@akowe.example>") for n in range(1, 80)),
    *(("X-Akowe-Certificate-Id", "c" * n) for n in range(1, 80)),
    *(("X-Akowe-Certificate-Id", v) for v in ("CERT-1", "a.b_c-d", "0f3e-uuid")),
    *(("Content-Disposition", f'attachment; filename="{"f" * n}.pdf"') for n in range(1, 100)),
    ("Content-Disposition", 'attachment; filename="certificate-CERT-1.pdf"'),
    *(("Subject", f"Your certificate, {'n' * n}") for n in range(40, 70)),
    *(("Subject", f"a {c}b{c} c") for c in "!\"#$%&'()*+,-./:;<>?@[\\]^_`{|}~="),
]
# Values the package must parse: display names, quoting, comments, encoded words, spaces,
# non-ASCII, other parameters.
_PARSED_CASES = [
    ("To", "Ada <ada@example.com>"),
    ("To", '"a b"@example.com'),
    ("To", "adéwálé@exämple.com"),
    ("To", "ada@example.com (Ada)"),
    ("To", "a@b@example.com"),
    ("To", " ada@example.com"),
    ("To", "a..b@example.com"),
    ("To", "ada@[127.0.0.1]"),
    ("To", "ada@example.com, bo@example.com"),
    ("Message-ID", "<a b@example.com>"),
    ("Message-ID", "a@example.com"),
    ("X-Akowe-Certificate-Id", "=?utf-8?q?x?="),
    ("X-Akowe-Certificate-Id", "two words"),
    ("X-Akowe-Certificate-Id", "Ọ̀kan"),
    ("Content-Disposition", 'inline; filename="a.pdf"'),
    ("Content-Disposition", 'attachment; filename="a b.pdf"'),
    ("Content-Disposition", 'attachment; filename="é.pdf"'),
    ("Content-Disposition", 'attachment; filename="a.pdf"; size=3'),
    ("Subject", "=?utf-8?q?Ada?="),
    ("Subject", "Your =?utf-8?q?certificate?= Ada"),
    ("Subject", "two  spaces"),
    ("Subject", " leading space"),
    ("Subject", "trailing space "),
    ("Subject", "Ẹ kú oríire"),
    ("Subject", "tab\there"),
    ("From", "a@example.com"),
]
_POLICIES = {
    "crlf": default.clone(linesep="\r\n"),
    "smtputf8": default.clone(linesep="\r\n", utf8=True),
    "lf": default,
    "narrow": default.clone(linesep="\r\n", max_line_length=40),
    "unlimited": default.clone(linesep="\r\n", max_line_length=None),
}


@pytest.mark.parametrize("policy", _POLICIES.values(), ids=_POLICIES.keys())
def test_plain_per_message_headers_fold_exactly_as_the_email_package_folds_them(
    policy: EmailPolicy,
) -> None:
    """The headers that differ in every message are written without the email package's
    parser when their values are plain (`_Plain`): for every such value, at every length
    around a fold and under every policy, the lines are the package's own; the rest are
    the package's parsed headers."""
    from email.headerregistry import BaseHeader, HeaderRegistry

    from akowe.delivery.email import _plain

    package = HeaderRegistry()
    for name, value in _PLAIN_CASES:
        header = POLICY.header_factory(name, value)
        expected = package(name, value).fold(policy=policy)
        assert header.fold(policy=policy) == expected, (name, value)
        assert str(header) == str(package(name, value)), (name, value)
        if len(f"{name}: {value}") <= 78:  # fits on a line: never parsed
            assert _plain(name, value) is not None, (name, value)
    uuid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    for name, value in [
        ("To", "student.name@school.example.edu"),
        ("Message-ID", f"<{uuid}@akowe.example>"),
        ("X-Akowe-Certificate-Id", uuid),
        ("Content-Disposition", f'attachment; filename="certificate-{uuid}.pdf"'),  # 2 lines
        ("Subject", "Your certificate from Bench Academy, Ada Lovelace"),
    ]:
        assert _plain(name, value) is not None, (name, value)
    for name, value in _PARSED_CASES:
        header = POLICY.header_factory(name, value)
        assert isinstance(header, BaseHeader) and _plain(name, value) is None, (name, value)
        assert header.fold(policy=policy) == package(name, value).fold(policy=policy)


def test_a_certificate_email_is_byte_for_byte_what_the_email_package_alone_makes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Messages composed with plain headers equal those composed with every header parsed,
    for plain recipients and for ones the package must encode."""
    recipients = [
        ("adewale@example.com", "Adéwálé Ògúnlẹ̀"),
        ("o'brien+certs@mail.example.ie", "Siobhán O'Brien"),
        ("adéwálé@exämple.com", "Adéwálé"),
        ("x" * 70 + "@example.com", "Long Address"),
    ]
    mails = [
        replace(_mail(n, to, name), outbox_id=f"{n:08x}-0000-4000-8000-{n:012x}")
        for n, (to, name) in enumerate(recipients)
    ]
    pdfs = [b"%PDF-1.7 " + bytes([n]) for n in range(len(mails))]
    made = [outgoing(mail, pdf=pdf, mail_from=FROM) for mail, pdf in zip(mails, pdfs, strict=True)]
    assert b"To: adewale@example.com\r\n" in made[0].raw
    monkeypatch.setattr("akowe.delivery.email._plain", lambda name, value: None)
    for mail, pdf, fast in zip(mails, pdfs, made, strict=True):
        parsed = outgoing(mail, pdf=pdf, mail_from=FROM)
        assert fast.raw == parsed.raw, mail.to
        assert fast.message_id == parsed.message_id
