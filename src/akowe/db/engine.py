"""Engine and session factory for SQLite (WAL, foreign keys) or PostgreSQL (psycopg 3)."""

from __future__ import annotations

import os
import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Final

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from akowe.config import Settings
from akowe.db.checkpoint import BACKSTOP_PAGES, checkpointer


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Writers queue for up to 30 s instead of failing with "database is locked".
    cursor.execute("PRAGMA busy_timeout=30000")
    # A thread checkpoints the log after commits (akowe.db.checkpoint); writers only past this.
    cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # Write use cases take the write lock when their transaction starts, so two writers never
    # both read and then collide on the lock upgrade (which SQLite fails at once, ignoring
    # busy_timeout). Reads stay deferred so they never wait for a writer under WAL.
    immediate = conn.get_execution_options().get("sqlite_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(settings: Settings, *, pool_size: int = 4, max_overflow: int = 4) -> Engine:
    """Create the engine the settings name; SQLite files live in the data directory.

    The pool is sized by the caller (see akowe.db.database: one connection per database
    thread, plus overflow for callers outside the thread pool). PostgreSQL connections are
    not pinged on checkout: a dead one fails its transaction once, which invalidates the
    pool's older connections too, and the request answers 503 instead of paying a round
    trip on every checkout.
    """
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=settings.db_wait_timeout,
            hide_parameters=True,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        path = engine.url.database
        if path and path != ":memory:" and not path.startswith("file:"):
            keeper = checkpointer(os.path.abspath(path))
            event.listen(engine, "commit", lambda _connection: keeper.committed())
        return engine
    return create_engine(
        url,
        connect_args=POSTGRES_SESSION,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=settings.db_wait_timeout,
        pool_recycle=1800,
        # Statement parameters are recipients' names and emails: never in an error or a log.
        hide_parameters=True,
    )


# Every PostgreSQL session of the service. No parallel query: the service's queries are
# short, ordered and limited (a page of 20 rows); workers for them cost more to start than they
# save (measured: a search page 16 ms serial, 27-44 ms with two workers, 100,000 rows), and
# they would take the cores the other requests need.
POSTGRES_SESSION: Final = {"options": "-c max_parallel_workers_per_gather=0"}


_SQLITE_WRITE_LOCKS: dict[str, threading.Lock] = {}


def write_lock(engine: Engine) -> AbstractContextManager[object]:
    """Serialize this process's SQLite writers in Python before they reach the database.

    SQLite admits one writer; the others wait in its busy handler, which sleeps 1, 2, 5 ...
    100 ms between tries, so under load the lock sits free while writers sleep. A Python
    lock hands it over at once. Other processes still wait in the busy handler. PostgreSQL
    locks rows, so there this is a no-op.
    """
    if engine.dialect.name != "sqlite":
        return nullcontext()
    return _SQLITE_WRITE_LOCKS.setdefault(str(engine.url), threading.Lock())


def make_sessionmaker(engine: Engine, *, write: bool = False) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit; `write` ones lock early on SQLite."""
    bind = engine.execution_options(sqlite_immediate=True) if write else engine
    return sessionmaker(bind, expire_on_commit=False)
