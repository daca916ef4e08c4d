"""Certificate emails: composing them (placeholders, text + HTML, the PDF) and sending them.

The organization's logo heads the HTML body as an inline image (a `multipart/related` part
referenced by `cid:`), not as a link to this service: mail clients show inline images
without a "load remote images" prompt, a self-hosted service is often not reachable from
the recipient's mail client, and no request reveals when the email is opened. It is scaled
down to email size once (a few KB) so it never rivals the PDF.

`Mailer` is the outside edge: `SmtpMailer` speaks SMTP (`AKOWE_SMTP_URL`, `smtp://` with
optional `?starttls=1`, or `smtps://` for implicit TLS); without SMTP configured,
`FileMailer` writes each message as an `.eml` file under `<data dir>/outbox-mail/`.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import html
import io
import logging
import os
import re
import secrets
import smtplib
import ssl
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.generator import BytesGenerator
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import EmailPolicy, Policy
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from PIL import Image

from akowe.config import Settings
from akowe.delivery.webhooks import DeliveryFailed

log = logging.getLogger("akowe.delivery")

DEFAULT_SUBJECT = "Your certificate from {{organization}}"
DEFAULT_BODY = "Hello {{name}},\n\n{{organization}} has issued you a certificate. It is attached."
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_TRUE = {"1", "true", "yes", "on"}
# The logo as shown in the email, in CSS pixels at 2x for sharp high-density screens.
LOGO_BOX = (480, 160)


# What every email can say besides the recipient's attributes (see placeholder_values).
BUILT_IN_PLACEHOLDERS = (
    "name",
    "recipientName",
    "organization",
    "organizationName",
    "verificationUrl",
    "certificateId",
)


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace `{{name}}`-style placeholders; unknown ones are left as written (issuance
    refuses them first: see `unknown_placeholders`)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def unknown_placeholders(template: str, attributes: Iterable[str]) -> list[str]:
    """The placeholders in `template` that neither a built-in nor an attribute fills, in
    order of appearance, each once."""
    known = {*BUILT_IN_PLACEHOLDERS, *attributes}
    unknown: dict[str, None] = {}
    for match in _PLACEHOLDER.finditer(template):
        if match.group(1) not in known:
            unknown[match.group(1)] = None
    return list(unknown)


def message_id(outbox_id: str, mail_from: str) -> str:
    """The Message-ID of an outbox message: the same for every retry, so copies are spotted."""
    domain = mail_from.rsplit("@", 1)[-1].strip("> ") or "akowe.local"
    return f"<{outbox_id}@{domain}>"


@dataclass(frozen=True, slots=True)
class CertificateMail:
    """What a certificate's email says, independent of how it is sent."""

    outbox_id: str
    to: str
    subject: str
    body: str
    recipient_name: str
    organization_name: str | None
    organization_email: str | None
    verification_url: str
    attributes: Mapping[str, str]
    certificate_id: str
    sent_at: datetime
    logo: bytes | None = None  # PNG, shown inline at the top (see `email_logo`)


