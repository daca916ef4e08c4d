"""Processes die and no promise breaks: while a stream of issues runs against two API
processes (each with its own empty data directory; shared: the database and the S3 store),
one API process and the worker are SIGKILLed mid-stream and restarted. Clients retry what
failed with the same Idempotency-Key, as the API tells them to. Afterwards:

- every key answered 201 names exactly one certificate (retries were replays, never a second
  certificate), and the account holds exactly those certificates;
- the balance was debited exactly once per certificate (ledger and balance agree);
- every certificate's PDF downloads from both API processes;
- every email was delivered, at least once; a duplicate is possible only for the message the
  killed worker was sending (at-least-once, AKOWE_WORKER_CONCURRENCY=1: at most one).

Runs on SQLite (processes share the file) and PostgreSQL. The test prints its figures."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.orm import Session

from tests.certificates.conftest import ATTRIBUTES, FIELDS, png_data_uri
from tests.conftest import OwnDatabase
from tests.delivery.conftest import SmtpServer
from tests.processes import server_process, worker_process
from tests.s3server import S3Server

ISSUES = 48
CREDITS = 100
CLIENTS = 4
PUBLIC = "https://certs.example"


def issue_body(client: httpx.Client) -> dict[str, Any]:
    """An organization and a template made through the API; the body that issues one
    certificate of them, emailed (each client sets the recipient's address)."""
    organization = client.post("/api/profile/organization", json={"name": "Kill U"})
    template = client.post(
        "/api/templates",
        json={
            "name": "Kill",
            "imageUrl": png_data_uri(),
            "dimensions": {"width": 800, "height": 566},
            "fields": FIELDS,
        },
    )
    assert organization.status_code == 201, organization.text
    assert template.status_code == 201, template.text
    return {
        "recipientData": {"name": "Ada Lovelace", "email": "", "attributes": ATTRIBUTES},
        "organizationId": organization.json()["data"]["id"],
        "mailData": {
            "templateId": template.json()["data"]["id"],
            "subject": "Your certificate",
            "body": "Congratulations",
        },
    }


class Stream:
    """Clients issuing over whichever API processes are up, retrying failures with the
    same Idempotency-Key until each has a definitive answer."""

    def __init__(self, urls: list[str], headers: dict[str, str], body: dict[str, Any]) -> None:
        self.urls = urls
        self.headers = headers
        self.body = body
        self.lock = threading.Lock()
        self.done = 0
        self.results: dict[str, list[tuple[int, str | None]]] = {}
        self.failures: list[tuple[str, int, str]] = []  # answers other than 201 / retryable
        # Each answer that was retried: (when the request started, url, key, what went wrong).
        self.errors: list[tuple[float, str, str, str]] = []
        self.under_way: dict[str, tuple[str, float]] = {}  # key: (url, since)
        self.stopping = threading.Event()  # set when the test ends: clients give up
        self.retries = 0
        self.retried_keys: set[str] = set()
        self.recipients: list[str] = []

    def issue(self, n: int) -> str | None:
        """Issue one certificate (recipient `n`) until answered; its id (None if refused)."""
        key = f"kill-{uuid.uuid4()}"
        body = {**self.body, "recipientData": {**self.body["recipientData"]}}
        body["recipientData"]["email"] = f"r{n}-{key[-8:]}@example.org"
        with self.lock:
            self.recipients.append(body["recipientData"]["email"])
        answers = self.results.setdefault(key, [])
        deadline = time.monotonic() + 150  # a dead process's claim expires after 60 s
        attempt = n
        while time.monotonic() < deadline and not self.stopping.is_set():
            with self.lock:
                # Timed when the process is chosen, under the lock `replace` takes: a call that
                # picked the process about to be killed started before its replacement.
                url = self.urls[attempt % len(self.urls)]
                started = time.monotonic()
                self.under_way[key] = (url, started)
            attempt += 1
            try:
                response = httpx.post(
                    f"{url}/api/certificates/issue",
                    headers={**self.headers, "Idempotency-Key": key},
                    json=body,
                    timeout=30,
                )
            except httpx.TransportError as exc:
                self.retried(started, url, key, type(exc).__name__)
                time.sleep(0.2)
                continue
            finally:
                with self.lock:
                    del self.under_way[key]
            if response.status_code in (409, 429, 503):  # in progress elsewhere, or busy
                self.retried(started, url, key, str(response.status_code))
                time.sleep(0.5)
                continue
            certificate = response.json().get("data") or {}
            answers.append((response.status_code, certificate.get("certificateId")))
            if response.status_code != 201:
                self.failures.append((key, response.status_code, response.text))
            break
        with self.lock:
            self.done += 1
        return answers[-1][1] if answers and answers[-1][0] == 201 else None

    def in_flight(self, url: str, *, for_at_least: float = 0.0) -> int:
        """Issues sent to `url` at least `for_at_least` seconds ago and not answered yet."""
        now = time.monotonic()
        with self.lock:
            return sum(
                1
                for u, since in self.under_way.values()
                if u == url and now - since >= for_at_least
            )

    def retried(self, started: float, url: str, key: str, what: str) -> None:
        """Note an answer that will be retried (a connection error, 409 in progress, busy)."""
        with self.lock:
            self.retries += 1
            if key:
                self.retried_keys.add(key)
            self.errors.append((started, url, key, what))

    def replace(self, old: str, new: str) -> None:
        with self.lock:
            self.urls[:] = [new if url == old else url for url in self.urls]


def test_sigkilled_processes_break_no_promise(
    own_database: OwnDatabase, s3: S3Server, tmp_path: Path
) -> None:
    settings, db, make_account = own_database.settings, own_database.db, own_database.make_account
    env = {**s3.env(s3.new_bucket()), "AKOWE_BASE_URL": PUBLIC}
    account = make_account(credits=CREDITS)
    headers = account.headers()
    smtp = SmtpServer().start()
    worker_env = {
        **env,
        "AKOWE_SMTP_URL": SecretStr(smtp.url).get_secret_value(),
        "AKOWE_WORKER_POLL_INTERVAL": "0.1",
        "AKOWE_WORKER_PROCESSES": "0",
        "AKOWE_WORKER_CONCURRENCY": "1",
        # A killed worker's claimed messages go to its successor after this.
        "AKOWE_DELIVERY_LEASE_SECONDS": "5",
    }
    logs = tmp_path
    figures: dict[str, Any] = {}
    try:
        with ExitStack() as stack:
            a = stack.enter_context(server_process(settings, tmp_path / "a", logs / "a.log", **env))
            b = stack.enter_context(server_process(settings, tmp_path / "b", logs / "b.log", **env))
            worker = stack.enter_context(
                worker_process(settings, tmp_path / "w1", logs / "w1.log", **worker_env)
            )
            with httpx.Client(base_url=a.url, headers=headers, timeout=60) as client:
                body = issue_body(client)
            stream = Stream([a.url, b.url], headers, body)
            started = time.monotonic()
            with ThreadPoolExecutor(CLIENTS) as pool:
                futures = [pool.submit(stream.issue, n) for n in range(ISSUES)]
                while stream.done < ISSUES // 3:
                    time.sleep(0.01)
                # Mid-stream: both die at once, without a chance to finish anything.
                os.kill(a.process.pid, signal.SIGKILL)
                os.kill(worker.pid, signal.SIGKILL)
                stream.replace(a.url, b.url)
                figures["killed_after"] = stream.done
                restarted = stack.enter_context(
                    server_process(settings, tmp_path / "a2", logs / "a2.log", **env)
                )
                with stream.lock:  # back to two processes
                    stream.urls[:] = [restarted.url, b.url]
                stack.enter_context(
                    worker_process(settings, tmp_path / "w2", logs / "w2.log", **worker_env)
                )
                for future in futures:
                    future.result()
            figures["stream_seconds"] = round(time.monotonic() - started, 1)
            assert stream.failures == [], stream.failures[:3]

            certificates = {key: answers[-1][1] for key, answers in stream.results.items()}
            assert len(certificates) == ISSUES
            assert all(answers[-1][0] == 201 for answers in stream.results.values())
            assert len(set(certificates.values())) == ISSUES

            with db() as session:
                stored = _scalars(
                    session,
                    "SELECT id FROM certificate WHERE account_id = :a AND mode = 'live'",
                    account.account_id,
                )
                debits = _scalars(
                    session,
                    "SELECT amount FROM ledger_entry WHERE account_id = :a AND mode = 'live' "
                    "AND amount < 0",
                    account.account_id,
                )
            assert set(stored) == set(certificates.values())
            assert sorted(debits) == [-1] * ISSUES
            with httpx.Client(base_url=b.url, headers=headers) as client:
                balance = client.get("/api/users/balance").json()["data"]["balance"]
            assert balance == CREDITS - ISSUES
            # Every certificate downloads from both processes, the restarted one included.
            for url in (restarted.url, b.url):
                with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
                    for certificate_id in certificates.values():
                        pdf = client.get(f"/api/certificates/{certificate_id}/pdf")
                        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

            # Every email delivered by a worker; the killed one may have sent one twice (the
            # test has a database of its own: nothing else is queued).
            recipients = set(stream.recipients)
            assert len(recipients) == ISSUES

            def delivered() -> Counter[str]:
                return Counter(
                    to for rcpts, _ in smtp.sink.messages for to in rcpts if to in recipients
                )

            deadline = time.monotonic() + 90
            while set(delivered()) != recipients and time.monotonic() < deadline:
                time.sleep(0.2)
            sent = delivered()
            assert set(sent) == recipients, recipients - set(sent)
            duplicates = sum(count - 1 for count in sent.values())
            assert duplicates <= 1, sent.most_common(3)
            figures.update(
                issued=len(stored),
                debited=-sum(debits),
                balance=balance,
                client_retries=stream.retries,
                retried_keys=len(stream.retried_keys),
                emails=sum(sent.values()),
                duplicate_emails=duplicates,
            )
    finally:
        smtp.stop()
    print(f"\nkill test figures: {figures}")


def _scalars(session: Session, sql: str, account_id: str) -> list[Any]:
    return list(session.execute(sa.text(sql), {"a": account_id}).scalars())
