"""Delivery benchmark: emails per second from the outbox to a loopback SMTP server, against
raw smtplib sending the same messages in the same run (goal: ratio >= 0.8).

Set-up (not timed): N certificates issued over HTTP with mailData, each PDF rendered once
into the render cache (so this measures delivery, not rendering), an aiosmtpd Sink server
in a separate process. Then, alternating per round:
- baseline: the same N messages, composed beforehand, sent with smtplib.SMTP.send_message
  over one connection;
- akowe: the N outbox messages re-queued, then DeliveryWorker.drain(): claim in batches,
  load the certificate, compose (placeholders, text + HTML, cached PDF attached), send over
  its kept-open SMTP connection, record the outcome (one transaction per message), on SQLite.

    python bench/delivery.py [--messages 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import base64
import logging
import secrets
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from sqlalchemy import select, update  # noqa: E402

from akowe.accounts import service as accounts_service  # noqa: E402
from akowe.certificates.models import Certificate  # noqa: E402
from akowe.config import Settings  # noqa: E402
from akowe.credits import service as credits_service  # noqa: E402
from akowe.db import migrate  # noqa: E402
from akowe.db.engine import make_engine, make_sessionmaker  # noqa: E402
from akowe.delivery.email import compose  # noqa: E402
from akowe.delivery.models import OutboxMessage  # noqa: E402
from akowe.delivery.worker import DeliveryWorker  # noqa: E402
from akowe.main import create_app  # noqa: E402
from akowe.modes import Mode  # noqa: E402
from bench.balance import free_port  # noqa: E402
from bench.issue import FIELD_DEFAULTS, TEMPLATE_FIELDS  # noqa: E402
from bench.render import background  # noqa: E402

SINK = ("-c", "aiosmtpd.handlers.Sink")


def start_smtp(port: int) -> subprocess.Popen[bytes]:
    """aiosmtpd's Sink handler (accepts and drops) in its own process."""
    process = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", *SINK],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            smtplib.SMTP("127.0.0.1", port, timeout=2).quit()
            return process
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("aiosmtpd did not start") from None
            time.sleep(0.1)


def prepare(settings: Settings, count: int) -> None:
    """Issue `count` emailed certificates over HTTP and render each PDF into the cache."""
    engine = make_engine(settings)
    with make_sessionmaker(engine, write=True).begin() as session:
        account, issued = accounts_service.create_account(session, email="bench@example.com")
        credits_service.add(
            session,
            account_id=account.id,
            mode=Mode.LIVE,
            amount=count + 10,
            reason="bench",
            actor="bench",
        )
    engine.dispose()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=settings.port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    headers = {"x-api-key": issued.api_key}
    with httpx.Client(base_url=settings.public_base_url, headers=headers, timeout=60) as client:
        org = client.post(
            "/api/profile/organization",
            json={"name": "Bench Academy", "email": "registrar@bench.example"},
        ).json()["data"]["id"]
        template = client.post(
            "/api/templates",
            json={
                "name": "Bench",
                "imageUrl": "data:image/jpeg;base64,"
                + base64.b64encode(background("JPEG")).decode(),
                "dimensions": {"width": 1600, "height": 1131},
                "fields": [{**FIELD_DEFAULTS, **f} for f in TEMPLATE_FIELDS],
            },
        ).json()["data"]["id"]
        for i in range(count):
            body = {
                "recipientData": {
                    "name": f"Recipient {i}",
                    "email": f"r{i}@example.org",
                    "attributes": {"course": "Delivery 101", "grade": "A"},
                },
                "organizationId": org,
                "mailData": {
                    "templateId": template,
                    "subject": "Your {{course}} certificate, {{name}}",
                    "body": "Dear {{name}},\n\nCongratulations.\n\nVerify: {{verificationUrl}}",
                },
            }
            cid = client.post("/api/certificates/issue", json=body).json()["data"]["certificateId"]
            assert client.get(f"/api/certificates/{cid}/pdf").status_code == 200
    server.should_exit = True
    thread.join(10)


def requeue(worker: DeliveryWorker) -> list[OutboxMessage]:
    """Every email message back to `queued` (a fresh round), returned detached."""
    with worker.write_sessions.begin() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.kind == "email")
            .values(status="queued", attempts=0, next_attempt_at=OutboxMessage.created_at)
        )
        session.execute(update(Certificate).values(email_status="queued"))
        messages = list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email")))
        session.expunge_all()
    return messages


def baseline_messages(worker: DeliveryWorker, messages: list[OutboxMessage]) -> list[object]:
    """The same emails the worker sends, composed once up front."""
    out = []
    with worker.read_sessions() as session:
        for message in messages:
            certificate = session.get(Certificate, message.certificate_id)
            assert certificate is not None
            mail = worker._mail(message, certificate, str(message.payload["to"]))
            pdf = worker.renders.get_or_render(f"{certificate.id}.signed.pdf", lambda: b"")
            out.append(compose(mail, pdf=pdf, mail_from=worker.settings.mail_from))
    return out


def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="akowe-bench-delivery-") as tmp:
        smtp_port, port = free_port(), free_port()
        settings = Settings(
            data_dir=Path(tmp),
            port=port,
            log_level="WARNING",
            worker_enabled=False,
            rate_limit="1000000/second",  # the set-up issues N certificates at once
            smtp_url=SecretStr(f"smtp://127.0.0.1:{smtp_port}"),
            mail_from="certificates@bench.example",
            secret_key=SecretStr(secrets.token_urlsafe(32)),
        )
        migrate.upgrade(settings)
        smtp = start_smtp(smtp_port)
        try:
            print(f"preparing {args.messages} certificates (issue + render once) ...")
            prepare(settings, args.messages)
            worker = DeliveryWorker(settings)
            worker.drain()  # (not timed) signs the credentials and sends each email once
            pdf_size = len(next((Path(tmp) / "renders").glob("*.pdf")).read_bytes())
            raw_rates, akowe_rates = [], []
            for round_no in range(1, args.rounds + 1):
                messages = [m for m in requeue(worker) if m.kind == "email"]
                prepared = baseline_messages(worker, messages)
                start = time.perf_counter()
                conn = smtplib.SMTP("127.0.0.1", smtp_port)
                for message in prepared:
                    conn.send_message(message)  # type: ignore[arg-type]
                conn.quit()
                raw_rates.append(len(prepared) / (time.perf_counter() - start))

                start = time.perf_counter()
                sent = worker.drain()
                worker.close_mailers()
                akowe_rates.append(sent / (time.perf_counter() - start))
                assert sent == len(messages), (sent, len(messages))
                print(
                    f"round {round_no}: raw smtplib {raw_rates[-1]:7.1f} msg/s   "
                    f"akowe outbox {akowe_rates[-1]:7.1f} msg/s"
                )
            with worker.read_sessions() as session:
                statuses = set(session.scalars(select(OutboxMessage.status)))
            assert statuses == {"sent"}, statuses
            worker.close()
        finally:
            smtp.terminate()
            smtp.wait(10)
    raw, ours = statistics.median(raw_rates), statistics.median(akowe_rates)
    print(f"\nmessages per round: {args.messages}, PDF attachment: {pdf_size / 1024:.0f} KiB")
    print(f"raw smtplib (pre-composed, one connection): {raw:8.1f} msg/s (median)")
    print(f"akowe outbox -> SMTP (worker.drain):        {ours:8.1f} msg/s (median)")
    print(f"ratio akowe / raw: {ours / raw:.2f}  (goal >= 0.8)")


if __name__ == "__main__":
    main()