@functools.lru_cache(maxsize=32)
def email_logo(image: bytes) -> bytes | None:
    """A logo (PNG, JPEG or WebP bytes) scaled to fit LOGO_BOX, as PNG; None if unreadable."""
    try:
        with Image.open(io.BytesIO(image), formats=["PNG", "JPEG", "WEBP"]) as source:
            source.thumbnail(LOGO_BOX, Image.Resampling.LANCZOS)
            picture = source.convert("RGBA" if "A" in source.getbands() else "RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        log.warning("logo left out of the email: %s", exc)
        return None
    out = io.BytesIO()
    picture.save(out, format="PNG", optimize=True)
    return out.getvalue()


def logo_cid(mail: CertificateMail) -> str:
    """The Content-ID of the email's logo part (without angle brackets)."""
    return f"logo.{mail.certificate_id}@akowe"


def placeholder_values(mail: CertificateMail) -> dict[str, str]:
    """Values for `{{name}}`, `{{organization}}`, `{{verificationUrl}}` and each attribute."""
    return {
        **mail.attributes,
        "name": mail.recipient_name,
        "recipientName": mail.recipient_name,
        "organization": mail.organization_name or "",
        "organizationName": mail.organization_name or "",
        "verificationUrl": mail.verification_url,
        "certificateId": mail.certificate_id,
    }


def render_text(mail: CertificateMail) -> tuple[str, str, str]:
    """The subject, plain-text body and HTML body (user text escaped in HTML)."""
    values = placeholder_values(mail)
    subject = " ".join(fill(mail.subject, values).split()) or "Your certificate"
    body = fill(mail.body, values).strip()
    link = mail.verification_url
    text = f"{body}\n\nView and verify your certificate: {link}\n"
    paragraphs = "".join(
        f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in body.split("\n\n") if p
    )
    org = html.escape(mail.organization_name or "")
    href = html.escape(link, quote=True)
    logo = (
        f'<p><img src="cid:{html.escape(logo_cid(mail), quote=True)}" alt="{org}" '
        'style="max-width:240px;max-height:80px"></p>'
        if mail.logo
        else ""
    )
    html_body = (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>"
        '<body style="font-family:sans-serif;line-height:1.5;color:#222">'
        f"{logo}{paragraphs}"
        f'<p><a href="{href}">View and verify your certificate</a></p>'
        f'<p style="color:#777;font-size:12px">Sent on behalf of {org}. '
        "Your certificate is attached as a PDF.</p></body></html>"
    )
    return subject, text, html_body


class _FoldedOnce(BaseHeader):
    """The header base class, remembering how each header folds.

    A header object is an immutable string with its parse, shared by every message that
    carries it (see `_RememberingHeaders`), and the generator folds every header of every
    message again: the email package's folding walks the parse tree in Python. Folding
    depends on the header and on three policy settings only (`_refold_parse_tree` reads
    `linesep`, `max_line_length` and `utf8`), so the text is remembered per those.
    """

    def fold(self, *, policy: Policy) -> str:
        key = (policy.linesep, policy.max_line_length, getattr(policy, "utf8", False))
        folds: dict[tuple[str, int | None, bool], str] = self.__dict__.setdefault("_folds", {})
        folded = folds.get(key)
        if folded is None:
            folded = folds[key] = super().fold(policy=policy)
        return folded


# What a plain value of each per-message header looks like (`_Plain`): ASCII words the
# email package would write back exactly as given.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATEXT}(?:\.{_ATEXT})*"
_PLAIN_VALUES = {
    "to": re.compile(rf"{_DOT_ATOM}@{_DOT_ATOM}"),  # one bare address
    "message-id": re.compile(rf"<{_DOT_ATOM}@{_DOT_ATOM}>"),
    "x-akowe-certificate-id": re.compile(r"[A-Za-z0-9._-]+"),
    "subject": re.compile(r"(?!.*=\?)[!-~]+(?: [!-~]+)*"),  # words, no encoded word
    "content-disposition": re.compile(r'attachment; (filename="[A-Za-z0-9._-]+")'),
}
_LINE = 78  # the default policy's max_line_length, which these folds are made for


class _Plain(str):
    """A per-message header of a plain value (`_PLAIN_VALUES`), made without parsing it.

    The email package parses every header value into a tree and folds the tree back into
    lines when the message is written; for the headers that differ in every certificate
    email (To, Message-ID, X-Akowe-Certificate-Id, the attachment's Content-Disposition, a
    subject naming the recipient) that was more than half of composing one (0.95 ms a
    message against 0.42 ms when the same message was composed again). For values of these
    shapes the folded lines are the value as given: one line, or for a Content-Disposition
    too long for one, its parameter on a second (tests/delivery/test_compose.py checks
    every shape against the package's own fold). Anything else, or a policy with other line
    lengths, gets the package's header.
    """

    name: str
    _lines: tuple[str, ...]

    def fold(self, *, policy: Policy) -> str:
        if policy.max_line_length != _LINE:
            return _PARSING.parsed(self.name, str(self)).fold(policy=policy)
        return "".join(line + policy.linesep for line in self._lines)


def _plain(name: str, value: str) -> _Plain | None:
    """`value` as a `_Plain` header if it has its header's plain shape and fits, else None."""
    shape = _PLAIN_VALUES.get(name.lower())
    match = shape.fullmatch(value) if shape is not None else None
    if match is None:
        return None
    line = f"{name}: {value}"
    if len(line) <= _LINE:
        lines: tuple[str, ...] = (line,)
    elif match.groups() and len(match[1]) < _LINE - 1:  # the parameter on a line of its own
        lines = (line[: -len(match[1]) - 1], " " + match[1])
    else:
        return None
    header = _Plain(value)
    header.name, header._lines = name, lines
    return header


class _RememberingHeaders(HeaderRegistry):
    """The email package's header factory, remembering the headers it made.

    Most headers of a certificate email are the same in every message (the parts'
    Content-Type and Content-Transfer-Encoding, MIME-Version, From, Auto-Submitted, ...), and
    parsing them again was a third of composing one. A header object is an immutable string
    with its parse, so one object serves every message; the per-recipient ones that are not
    `_Plain` (a subject in UTF-8, say) pass through the bounded cache and out again. The
    class for a header name is made once too: the registry builds a new class on every
    lookup otherwise.
    """

    def __init__(self) -> None:
        super().__init__(base_class=_FoldedOnce)

    def __call__(self, name: str, value: str) -> Any:
        plain = _plain(name, value) if isinstance(value, str) else None
        return plain if plain is not None else self.parsed(name, value)

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - one registry for the process
    def parsed(self, name: str, value: str) -> BaseHeader:
        """The email package's header (parsed), remembered."""
        header: BaseHeader = super().__call__(name, value)
        return header

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one registry for the process
    def __getitem__(self, name: str) -> type[BaseHeader]:
        cls: type[BaseHeader] = super().__getitem__(name)
        return cls


# The default policy (`email.policy.default`) with the remembering factory.
_PARSING = _RememberingHeaders()
POLICY = EmailPolicy(header_factory=_PARSING)


def compose(mail: CertificateMail, *, pdf: bytes, mail_from: str) -> EmailMessage:
    """The MIME message: text and HTML alternatives, the PDF attached, deliverability headers."""
    subject, text, html_body = render_text(mail)
    message = EmailMessage(policy=POLICY)
    message["Subject"] = subject
    message["From"] = formataddr((mail.organization_name or "", mail_from))
    message["To"] = mail.to
    if mail.organization_email:
        message["Reply-To"] = formataddr((mail.organization_name or "", mail.organization_email))
    message["Date"] = format_datetime(mail.sent_at)
    message["Message-ID"] = message_id(mail.outbox_id, mail_from)
    # A transactional notice: tells auto-responders not to answer (RFC 3834). There is no
    # mailing list to leave, so no List-Unsubscribe.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message["X-Akowe-Certificate-Id"] = mail.certificate_id
    message.set_content(text)
    message.add_alternative(html_body, subtype="html")
    if mail.logo:
        for part in message.iter_parts():
            if part.get_content_type() == "text/html":
                part.add_related(mail.logo, "image", "png", cid=f"<{logo_cid(mail)}>")
    attachment = EmailMessage(policy=POLICY)
    attachment["Content-Type"] = "application/pdf"
    attachment["Content-Transfer-Encoding"] = "base64"
    attachment["Content-Disposition"] = (
        f'attachment; filename="certificate-{mail.certificate_id}.pdf"'
    )
    attachment.set_payload(_base64_lines(pdf))
    message.make_mixed()
    message.attach(attachment)
    return message


def _base64_lines(data: bytes) -> str:
    """`data` in base64, in 76-column lines (RFC 2045), each ending with a newline.

    The PDFs of one design begin with the same bytes (the header and the background image,
    ~190 KB of a ~200 KB file), and encoding them was two thirds of composing an email. So
    the lines of the start the last two PDFs shared are kept (`_SharedStart`), cut at a
    multiple of 57 bytes: a line is 57 bytes encoded, so those lines are exactly the first
    lines of any PDF that begins with those bytes, and only the rest is encoded.
    """
    start = _shared_start
    if start is not None and data.startswith(start.data):
        return start.lines + _encoded_lines(data[len(start.data) :])
    lines = _encoded_lines(data)
    _remember_start(data, lines)
    return lines


def _encoded_lines(data: bytes) -> str:
    # Encoded in one C call and cut into lines by the regex engine. For a 190 KB PDF:
    # base64.encodebytes (a Python loop over 57-byte pieces) 1.25 ms, a Python loop over the
    # lines 0.77 ms, this 0.60 ms.
    encoded = base64.b64encode(data).decode("ascii")
    if not encoded:
        return ""
    return "\n".join(_LINES.findall(encoded)) + "\n"


@dataclass(frozen=True, slots=True)
class _SharedStart:
    """Bytes two PDFs began with (a multiple of 57 long) and their base64 lines."""

    data: bytes
    lines: str
    wire: bytes  # the lines as a flattened message carries them: ASCII, CRLF line ends


def shared_lines() -> bytes:
    """The base64 lines this process's last PDFs began with, as `outgoing` writes them into
    a message (b"" if none): the bulk of every message of one design, so a message can
    travel without them (akowe.processes)."""
    start = _shared_start
    return start.wire if start is not None else b""


_LINE_BYTES = 57  # what one 76-character base64 line holds
_MIN_SHARED = 16 * 1024  # a shorter shared start is not worth keeping
_shared_start: _SharedStart | None = None  # one per process; replaced whole, never changed
_previous: bytes = b""


def _remember_start(data: bytes, lines: str) -> None:
    """Keep the start `data` shares with the previous PDF encoded here, if long enough."""
    global _shared_start, _previous
    previous, _previous = _previous, data
    shared = _common_prefix(previous, data)
    shared -= shared % _LINE_BYTES
    if shared >= _MIN_SHARED:
        chars = shared // _LINE_BYTES * 77  # 76 characters and a newline per line
        wire = lines[:chars].replace("\n", "\r\n").encode("ascii")
        _shared_start = _SharedStart(data[:shared], lines[:chars], wire)


def _common_prefix(a: bytes, b: bytes) -> int:
    """How many bytes `a` and `b` begin with in common, by halving. Each test compares two
    bytes slices (a copy and a memcmp: 0.04 ms for 190 KB in all; memoryviews, compared item
    by item, took 0.57 ms)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


_LINES = re.compile(".{1,76}", re.DOTALL)


class _Generator(BytesGenerator):
    """The email package's generator, writing an already-encoded attachment in one piece.

    Its default body handler cracks the payload into lines and writes them one by one
    (3,400 calls for a 190 KB PDF); the attachment's base64 is ASCII in 76-column lines
    already, so only its line endings need to follow the output's. The lines a design's PDFs
    share (`_SharedStart`) are written as kept, line ends and all: changing and encoding
    them anew was a fifth of composing an email. `_handle_<maintype>` is the generator's own
    dispatch hook (Lib/email/generator.py, `_dispatch`).
    """

    def _handle_application(self, msg: EmailMessage) -> None:
        payload = msg.get_payload()
        if isinstance(payload, str) and payload.isascii() and not msg.is_multipart():
            newline = self._NL  # type: ignore[attr-defined]
            out = self._fp  # type: ignore[attr-defined]
            start = _shared_start
            if newline == "\r\n" and start is not None and payload.startswith(start.lines):
                out.write(start.wire)
                payload = payload[len(start.lines) :]
            if newline != "\n":
                payload = payload.replace("\n", newline)
            out.write(payload.encode("ascii"))
        else:
            super()._handle_text(msg)  # type: ignore[misc]


def flatten(message: EmailMessage, *, international: bool = False) -> bytes:
    """The message as sent: bytes with CRLF line ends, as `smtplib.send_message` would send
    it (UTF-8 headers when `international`: an address is not ASCII, see `needs_smtputf8`),
    six times faster for a certificate email.

    Multipart boundaries are chosen here rather than by the generator, which searches the
    whole message text for each candidate: this process's own (`_BOUNDARY`, random), the
    same in every message, so their Content-Type headers come from the composer's memory
    (a header made anew per message, and parsed by the email package, was a tenth of
    composing a certificate email). The finished message is checked: each boundary must
    occur exactly where the structure puts it (its delimiters and its header), so a text that
    happens to contain one, by chance or on purpose, gets boundaries drawn for it alone.
    """
    multiparts = [part for part in message.walk() if part.is_multipart()]
    for index, part in enumerate(multiparts):
        if part.get_boundary() is None:
            part.set_boundary(f"{_BOUNDARY}{index:02d}")
    raw = _generated(message, international=international)
    shared = shared_lines()
    where = shared_at(raw, shared)
    for part in multiparts:
        boundary = part.get_boundary()
        if (
            boundary
            and boundary.startswith(_BOUNDARY)
            and not _framing(raw, part, boundary, (where, len(shared)))
        ):
            for other in multiparts:
                other.set_boundary(f"=_akowe_{secrets.token_hex(16)}")
            return _generated(message, international=international)
    return raw


# This process's multipart boundaries: "=_akowe_", 128 random bits, then the part's number.
_BOUNDARY = f"=_akowe_{secrets.token_hex(16)}_"


def _framing(raw: bytes, part: EmailMessage, boundary: str, shared: tuple[int, int]) -> bool:
    """Whether `boundary` occurs in `raw` only as `part`'s framing: once in its header, once
    before each subpart and once at its end.

    The shared base64 lines (`shared`: where, or -1, and how long) are not searched: base64
    has no "_", which every boundary of ours holds, and they begin after a blank line and
    end with a CRLF, so no occurrence can straddle their edges either."""
    payload = part.get_payload()
    assert isinstance(payload, list)
    needle = boundary.encode("ascii")
    where, length = shared
    if where < 0:
        found = raw.count(needle)
    else:
        found = raw.count(needle, 0, where) + raw.count(needle, where + length)
    return found == len(payload) + 2


_LINE = 78  # a base64 line as sent: 76 characters and CRLF


def shared_at(raw: bytes, shared: bytes) -> int:
    """Where in the flattened message `raw` the lines `shared` (`shared_lines()`) begin a
    part's body (after its headers' blank line), or -1."""
    if not shared:
        return -1
    # Found by its first line, then compared whole: a 250 KB needle makes `find` itself
    # preprocess it, a tenth of making the email.
    where = raw.find(b"\r\n\r\n" + shared[:_LINE]) + 4
    return where if where >= 4 and raw.startswith(shared, where) else -1


def _generated(message: EmailMessage, *, international: bool) -> bytes:
    policy = message.policy
    if international and isinstance(policy, EmailPolicy):
        policy = policy.clone(utf8=True)
    out = io.BytesIO()
    _Generator(out, policy=policy).flatten(message, linesep="\r\n")
    return out.getvalue()


def needs_smtputf8(*addresses: str) -> bool:
    """Whether an address is not ASCII (SMTPUTF8, RFC 6531), as smtplib decides it."""
    return not all(address.isascii() for address in addresses)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A composed message, ready for any mailer: its bytes in `parts`, in order.

    A message made in a worker process comes back in three (akowe.processes): its own start,
    the base64 lines it shares with the other messages of its design, and its own end, and
    SMTP sends them as they are (`_Smtp.data`). Putting the ~280 KB together again for each
    message, then once more for DATA's end line, was a quarter of the delivery worker's time
    with the interpreter lock during a class's emails."""

    message_id: str
    sender: str
    recipient: str
    parts: tuple[bytes, ...]

    @property
    def raw(self) -> bytes:
        """The whole message."""
        return self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)


