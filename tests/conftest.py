"""Test fixtures: a real migrated database (SQLite, or PostgreSQL when
AKOWE_TEST_DATABASE_URL names one) and the real service over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from akowe.accounts import service as accounts_service
from akowe.api.server import uvicorn_options
from akowe.config import Settings, normalize_database_url
from akowe.credits import service as credits_service
from akowe.db import migrate
from akowe.db.base import utcnow
from akowe.db.database import Database
from akowe.db.engine import make_engine, make_sessionmaker
from akowe.main import create_app
from akowe.modes import Mode

PG_URL = os.environ.get("AKOWE_TEST_DATABASE_URL")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _postgres_database(url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this run, dropped afterwards."""
    admin = sa.create_engine(normalize_database_url(url), isolation_level="AUTOCOMMIT")
    name = f"akowe_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL at {url} is unreachable: {exc}")
    try:
        yield str(sa.make_url(normalize_database_url(url)).set(database=name))
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The database every test of this run uses (one per run, migrated once)."""
    if PG_URL:
        yield from _postgres_database(PG_URL)
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'akowe.db'}"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def port() -> int:
    return _free_port()


@pytest.fixture(scope="session")
def settings(database_url: str, data_dir: Path, port: int) -> Settings:
    config = Settings(
        database_url=database_url,
        data_dir=data_dir,
        port=port,
        base_url=f"http://127.0.0.1:{port}",
        max_body_bytes=2 * 1024 * 1024,
        allow_private_urls=False,
        log_level="WARNING",
        # Delivery tests start their own workers against their own SMTP/HTTP servers.
        worker_enabled=False,
        secret_key=SecretStr("test-secret-key-for-signing-keys"),
        # Signing in the worker thread: a spawned process per test worker costs seconds;
        # tests/delivery/test_signing_worker.py runs the process pool on purpose.
        worker_processes=0,
    )
    migrate.upgrade(config)
    return config


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[sa.Engine]:
    eng = make_engine(settings)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def db(engine: sa.Engine) -> sessionmaker[Session]:
    """Write sessions for arranging and inspecting state directly."""
    return make_sessionmaker(engine, write=True)


@pytest.fixture
def call(settings: Settings):  # type: ignore[no-untyped-def]
    """Run an async service function `fn(db, **kwargs)` on a fresh Database (its own loop)."""

    def run(fn, /, **kwargs):  # type: ignore[no-untyped-def]
        async def main():  # type: ignore[no-untyped-def]
            async with Database(settings).lifespan() as database:
                return await fn(database, **kwargs)

        return asyncio.run(main())

    return run


# For the extra servers some tests start beside the session's: PostgreSQL's connections are
# shared by everything running on the machine.
SMALL_POOL = {"db_pool_size": 2, "db_threads": 2, "db_max_overflow": 2}


@contextmanager
def serve(app: Any, port: int) -> Iterator[str]:
    """Serve an app with uvicorn in a thread on a loopback port; yields its base URL."""
    options = uvicorn_options(Settings())
    srv = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **options
        )
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def server(settings: Settings) -> Iterator[str]:
    """The real service on a loopback port."""
    with serve(create_app(settings), settings.port) as url:
        yield url


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as c:
        yield c


@dataclass
class AccountFixture:
    """An account made for one test, with a live and a test key."""

    account_id: str
    email: str
    api_key: str
    test_api_key: str
    live_key_id: str

    def headers(self, *, test: bool = False, **extra: str) -> dict[str, str]:
        return {"x-api-key": self.test_api_key if test else self.api_key, **extra}


@pytest.fixture
def make_account(db: sessionmaker[Session]):  # type: ignore[no-untyped-def]
    """Factory: a fresh account with `credits` live and `test_credits` sandbox credits."""
    return account_factory(db)


def account_factory(db: sessionmaker[Session]):  # type: ignore[no-untyped-def]
    """`make_account` on the database `db` writes to."""

    def factory(credits: int = 0, test_credits: int = 0) -> AccountFixture:
        email = f"{uuid.uuid4().hex[:10]}@example.com"
        with db.begin() as session:
            account, live = accounts_service.create_account(session, email=email)
            test = accounts_service.create_key(session, account_id=account.id, mode=Mode.TEST)
            for mode, amount in ((Mode.LIVE, credits), (Mode.TEST, test_credits)):
                if amount:
                    credits_service.add(
                        session,
                        account_id=account.id,
                        mode=mode,
                        amount=amount,
                        reason="test grant",
                        actor="tests",
                    )
            return AccountFixture(account.id, email, live.api_key, test.api_key, live.key.id)

    return factory


def revoked_and_expired_keys(
    session: Session, account_id: str
) -> tuple[accounts_service.IssuedKey, accounts_service.IssuedKey]:
    """Two live keys of the account that must no longer work: one revoked, one expired."""
    revoked = accounts_service.create_key(session, account_id=account_id, mode=Mode.LIVE)
    accounts_service.revoke_key(session, key_id=revoked.key.id)
    expired = accounts_service.create_key(
        session, account_id=account_id, mode=Mode.LIVE, expires_in=timedelta(days=1)
    )
    expired.key.expires_at = utcnow() - timedelta(seconds=1)
    session.flush()
    return revoked, expired


@pytest.fixture
def account(make_account) -> AccountFixture:  # type: ignore[no-untyped-def]
    return make_account(credits=10, test_credits=5)  # type: ignore[no-any-return]


@dataclass
class OwnDatabase:
    """A migrated database of the suite's kind for one test alone."""

    settings: Settings
    db: sessionmaker[Session]
    make_account: Any


@pytest.fixture
def own_database(fresh_database: Settings) -> Iterator[OwnDatabase]:
    """For tests whose workers must find only what the test queued: the session's database
    holds every earlier test's unsent emails and unsigned credentials, which a worker started
    there sends first (minutes of them late in a PostgreSQL run on a slow machine)."""
    migrate.upgrade(fresh_database)
    engine = make_engine(fresh_database)
    db = make_sessionmaker(engine, write=True)
    try:
        yield OwnDatabase(fresh_database, db, account_factory(db))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real S3-compatible server on loopback (tests/s3server.py says why moto's)."""
    from tests.s3server import s3_server

    with s3_server(tmp_path_factory.mktemp("s3") / "moto.log") as server:
        yield server


@pytest.fixture
def fresh_database(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """The session's settings on an empty database of the suite's kind (not migrated), with
    a data directory of its own."""
    data = tmp_path / "fresh-data"
    if PG_URL:
        for url in _postgres_database(PG_URL):
            yield Settings(**{**settings.model_dump(), "database_url": url, "data_dir": data})
    else:
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
        yield Settings(**{**settings.model_dump(), "database_url": url, "data_dir": data})
