"""The one concurrency model for database work.

Nothing that can wait runs on the event loop: no pool checkout, no network round trip, no
lock wait. Every route, the CLI and the workers go through a `Database`:

- **Reads** (`await db.one/all/scalar(query, ...)`) run `Query`s (akowe.db.statements).
  On SQLite they run inline on a read-only connection owned by the event loop's thread: a
  WAL reader never waits for a writer (its busy timeout is zero; in the rare case SQLite
  still answers "busy" the read is retried in a thread). On PostgreSQL they run on a psycopg
  async pool of autocommit connections (no BEGIN/ROLLBACK round trips, prepared statements,
  no ping per checkout: a read that meets a dead connection is retried once on a new one).
- **Transactions** (`await db.transaction(fn, ...)`) run `fn(session, ...)` in a bounded
  thread pool with its own SQLAlchemy engine whose pool has one connection per thread, so a
  thread never waits for a connection. SQLite writers queue on an in-process lock first
  (SQLite's busy handler sleeps 1-100 ms while the lock sits free).
- **Admission** is asynchronous and bounded: a request waits for a thread or an async
  connection on the event loop without blocking it, at most `db_wait_timeout` seconds, then
  gets a clean 503 envelope (`ServiceBusy`). One account may hold at most `db_tenant_share`
  of either resource, so one tenant's burst cannot exhaust the pool for everyone else.
- **Synchronous callers** (the CLI, the delivery worker's thread) use `db.session()` or
  `db.reader()` on the same engine.

Sizes come from settings: `AKOWE_DB_THREADS` (threads = sync pool size),
`AKOWE_DB_POOL_SIZE` (async connections, PostgreSQL), `AKOWE_DB_MAX_OVERFLOW` (extra sync
connections for callers outside the thread pool), `AKOWE_DB_WAIT_TIMEOUT`,
`AKOWE_DB_TENANT_SHARE`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, literal, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from akowe.config import Settings
from akowe.db.engine import POSTGRES_SESSION, make_engine, make_sessionmaker, write_lock
from akowe.db.statements import Batch, DriverReader, Query
from akowe.errors import ServiceError

log = logging.getLogger("akowe.db")
PING_SECONDS = 2.0

T = TypeVar("T")
R = TypeVar("R")


# SQLSTATEs of a transaction PostgreSQL aborted for another one's sake: deadlock_detected,
# serialization_failure.
_CONFLICTS = frozenset({"40P01", "40001"})


class ServiceBusy(ServiceError):
    """No database capacity became free in time: the client should retry shortly."""

    code = "service_busy"
    status_code = 503
    default_message = "The service is busy. Please retry in a moment."
    retry_after = 1


class TransactionAborted(ServiceBusy):
    """PostgreSQL aborted the transaction for another one's sake (it broke a lock cycle, or
    a serialization conflict): nothing was written, and running it again may well succeed.
    Answered like any `ServiceBusy` where nobody runs it again."""


class DatabaseUnavailable(ServiceError):
    """The database could not be reached."""

    code = "database_unavailable"
    status_code = 503
    default_message = "The database is unavailable. Please retry in a moment."
    retry_after = 2


class Gate:
    """At most `total` holders, at most `per_tenant` of them for one tenant; waits are async.

    A tenant waits on its own semaphore first, so a burst from one account queues behind
    itself instead of filling the shared queue ahead of everyone else.
    """

    def __init__(self, total: int, per_tenant: int) -> None:
        self.total = total
        self.per_tenant = max(1, min(per_tenant, total))
        self._shared: asyncio.Semaphore | None = None
        self._tenants: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    def _semaphore(self) -> asyncio.Semaphore:
        if self._shared is None:
            self._shared = asyncio.Semaphore(self.total)
        return self._shared

    async def acquire(self, tenant: str | None, wait: float) -> Callable[[], None]:
        """Wait for a place (or raise ServiceBusy); returns the function that gives it back."""
        entry = None
        if tenant is not None:
            entry = self._tenants.get(tenant)
            if entry is None:
                entry = self._tenants[tenant] = (asyncio.Semaphore(self.per_tenant), [0])
            entry[1][0] += 1
        shared = self._semaphore()
        try:
            # A free place is taken at once (Semaphore.acquire does not yield when it need not
            # wait); only a real wait pays for wait_for's timeout machinery.
            deadline = None
            if entry is not None:
                deadline = await _take(entry[0], wait, None)
            try:
                await _take(shared, wait, deadline)
            except BaseException:
                if entry is not None:
                    entry[0].release()
                raise
        except TimeoutError:
            self._forget(tenant, entry)
            raise ServiceBusy() from None
        except BaseException:
            self._forget(tenant, entry)
            raise

        def release() -> None:
            shared.release()
            if entry is not None:
                entry[0].release()
                self._forget(tenant, entry)

        return release

    def _forget(
        self, tenant: str | None, entry: tuple[asyncio.Semaphore, list[int]] | None
    ) -> None:
        if tenant is None or entry is None:
            return
        entry[1][0] -= 1
        if entry[1][0] == 0 and self._tenants.get(tenant) is entry:
            del self._tenants[tenant]


async def _take(semaphore: asyncio.Semaphore, wait: float, deadline: float | None) -> float | None:
    """Acquire `semaphore`, waiting at most until `deadline` (or `wait` seconds from now when
    no deadline is set yet); returns the deadline used, if a wait was needed."""
    if not semaphore.locked():
        await semaphore.acquire()
        return deadline
    loop = asyncio.get_running_loop()
    if deadline is None:
        deadline = loop.time() + wait
    async with asyncio.timeout_at(deadline):
        await semaphore.acquire()
    return deadline


class Database:
    """Database access for one process; see the module docstring."""

    def __init__(self, settings: Settings, *, engine: Engine | None = None) -> None:
        self.settings = settings
        sqlite = settings.resolved_database_url.startswith("sqlite")
        threads = settings.db_threads or (2 if sqlite else 8)
        self._own_engine = engine is None
        self.engine = engine or make_engine(
            settings, pool_size=threads, max_overflow=settings.db_max_overflow
        )
        self.dialect = self.engine.dialect
        self.is_sqlite = self.dialect.name == "sqlite"
        self.sessions = make_sessionmaker(self.engine)
        self.write_sessions = make_sessionmaker(self.engine, write=True)
        share = settings.db_tenant_share
        self._threads = Gate(threads, math.ceil(threads * share))
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="akowe-db")
        self._connections = Gate(settings.db_pool_size, math.ceil(settings.db_pool_size * share))
        self._pool: Any = None  # psycopg_pool.AsyncConnectionPool, opened by start()
        self._local = threading.local()
        self._sqlite_path = self.engine.url.database or ""
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self._closing = False
        self._ping_lock = asyncio.Lock()
        self._ping_connection: Any = None

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the async pool (PostgreSQL); call from the event loop that will use it."""
        if self.is_sqlite or self._pool is not None:
            return
        from psycopg_pool import AsyncConnectionPool

        size = self.settings.db_pool_size
        self._pool = AsyncConnectionPool(
            _libpq_url(self.engine),
            min_size=size,
            max_size=size,
            kwargs={"autocommit": True, "prepare_threshold": 0, **POSTGRES_SESSION},
            timeout=self.settings.db_wait_timeout,
            max_idle=300,
            name="akowe-reads",
            open=False,
        )
        await self._pool.open(wait=False)

    async def close(self) -> None:
        """Finish background writes, then close the async pool, the thread pool and (if
        owned) the engine."""
        if self._background:
            await asyncio.wait(self._background, timeout=5)
        self._closing = True
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self._ping_connection is not None:
            await self._ping_connection.close()
            self._ping_connection = None
        self._executor.shutdown(wait=True)
        with self._readers_lock:
            for connection in self._readers:
                connection.close()
            self._readers.clear()
        if self._own_engine:
            self.engine.dispose()

    def dispose(self) -> None:
        """Synchronous close for processes without an event loop (CLI, workers)."""
        self._executor.shutdown(wait=True)
        if self._own_engine:
            self.engine.dispose()

    # ------------------------------------------------------------ async reads

    async def all(self, query: Query[T], /, *, tenant: str | None = None, **params: Any) -> list[T]:
        """Every row of `query`, without blocking the event loop."""
        if self.is_sqlite:
            try:
                return self._loop_reader().all(query, **params)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
            return await self.call(lambda: self.reader_all(query, params), tenant=tenant)
        return await self._pg_all(query, params, tenant)

    async def one(
        self, query: Query[T], /, *, tenant: str | None = None, **params: Any
    ) -> T | None:
        """The first row of `query`, or None."""
        rows = await self.all(query, tenant=tenant, **params)
        return rows[0] if rows else None

    async def scalar(
        self, query: Query[Any], /, *, tenant: str | None = None, **params: Any
    ) -> Any:
        """The first column of the first row, or None."""
        row = await self.one(query, tenant=tenant, **params)
        return None if row is None else row[0]

    def _loop_reader(self) -> DriverReader:
        reader: DriverReader | None = getattr(self._local, "reader", None)
        if reader is None:
            # Autocommit: each SELECT sees the latest committed snapshot and holds no lock
            # after it; busy_timeout 0: never sleep on the event loop.
            connection = sqlite3.connect(
                self._sqlite_path, isolation_level=None, timeout=0, check_same_thread=False
            )
            connection.execute("PRAGMA query_only=ON")
            with self._readers_lock:
                self._readers.append(connection)
            reader = self._local.reader = DriverReader(connection, self.dialect)
        return reader

    def reader_all(self, query: Query[T], params: dict[str, Any]) -> list[T]:
        """`all` on a pooled connection, in the calling (non-loop) thread."""
        with self.engine.connect() as connection:
            rows = DriverReader(connection.connection.dbapi_connection, self.dialect).all(
                query, **params
            )
            connection.rollback()
        return rows

    async def _pg_all(self, query: Query[T], params: dict[str, Any], tenant: str | None) -> list[T]:
        import psycopg
        from psycopg_pool import PoolTimeout

        if self._pool is None:
            await self.start()
        plan = query.plan(self.dialect)
        arguments = plan.arguments(params)
        release = await self._connections.acquire(tenant, self.settings.db_wait_timeout)
        try:
            for attempt in (1, 2):
                try:
                    async with self._pool.connection() as connection:
                        cursor = await connection.execute(plan.sql, arguments)
                        raw = await cursor.fetchall() if plan.returns_rows else []
                    return plan.rows(raw)
                except PoolTimeout:
                    raise ServiceBusy() from None
                except psycopg.OperationalError as exc:
                    # A connection the server closed (restart, idle timeout): the pool
                    # discards it; a read is safe to repeat once on a fresh one.
                    if attempt == 2:
                        raise DatabaseUnavailable() from exc
                    log.warning("read retried on a new connection", extra={"error": str(exc)})
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            release()

    async def ping(self) -> None:
        """Check the database answers, outside the request queues: a health check must say
        whether the database is up, not how long the queue is. PostgreSQL uses one
        connection of its own (reopened if it broke); SQLite reads inline."""
        if self.is_sqlite:
            self._loop_reader().all(_SELECT_ONE)
            return
        import psycopg

        async with self._ping_lock:
            try:
                # Not the admission wait (which may be short): how long the database may take.
                async with asyncio.timeout(max(self.settings.db_wait_timeout, PING_SECONDS)):
                    if self._ping_connection is None or self._ping_connection.closed:
                        self._ping_connection = await psycopg.AsyncConnection.connect(
                            _libpq_url(self.engine), autocommit=True
                        )
                    await self._ping_connection.execute("SELECT 1")
            except (psycopg.Error, OSError, TimeoutError) as exc:
                if self._ping_connection is not None:
                    await self._ping_connection.close()
                    self._ping_connection = None
                raise DatabaseUnavailable() from exc

    # ------------------------------------------------------------ threads

    async def call(self, fn: Callable[[], R], *, tenant: str | None = None) -> R:
        """Run blocking `fn` in the database thread pool (admission bounded, 503 on timeout)."""
        release = await self._threads.acquire(tenant, self.settings.db_wait_timeout)
        loop = asyncio.get_running_loop()
        try:
            future: Future[R] = self._executor.submit(fn)
        except BaseException:
            release()
            raise
        # The place is given back when the thread is done, even if the awaiting request is
        # cancelled meanwhile (the work itself is never abandoned half-way).
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(release))
        return await asyncio.wrap_future(future)

    async def transaction(self, fn: Callable[[Session], R], /, *, tenant: str | None = None) -> R:
        """Run `fn(session)` in one write transaction in a thread; commit if it returns.

        `tenant` (the caller's account) counts the work against that account's share of the
        threads. Bind arguments with `functools.partial`.
        """
        return await self.call(lambda: self.run_transaction(fn), tenant=tenant)

    async def readonly(self, fn: Callable[[Session], R], /, *, tenant: str | None = None) -> R:
        """Run `fn(session)` in a read-only session in a thread: for reads that block on
        other work too, such as rendering a file from stored data."""

        return await self.call(lambda: self.run_readonly(fn), tenant=tenant)

    def run_readonly(self, fn: Callable[[Session], R], /) -> R:
        """The synchronous core of `readonly`, for threads outside the database pool (the
        render threads, akowe.certificates.renders)."""
        with self.sessions() as session:
            return fn(session)

    def run_transaction(self, fn: Callable[[Session], R], /) -> R:
        """The synchronous core of `transaction` (also for the CLI and workers)."""
        with write_lock(self.engine), self.write_sessions() as session:
            try:
                result = fn(session)
                session.commit()
            except DBAPIError as exc:
                session.rollback()
                if exc.connection_invalidated:
                    raise DatabaseUnavailable() from exc
                if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
                    # Another process held SQLite's write lock past the busy timeout.
                    raise ServiceBusy() from exc
                if getattr(exc.orig, "sqlstate", None) in _CONFLICTS:
                    # PostgreSQL broke a lock cycle (or a serialization conflict) by aborting
                    # this transaction: nothing was written and a retry may well succeed.
                    raise TransactionAborted() from exc
                raise
            return result

    def spawn(self, fn: Callable[[Session], object], /) -> None:
        """Run `fn(session)` in a transaction in the background: for writes no request needs
        to wait for (a key's last-used time). Failures are logged, never raised."""

        async def run() -> None:
            try:
                await self.transaction(fn)
            except Exception:
                if not self._closing:
                    log.warning("background write failed", exc_info=True)

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------ synchronous callers

    @contextmanager
    def read_connection(self) -> Iterator[DriverReader]:
        """A pooled connection for reads outside any transaction (autocommit: no BEGIN or
        ROLLBACK round trips, no SQLite write lock), in the calling thread."""
        raw = self.engine.raw_connection()
        driver = raw.driver_connection
        try:
            if not self.is_sqlite:
                driver.autocommit = True  # type: ignore[union-attr]
            yield DriverReader(driver, self.dialect)
        finally:
            try:
                if not self.is_sqlite:
                    driver.autocommit = False  # type: ignore[union-attr]
            finally:
                raw.close()

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A session for synchronous code; the caller commits."""
        factory: sessionmaker[Session] = self.write_sessions if write else self.sessions
        with factory() as session:
            yield session

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[Database]:
        """`start` then `close`, for async callers that own this database."""
        await self.start()
        try:
            yield self
        finally:
            await self.close()


_SELECT_ONE: Query[Any] = Query(select(literal(1)), name="select 1")


def session_reader(session: Session) -> DriverReader:
    """Run `Query`s on a session's own connection (same transaction)."""
    connection = session.connection()
    return DriverReader(connection.connection.dbapi_connection, connection.dialect)


def final_batch(session: Session) -> AbstractContextManager[Batch]:
    """The transaction's last writes, as a batch that commits with them (on PostgreSQL the
    COMMIT joins the batch's round trip: see `DriverReader.batch`). What the session holds
    is flushed first, so that it commits too; nothing may be written after the block."""
    session.flush()
    return session_reader(session).batch(commit=True)


def _libpq_url(engine: Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