def outgoing(mail: CertificateMail, *, pdf: bytes, mail_from: str) -> Outgoing:
    """`compose`, flattened for sending."""
    message = compose(mail, pdf=pdf, mail_from=mail_from)
    return Outgoing(
        message_id=str(message["Message-ID"]),
        sender=mail_from,
        recipient=mail.to,
        parts=(flatten(message, international=needs_smtputf8(mail_from, mail.to)),),
    )


class Mailer(Protocol):
    """Sends one composed message; raises DeliveryFailed (permanent for 5xx rejections)."""

    def send(self, message: Outgoing) -> None:
        """Hand the message to the next hop."""
        ...

    def close(self) -> None:
        """Release any open connection."""
        ...


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    """Where and how to connect, parsed from `AKOWE_SMTP_URL`."""

    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None
    verify: bool


def parse_smtp_url(url: str) -> SmtpTarget:
    """`smtp://user:pass@host:587?starttls=1` or `smtps://host:465`; `?verify=0` for self-signed."""
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise ValueError("AKOWE_SMTP_URL must look like smtp://host:port or smtps://host:port")
    query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
    implicit = parts.scheme == "smtps"
    port = parts.port or (465 if implicit else 25)
    starttls = query.get("starttls", "1" if port == 587 else "0") in _TRUE and not implicit
    return SmtpTarget(
        host=parts.hostname,
        port=port,
        implicit_tls=implicit,
        starttls=starttls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        verify=query.get("verify", "1") in _TRUE,
    )


