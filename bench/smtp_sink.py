"""A loopback SMTP server for benchmarks: accepts every message, keeps only counts.

It stands in for the relay a deployment hands its emails to (Postfix and the like, written in
C, on another machine), so the benchmark measures akowe's side of sending. aiosmtpd, which
the tests use, reads DATA line by line: about 7 ms of CPU for one 280 KB certificate email on
this machine, more than akowe spends rendering, composing and sending it, on the same two
cores. This one reads DATA up to its end marker in one call.

Counts are kept per recipient and read back with a command of its own: `XCOUNT <prefix>`
answers `250 <n>`, the messages accepted for recipients whose address starts with the
prefix and that carry a PDF (`application/pdf`).

    python bench/smtp_sink.py PORT
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter

PDF = b"application/pdf"


class Sink:
    def __init__(self) -> None:
        self.accepted: Counter[str] = Counter()

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 bench sink\r\n")
        recipients: list[str] = []
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                writer.write(b"250-bench sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 0\r\n")
            elif verb == b"RCPT":
                recipients.append(line.split(b":", 1)[1].strip().strip(b"<>").decode())
                writer.write(b"250 OK\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                data = await reader.readuntil(b"\r\n.\r\n")
                if PDF in data:
                    self.accepted.update(recipients)
                recipients = []
                writer.write(b"250 OK\r\n")
            elif verb == b"RSET":
                recipients = []
                writer.write(b"250 OK\r\n")
            elif verb == b"XCOU":
                prefix = line.split(b" ", 1)[1].strip().decode()
                count = sum(n for address, n in self.accepted.items() if address.startswith(prefix))
                writer.write(b"250 %d\r\n" % count)
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:  # MAIL, NOOP
                writer.write(b"250 OK\r\n")
            await writer.drain()
        await writer.drain()
        writer.close()


async def serve(port: int) -> None:
    sink = Sink()
    server = await asyncio.start_server(sink.session, "127.0.0.1", port, limit=1 << 26)
    async with server:
        await server.serve_forever()


def count(port: int, prefix: str) -> int:
    """The messages with a PDF accepted so far for recipients starting with `prefix`."""
    import smtplib

    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        code, answer = client.docmd("XCOUNT", prefix)
        assert code == 250, (code, answer)
        return int(answer)


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
