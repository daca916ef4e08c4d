"""Delivery fixtures: a service on its own database (so only these tests' messages are in
its outbox), real SMTP servers (aiosmtpd) on loopback, and workers started per test."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from akowe.accounts import service as accounts_service
from akowe.config import Settings
from akowe.credits import service as credits_service
from akowe.db import migrate
from akowe.db.engine import make_engine, make_sessionmaker
from akowe.delivery.worker import DeliveryWorker
from akowe.main import create_app
from akowe.modes import Mode
from tests.certificates.conftest import Issuer, make_issuer
from tests.conftest import PG_URL, AccountFixture, _free_port, _postgres_database, serve

free_port = _free_port


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll until `condition()` is truthy; its value, or AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


@pytest.fixture(scope="package")
def delivery_db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if PG_URL:
        yield from _postgres_database(PG_URL)
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('delivery-db') / 'akowe.db'}"


@pytest.fixture(scope="package")
def delivery_base(delivery_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Settings shared by the delivery service and the workers the tests start."""
    port = free_port()
    base: dict[str, Any] = {
        "database_url": delivery_db_url,
        "data_dir": tmp_path_factory.mktemp("delivery-data"),
        "port": port,
        "base_url": f"http://127.0.0.1:{port}",
        "allow_private_urls": True,
        "log_level": "WARNING",
        "worker_enabled": False,
        "worker_poll_interval": 0.05,
        "delivery_backoff_seconds": 0.05,
        "delivery_backoff_max_seconds": 0.2,
        "mail_from": "certificates@akowe.test",
        "smtp_timeout_seconds": 5,
        "secret_key": "delivery-tests-secret-key",
        "worker_processes": 0,  # test_signing_worker.py runs the process pool on purpose
    }
    migrate.upgrade(Settings(**base))
    return base


@pytest.fixture(scope="package")
def delivery_settings(delivery_base: dict[str, Any]) -> Settings:
    return Settings(**delivery_base)


@pytest.fixture(scope="package")
def delivery_server(delivery_settings: Settings) -> Iterator[str]:
    with serve(create_app(delivery_settings), delivery_settings.port) as url:
        yield url


@pytest.fixture
def dclient(delivery_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=delivery_server, timeout=30) as c:
        yield c


@pytest.fixture(scope="package")
def ddb(delivery_settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(delivery_settings)
    yield make_sessionmaker(engine, write=True)
    engine.dispose()


@pytest.fixture
def daccount(ddb: sessionmaker[Session]) -> AccountFixture:
    """An account in the delivery database with live and sandbox credits."""
    email_address = f"{uuid.uuid4().hex[:10]}@example.com"
    with ddb.begin() as session:
        account, live = accounts_service.create_account(session, email=email_address)
        test = accounts_service.create_key(session, account_id=account.id, mode=Mode.TEST)
        for mode in (Mode.LIVE, Mode.TEST):
            credits_service.add(
                session,
                account_id=account.id,
                mode=mode,
                amount=50,
                reason="test grant",
                actor="tests",
            )
        return AccountFixture(account.id, email_address, live.api_key, test.api_key, live.key.id)


@pytest.fixture
def dissuer(dclient: httpx.Client, daccount: AccountFixture) -> Issuer:
    return make_issuer(dclient, daccount)


class SmtpSink:
    """An SMTP server's handler that keeps what it accepts; it can refuse or stall on demand."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.refusals: list[str] = []  # answers to DATA before accepting, e.g. "451 ..."
        self.refuse_always: str | None = None
        self.stall_next = False
        self.stalling = threading.Event()
        self.release = threading.Event()
        self.data_commands = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_commands += 1
        if self.refuse_always:
            return self.refuse_always
        if self.refusals:
            return self.refusals.pop(0)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), message))
        if self.stall_next:
            # The worker is killed while waiting for this answer: the message may count as
            # delivered here although the worker never learned it.
            self.stall_next = False
            self.stalling.set()
            await asyncio.to_thread(self.release.wait, 60)
        return "250 2.0.0 OK"

    def to(self, address: str) -> list[EmailMessage]:
        """Messages accepted for this recipient."""
        return [m for rcpts, m in self.messages if address in rcpts]


class SmtpServer:
    """aiosmtpd on a loopback port (started and stopped by the test)."""

    def __init__(self, port: int | None = None, *, smtputf8: bool = False) -> None:
        self.port = port or free_port()
        self.sink = SmtpSink()
        self.smtputf8 = smtputf8  # whether it takes non-ASCII addresses (RFC 6531)
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SmtpServer:
        self.controller = Controller(
            self.sink, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=self.smtputf8
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        self.sink.release.set()
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


class Receiver:
    """A loopback HTTP server recording POSTs; answers from `statuses`, then 200."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self, event: str) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for h, b in self.requests if h.get("akowe-event") == event]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def start_worker(delivery_base: dict[str, Any]) -> Iterator[Callable[..., DeliveryWorker]]:
    """Factory: a running worker with these settings overrides (e.g. `smtp_url=`)."""
    workers: list[DeliveryWorker] = []

    def factory(*, run: bool = True, **overrides: Any) -> DeliveryWorker:
        if isinstance(overrides.get("smtp_url"), str):
            overrides["smtp_url"] = SecretStr(overrides["smtp_url"])
        worker = DeliveryWorker(Settings(**{**delivery_base, **overrides}))
        workers.append(worker)
        if run:
            worker.start()
        return worker

    yield factory
    for worker in workers:
        worker.stop()


def issue(client: httpx.Client, issuer: Issuer, **overrides: Any) -> dict[str, Any]:
    response = client.post(
        "/api/certificates/issue", headers=issuer.headers, json=issuer.body(**overrides)
    )
    assert response.status_code == 201, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


def certificate(client: httpx.Client, issuer: Issuer, certificate_id: str) -> dict[str, Any]:
    response = client.get(f"/api/certificates/{certificate_id}", headers=issuer.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


def unique_email() -> str:
    return f"r-{uuid.uuid4().hex[:12]}@example.org"


def data_dir_of(settings: Settings) -> Path:
    return settings.data_dir