def dot_stuffed(data: bytes) -> bytes:
    """A message as DATA sends it: every line that begins with "." gets another (RFC 5321
    4.5.2), then the end-of-data line. Exactly what smtplib sends (`_quote_periods`, a
    multiline regex: 1.5 ms over a certificate email's 280 KB here, as long as composing the
    email), by a search and, only where a line begins with ".", `bytes.replace`."""
    return b"".join(dot_stuffed_parts((data,)))


def dot_stuffed_parts(parts: Sequence[bytes]) -> list[bytes]:
    """`dot_stuffed` of the message that is `parts` joined, as pieces: a part without a line
    that begins with "." is not copied (base64 has none: most of a certificate email).

    A part is searched for "." first, one byte (memchr: 3 us for a message's 260 KB of
    base64, which has none), and for "\n." only if it has one: the two-byte search took
    290 us, with the interpreter lock held, for every email sent."""
    out: list[bytes] = []
    ending = b""  # the last two bytes so far
    for part in parts:
        if not part:
            continue
        if b"." in part and b"\n." in part:
            part = part.replace(b"\n.", b"\n..")
        if part.startswith(b".") and (not ending or ending.endswith(b"\n")):
            out.append(b".")
        out.append(part)
        ending = (ending + part[-2:])[-2:]
    out.append(b".\r\n" if ending == b"\r\n" else b"\r\n.\r\n")
    return out


