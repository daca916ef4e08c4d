"""The SMTP client: DATA's dot-stuffing, and the TLS variants, against real aiosmtpd servers.

`SmtpMailer` sends through smtplib with its own dot-stuffing (`dot_stuffed`, bytes.replace
instead of smtplib's regex: 1.5 ms of a 280 KB certificate email); these tests hold it to
smtplib's own output and show the server reading back exactly the lines that were sent,
in plain SMTP, over STARTTLS and over implicit TLS.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from akowe.delivery.email import (
    Outgoing,
    SmtpMailer,
    dot_stuffed,
    dot_stuffed_parts,
    parse_smtp_url,
)
from tests.delivery.conftest import free_port
from tests.tls import self_signed


def smtplib_data(data: bytes) -> bytes:
    """What smtplib's own `SMTP.data` sends after the 354 (Lib/smtplib.py)."""
    quoted = smtplib._quote_periods(data)  # type: ignore[attr-defined]
    if quoted[-2:] != b"\r\n":
        quoted += b"\r\n"
    return bytes(quoted + b".\r\n")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b".",
        b"..",
        b"\r\n",
        b"\r\n.",
        b".\r\n.\r\n",
        b"Subject: x\r\n\r\n.hidden\r\n..two\r\nend",
        b"a\n.b\n..c\r\n.\r\n",  # bare line feeds start lines too
        b"no line break at all",
        b"x" * 70_000 + b"\r\n." + b"y" * 10 + b"\r\n",
    ],
)
def test_dot_stuffing_is_exactly_smtplibs(data: bytes) -> None:
    assert dot_stuffed(data) == smtplib_data(data)
    # A message in parts (a worker process's: its start, the shared lines, its end) is
    # stuffed as the whole would be, wherever it is cut: a line that begins at a cut too.
    ends = [*range(min(len(data), 40)), *range(max(0, len(data) - 40), len(data) + 1)]
    for first in ends:
        for second in (first, first + 1, len(data)):
            parts = (data[:first], data[first:second], data[second:])
            assert b"".join(dot_stuffed_parts(parts)) == smtplib_data(data), (first, second)


class Keeper:
    """Keeps the DATA of every message, as the server un-stuffed it."""

    def __init__(self) -> None:
        self.contents: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.contents.append(bytes(envelope.content))
        return "250 2.0.0 OK"


@pytest.fixture(params=["plain", "starttls", "implicit-tls"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Keeper]]:
    """An aiosmtpd server on loopback and the AKOWE_SMTP_URL that reaches it."""
    keeper, port = Keeper(), free_port()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*self_signed(tmp_path, "127.0.0.1"))
    options: dict[str, Any] = {}
    if request.param == "starttls":
        options = {"tls_context": context, "require_starttls": True}
        url = f"smtp://127.0.0.1:{port}?starttls=1&verify=0"
    elif request.param == "implicit-tls":
        options = {"ssl_context": context}
        url = f"smtps://127.0.0.1:{port}?verify=0"
    else:
        url = f"smtp://127.0.0.1:{port}"
    controller = Controller(keeper, hostname="127.0.0.1", port=port, **options)
    controller.start()
    yield url, keeper
    controller.stop()


def test_lines_beginning_with_dots_arrive_as_sent_over_each_kind_of_connection(
    server: tuple[str, Keeper],
) -> None:
    url, keeper = server
    mailer = SmtpMailer(parse_smtp_url(url), timeout=10)
    raws = [
        b"Subject: dots\r\n\r\n.one\r\n..two\r\n...three\r\n.\r\nlast line",
        b"Subject: big\r\n\r\n" + b"".join(b"A" * 76 + b"\r\n" for _ in range(4000)),
    ]
    # And one in three parts, as a worker process's message arrives: cut where lines begin
    # with dots, the middle ~300 KB (more than one send takes at once on plain SMTP).
    middle = b"".join(b"B" * 76 + b"\r\n" for _ in range(4000))
    parts = (b"Subject: parts\r\n\r\nstart\r\n", b"." + middle, b".end\r\n..\r\n")
    try:
        for number, raw in enumerate(raws):
            sent = Outgoing(f"<{number}@test>", "from@example.com", "to@example.com", (raw,))
            mailer.send(sent)
        mailer.send(Outgoing("<2@test>", "from@example.com", "to@example.com", parts))
    finally:
        mailer.close()
    # The server strips the stuffing; a message without a final line break gets one.
    assert keeper.contents == [raws[0] + b"\r\n", raws[1], b"".join(parts)]