@dataclass(frozen=True, slots=True)
class _Data:
    """A message's parts as `smtplib.SMTP.sendmail` takes a message: it asks only its size
    (`len`, for the SIZE extension) and hands it to `data`."""

    parts: tuple[bytes, ...]

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts)


class _Smtp(smtplib.SMTP):
    """smtplib's client, its DATA dot-stuffing done by `dot_stuffed_parts` and a message's
    parts (`_Data`) sent as they are (one `sendmsg` on a plain connection)."""

    def data(self, msg: bytes | str | _Data) -> tuple[int, bytes]:  # type: ignore[override]
        if isinstance(msg, str):  # smtplib's own path: it normalises line ends first
            return super().data(msg)
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        self._send_parts(dot_stuffed_parts((msg,) if isinstance(msg, bytes) else msg.parts))
        return self.getreply()

    def _send_parts(self, parts: list[bytes]) -> None:
        """`send` for pieces. Over TLS (whose sockets have no `sendmsg`) they are joined and
        sent in one write, not written one by one: a last small write could wait on the
        peer's delayed acknowledgement of the one before (Nagle's algorithm)."""
        sock = self.sock
        if sock is None:
            raise smtplib.SMTPServerDisconnected("please run connect() first")
        if isinstance(sock, ssl.SSLSocket):
            self.send(b"".join(parts))
            return
        views = [memoryview(part) for part in parts if part]
        try:
            while views:
                sent = sock.sendmsg(views)
                while sent:
                    if sent < len(views[0]):
                        views[0] = views[0][sent:]
                        break
                    sent -= len(views.pop(0))
        except OSError as exc:
            self.close()
            raise smtplib.SMTPServerDisconnected("Server not connected") from exc


class _SmtpSsl(_Smtp, smtplib.SMTP_SSL):
    """The same over implicit TLS."""


class SmtpMailer:
    """SMTP with one connection kept open between messages (not thread-safe: one per worker)."""

    def __init__(self, target: SmtpTarget, *, timeout: float = 30.0) -> None:
        self.target = target
        self.timeout = timeout
        self._conn: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.target.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> smtplib.SMTP:
        t = self.target
        conn: smtplib.SMTP
        if t.implicit_tls:
            conn = _SmtpSsl(t.host, t.port, timeout=self.timeout, context=self._context())
        else:
            conn = _Smtp(t.host, t.port, timeout=self.timeout)
        try:
            conn.ehlo()
            if t.starttls:
                conn.starttls(context=self._context())
                conn.ehlo()
            if t.username:
                conn.login(t.username, t.password or "")
        except BaseException:
            conn.close()
            raise
        return conn

    def send(self, message: Outgoing) -> None:
        """Send over the open connection, reconnecting once if the server dropped it."""
        international = needs_smtputf8(message.sender, message.recipient)
        options = ("SMTPUTF8", "BODY=8BITMIME") if international else ()
        for fresh in (self._conn is None, True):
            try:
                if self._conn is None:
                    self._conn = self._connect()
                if international and not self._conn.has_extn("smtputf8"):
                    raise DeliveryFailed(
                        "the SMTP server cannot take non-ASCII addresses (no SMTPUTF8)",
                        permanent=True,
                    )
                self._conn.sendmail(
                    message.sender,
                    [message.recipient],
                    _Data(message.parts),  # type: ignore[arg-type]  # for _Smtp.data
                    mail_options=options,
                )
                return
            except smtplib.SMTPServerDisconnected as exc:
                self._drop()
                if fresh:
                    raise DeliveryFailed("the SMTP server closed the connection") from exc
            except smtplib.SMTPRecipientsRefused as exc:
                self._reset()
                code, reply = next(iter(exc.recipients.values()))
                raise _smtp_failure(code, reply) from exc
            except smtplib.SMTPResponseException as exc:
                self._reset()
                raise _smtp_failure(exc.smtp_code, exc.smtp_error) from exc
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                raise DeliveryFailed(
                    f"SMTP connection failed: {exc or type(exc).__name__}"
                ) from exc

    def _reset(self) -> None:
        if self._conn is not None:
            try:
                self._conn.rset()
            except (OSError, smtplib.SMTPException):
                self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def close(self) -> None:
        """Say QUIT and close the connection, if one is open."""
        if self._conn is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._conn.quit()
            self._drop()


def _smtp_failure(code: int, reply: bytes | str) -> DeliveryFailed:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    # 5xx is the server's final answer (e.g. no such mailbox): retrying cannot help.
    return DeliveryFailed(f"SMTP {code}: {text}"[:1000], permanent=500 <= code < 600)


class FileMailer:
    """Development: each message becomes `<dir>/<outbox id>.eml` (nothing leaves the machine)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: Outgoing) -> None:
        """Write the message atomically and log where it went."""
        name = message.message_id.strip("<>").split("@", 1)[0] + ".eml"
        try:
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        except FileNotFoundError:  # the first message (or the directory was removed)
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(message.raw)
        path = self.directory / name
        os.replace(tmp, path)
        log.info("email written to file (no SMTP configured)", extra={"path": str(path)})

    def close(self) -> None:
        """Nothing to release."""


def make_mailer(settings: Settings) -> Mailer:
    """SMTP when `AKOWE_SMTP_URL` is set, else `.eml` files in the data directory."""
    if settings.smtp_url is not None:
        target = parse_smtp_url(settings.smtp_url.get_secret_value())
        return SmtpMailer(target, timeout=settings.smtp_timeout_seconds)
    return FileMailer(settings.data_dir / "outbox-mail")
