"""Statements defined once as SQLAlchemy Core, compiled once per dialect, run by any executor.

A `Query` wraps a Core SELECT (or a DML statement with RETURNING) whose parameters are named
`bindparam`s. The first time it runs on a dialect it is compiled to the driver's SQL and a
small plan: the order of positional parameters, the bind processors of its types (a
`UTCDateTime` becomes naive on SQLite, a `Json` a string) and the result processors of its
columns (the reverse). Running it afterwards costs a dictionary lookup, the driver's
`execute` and one tuple per row: measured here, SQLAlchemy's own `Connection.execute` costs
about 70 us more per statement on this path, more than the query itself.

Rows come back as named tuples whose fields are the selected columns' keys, so a row of
`select(certificate_table)` reads like the ORM object (`row.recipient_name`). The type
parameter states that: `Query[Certificate]` promises the attributes of `Certificate`, not
the class itself.

The same `Query` runs on a raw driver connection (`DriverReader`: the event loop's SQLite
reader, a psycopg connection, or a write transaction's own connection), so every rule it
encodes (tenant scope, soft delete) exists exactly once.
"""

from __future__ import annotations

import enum
import functools
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import msgspec
from sqlalchemy import ClauseElement, Executable, Table, bindparam, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import sqltypes
from sqlalchemy.sql.compiler import SQLCompiler

T = TypeVar("T")
_JSON_DECODER = msgspec.json.Decoder()
Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Plan:
    """A statement compiled for one dialect."""

    sql: str
    positional: tuple[str, ...] | None  # parameter order for qmark/format styles
    defaults: Mapping[str, Any]  # values carried by the statement itself (literals)
    bind: tuple[tuple[str, Processor], ...]
    convert: tuple[tuple[int, Processor], ...]  # result columns that need processing
    record: Any  # the row type: a namedtuple of the result columns
    returns_rows: bool  # asking the cursor (description) builds objects for every column
    # For qmark/format styles: each position's parameter and its processor (None: as is).
    steps: tuple[tuple[str, Processor | None], ...] = ()

    def arguments(self, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        """The driver's arguments for these parameters (processed like SQLAlchemy would).

        Enum members pass as themselves: every enum here is a StrEnum, which both drivers
        send as its string value. Positional arguments are made in one pass over `steps`:
        a bulk job's chunk makes them for some 13 rows a certificate, and copying each
        row's parameters to process them took a fifth of the chunk's Python time.
        """
        values = {**self.defaults, **params} if self.defaults else params
        if self.positional is not None:
            return [
                values[name] if process is None else process(values[name])
                for name, process in self.steps
            ]
        values = dict(values)
        for name, process in self.bind:
            if name in values:
                values[name] = process(values[name])
        return values

    def row(self, raw: Sequence[Any]) -> Any:
        """One driver row as a record."""
        return self.rows((raw,))[0]

    def rows(self, raw: Sequence[Sequence[Any]]) -> list[Any]:
        """Driver rows as records, in one loop (a page of rows is the hot path of lists:
        no call per row, and `tuple.__new__` rather than `_make`, whose length check the
        compiled statement makes needless)."""
        record, new = self.record, tuple.__new__
        if not self.convert:
            return [new(record, values) for values in raw]
        convert = self.convert
        out = []
        for values in raw:
            row = list(values)
            for index, process in convert:
                value = row[index]
                if value is not None:
                    row[index] = process(value)
            out.append(new(record, row))
        return out


class Query(Generic[T]):
    """A Core statement defined once; see the module docstring."""

    __slots__ = ("_plans", "_rows_plans", "copy_into", "name", "statement")

    def __init__(
        self, statement: Executable, *, name: str = "", copy_into: Table | None = None
    ) -> None:
        self.statement = statement
        self.name = name
        # A plain INSERT of every column of this table: many rows may go in by COPY, a few
        # in one statement (`plan_rows`).
        self.copy_into = copy_into
        self._plans: dict[str, Plan] = {}
        self._rows_plans: dict[tuple[str, int], Plan] = {}

    def plan(self, dialect: Dialect) -> Plan:
        """The statement compiled for this dialect (cached)."""
        plan = self._plans.get(dialect.name)
        if plan is None:
            plan = self._plans[dialect.name] = _compile(self.statement, dialect)
        return plan

    def plan_rows(self, dialect: Dialect, rows: int) -> Plan:
        """For a `copy_into` insert: `rows` rows in one INSERT ... VALUES (...), (...),
        compiled once per count; row i's parameters are named `<column key>__<i>`
        (`rows_arguments`)."""
        assert self.copy_into is not None, "only a plain insert of every column"
        plan = self._rows_plans.get((dialect.name, rows))
        if plan is None:
            columns = self.copy_into.columns
            statement = insert(self.copy_into).values(
                [
                    {c.key: bindparam(f"{c.key}__{i}", type_=c.type) for c in columns}
                    for i in range(rows)
                ]
            )
            plan = self._rows_plans[(dialect.name, rows)] = _compile(statement, dialect)
        return plan

    def __repr__(self) -> str:
        return f"Query({self.name or str(self.statement)[:60]!r})"


def rows_arguments(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The parameters of `Query.plan_rows` for these rows."""
    return {f"{key}__{i}": value for i, row in enumerate(rows) for key, value in row.items()}


def _compile(statement: Executable, dialect: Dialect) -> Plan:
    assert isinstance(statement, ClauseElement)
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    binds = compiled.binds
    defaults = {
        name: bind.value
        for name, bind in binds.items()
        if not bind.required and bind.callable is None and not bind.expanding
    }
    if any(bind.expanding for bind in binds.values()):
        raise ValueError(f"expanding IN parameters are not supported here: {statement}")
    bind_processors: list[tuple[str, Processor]] = []
    for name, bind in binds.items():
        bind_process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if bind_process is not None:
            bind_processors.append((name, bind_process))
    # The compiled result map: SQLAlchemy's own record of each result column's key and type.
    columns = compiled._result_columns
    keys = [column.keyname for column in columns]
    convert = []
    for index, column in enumerate(columns):
        impl = column.type.dialect_impl(dialect)
        process: Processor | None = impl.result_processor(dialect, None)
        if process is not None and isinstance(impl, sqltypes.JSON) and dialect.name == "sqlite":
            # The same result as the dialect's json.loads (no custom deserializer is set),
            # about nine times faster for the small documents rows hold.
            process = _JSON_DECODER.decode
        if process is not None:
            convert.append((index, process))
    positional = None
    if dialect.paramstyle in ("qmark", "format", "numeric"):
        positional = tuple(compiled.positiontup or ())
    processors = dict(bind_processors)
    return Plan(
        sql=str(compiled),
        positional=positional,
        defaults=defaults,
        bind=tuple(bind_processors),
        convert=tuple(convert),
        record=namedtuple("Record", keys or ["_"], rename=True),
        returns_rows=bool(keys),
        steps=tuple((name, processors.get(name)) for name in positional or ()),
    )


class DriverReader:
    """Runs `Query`s on one DBAPI connection (sqlite3 or psycopg), in the caller's thread.

    Nothing here waits on the event loop's behalf: it is used inline only on SQLite's
    loop-owned read connection (WAL readers never wait for writers), and otherwise inside a
    worker thread's transaction.
    """

    __slots__ = ("connection", "dialect")

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self.connection = connection
        self.dialect = dialect

    def all(self, query: Query[T], /, **params: Any) -> list[T]:
        """Every row."""
        plan = query.plan(self.dialect)
        cursor = self.connection.cursor()
        try:
            cursor.execute(plan.sql, plan.arguments(params))
            rows = cursor.fetchall() if plan.returns_rows else []
        finally:
            cursor.close()
        return plan.rows(rows)

    def one(self, query: Query[T], /, **params: Any) -> T | None:
        """The first row, or None (the statement still runs to completion)."""
        rows = self.all(query, **params)
        return rows[0] if rows else None

    def scalar(self, query: Query[Any], /, **params: Any) -> Any:
        """The first column of the first row, or None."""
        row = self.one(query, **params)
        return None if row is None else row[0]

    def execute(self, query: Query[Any], /, **params: Any) -> None:
        """Run a statement whose rows nobody reads."""
        self.all(query, **params)

    @contextmanager
    def batch(self, *, commit: bool = False) -> Iterator[Batch]:
        """Statements sent together: on PostgreSQL in one pipeline (one round trip instead of
        one per statement), elsewhere one after the other; `Batch.write`s are grouped into
        one `executemany` per statement at the end. Read each `Pending` result after the
        block; a statement that fails raises when the block ends (or, on SQLite, an `add`
        at once, translated by the batch's `refuse_with` translators), and the caller's
        transaction rolls back as usual.

        With `commit` (see `Batch.commits`), a pipelined batch ends the transaction: BEGIN
        (if none is open yet), the statements and COMMIT go in one round trip, so a row lock
        a statement takes (a debit's) is released by the server without waiting for this
        process to read the answers and send the COMMIT, which under load meant waiting for
        the GIL. Its statements must then fail in the database for anything that must roll
        the transaction back, as `Batch.commits` says. Elsewhere `commit` changes nothing:
        the caller commits."""
        pipelined = self.dialect.name == "postgresql"
        batch = Batch(self, pipelined, commits=pipelined and commit)
        try:
            if not pipelined:
                yield batch
                batch.flush()
                return
            if batch.commits:
                with self._whole_transaction():
                    yield batch
                    batch.flush(piped=True)  # (a COPY cannot join: it raises)
            else:
                with self.connection.pipeline():
                    yield batch
                    if not batch.copies():
                        batch.flush(piped=True)  # with the statements above: one round trip
            batch.collect()
            batch.flush()  # the writes with a COPY among them (a chunk of a bulk job)
        except Exception as exc:
            refused = batch.refusal(exc)
            if refused is None:
                raise
            raise refused from exc

    @contextmanager
    def _whole_transaction(self) -> Iterator[None]:
        """A pipeline that ends the transaction with COMMIT when the block is done (for a
        `Batch` that commits). psycopg opens a transaction with a BEGIN it waits for, a
        round trip of its own, so when none is open yet the connection is switched to
        autocommit for the block and BEGIN and COMMIT are sent as the pipeline's first and
        last statements: one round trip in all. A statement that fails makes the server
        skip the rest, COMMIT included; the transaction is then rolled back here. The
        connection is left with no transaction open and as it was found."""
        from psycopg.pq import TransactionStatus

        connection = self.connection
        fresh = connection.info.transaction_status == TransactionStatus.IDLE
        autocommit = connection.autocommit
        if fresh:
            connection.autocommit = True
        try:
            with connection.pipeline():
                if fresh:
                    connection.execute(b"BEGIN", prepare=False)
                yield
                if fresh:
                    connection.execute(b"COMMIT", prepare=False)
                else:
                    connection.commit()
        finally:
            try:
                if connection.info.transaction_status != TransactionStatus.IDLE:
                    connection.rollback()
            finally:
                if fresh:
                    connection.autocommit = autocommit


class Pending(Generic[T]):
    """The result of a statement in a `Batch`, readable once the batch has run."""

    __slots__ = ("_cursor", "_plan", "_rows")

    def __init__(self, plan: Plan, cursor: Any = None, rows: list[Any] | None = None) -> None:
        self._plan = plan
        self._cursor = cursor
        self._rows = rows

    def collect(self) -> None:
        """Fetch the rows from the (synced) cursor."""
        if self._cursor is not None:
            raw = self._cursor.fetchall() if self._plan.returns_rows else []
            self._cursor.close()
            self._cursor = None
            self._rows = self._plan.rows(raw)

    def rows(self) -> list[T]:
        """Every row."""
        if self._rows is None:
            raise RuntimeError("read a batched result after its batch has run")
        return self._rows

    def one(self) -> T | None:
        """The first row, or None."""
        rows = self.rows()
        return rows[0] if rows else None


class Batch:
    """See `DriverReader.batch`."""

    __slots__ = ("_pending", "_pipelined", "_reader", "_refusals", "_writes", "commits")

    def __init__(self, reader: DriverReader, pipelined: bool, *, commits: bool = False) -> None:
        self._reader = reader
        self._pipelined = pipelined
        # Whether the transaction commits with this batch, before any result is read: a
        # statement whose outcome decides whether to commit (a debit the balance cannot
        # cover) must then make the database raise instead of returning no row.
        self.commits = commits
        self._pending: list[Pending[Any]] = []
        self._writes: dict[Query[Any], list[dict[str, Any]]] = {}
        self._refusals: list[Callable[[Exception], Exception | None]] = []

    def refuse_with(self, translate: Callable[[Exception], Exception | None], /) -> None:
        """Have a database error this batch raises become the error `translate` returns for
        it (None: not its error), such as a refused debit becoming InsufficientCredits."""
        if translate not in self._refusals:
            self._refusals.append(translate)

    def refusal(self, exc: Exception) -> Exception | None:
        """What a translator makes of `exc`, if any."""
        for translate in self._refusals:
            refused = translate(exc)
            if refused is not None:
                return refused
        return None

    def add(self, query: Query[T], /, **params: Any) -> Pending[T]:
        """Send a statement; its result is read from the returned `Pending`."""
        plan = query.plan(self._reader.dialect)
        if not self._pipelined:
            return Pending(plan, rows=self._reader.all(query, **params))
        cursor = self._reader.connection.cursor()
        cursor.execute(plan.sql, plan.arguments(params))
        pending: Pending[T] = Pending(plan, cursor=cursor)
        self._pending.append(pending)
        return pending

    def write(self, query: Query[Any], /, **params: Any) -> None:
        """A statement whose result nobody reads (an insert), sent when the block ends
        together with this batch's other writes of the same statement: one `executemany`
        per statement, statements in the order of their first write (so a row is written
        before the rows that refer to it, as long as it is written first). A chunk of a bulk
        job writes thousands of rows in a few statements instead of one each."""
        rows = self._writes.get(query)
        if rows is None:
            rows = self._writes[query] = []
        rows.append(params)

    def copies(self) -> bool:
        """Whether a pending write is large enough to go in by COPY (PostgreSQL)."""
        return self._pipelined and any(
            query.copy_into is not None and len(rows) >= COPY_ROWS
            for query, rows in self._writes.items()
        )

    def flush(self, *, piped: bool = False) -> None:
        """Send the pending writes, in order: on PostgreSQL, inserts of at least COPY_ROWS
        rows by COPY (outside any pipeline, which COPY cannot join), the other statements
        pipelined between them (`piped`: in the caller's pipeline, which the writes then
        join; a pipeline of their own inside it would cost two more round trips, as psycopg
        syncs when a nested pipeline starts and ends)."""
        connection, dialect = self._reader.connection, self._reader.dialect
        in_callers = piped
        with ExitStack() as pipeline:
            for query, rows in self._writes.items():
                plan = query.plan(dialect)
                table = query.copy_into
                if self._pipelined and table is not None and len(rows) >= COPY_ROWS:
                    if in_callers:
                        raise RuntimeError("COPY cannot join the caller's pipeline")
                    pipeline.close()
                    piped = False
                    _copy(connection, dialect, table, plan, rows)
                    continue
                if self._pipelined and not piped:
                    pipeline.enter_context(connection.pipeline())
                    piped = True
                cursor = connection.cursor()
                if len(rows) == 1:
                    cursor.execute(plan.sql, plan.arguments(rows[0]))
                elif self._pipelined and table is not None:
                    # A few rows in one statement: psycopg sends and polls for every
                    # statement of a pipeline, an executemany row included (measured: six
                    # rows by executemany 270-330 us of client CPU, in one INSERT 110-190).
                    many = query.plan_rows(dialect, len(rows))
                    cursor.execute(many.sql, many.arguments(rows_arguments(rows)))
                else:
                    cursor.executemany(plan.sql, [plan.arguments(params) for params in rows])
                cursor.close()
        self._writes.clear()

    def collect(self) -> None:
        """Fetch every result once the pipeline has synced."""
        for pending in self._pending:
            pending.collect()


def insert_query(table: Table, *, name: str = "") -> Query[Any]:
    """`INSERT INTO table (every column) VALUES (...)`: every column a parameter of its own
    type. Run it with `with_defaults(table, values)` so that columns the caller leaves out
    get their declared Python-side defaults, exactly as an ORM insert would. Many rows of
    it in one `Batch` go in by COPY on PostgreSQL."""
    return Query(
        insert(table).values({c.key: bindparam(c.key, type_=c.type) for c in table.columns}),
        name=name or f"insert {table.name}",
        copy_into=table,
    )


# From this many rows a batched insert goes in by COPY (PostgreSQL): a chunk of a bulk job
# writes thousands of rows; a single issue writes one row per table, pipelined.
COPY_ROWS = 50


def _copy(connection: Any, dialect: Dialect, table: Table, plan: Plan, rows: list[Any]) -> None:
    """`rows` of `plan` (an `insert_query`) into `table` by COPY: the same parameters, bound
    by the same processors, streamed instead of one Bind/Execute each."""
    quote = dialect.identifier_preparer.quote
    keys = [column.key for column in table.columns]
    names = ", ".join(quote(column.name) for column in table.columns)
    statement = f"COPY {quote(table.name)} ({names}) FROM STDIN"
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for params in rows:
            arguments = cast(dict[str, Any], plan.arguments(params))
            copy.write_row([arguments[key] for key in keys])


def with_defaults(table: Table, values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` completed with each missing column's declared default (scalar or callable,
    as SQLAlchemy would compute it) or NULL."""
    out = dict(values)
    for key, scalar, make in _defaults_of(table):
        if key not in out:
            out[key] = scalar if make is None else make(None)
    return out


@functools.cache
def _defaults_of(table: Table) -> tuple[tuple[str, Any, Callable[[Any], Any] | None], ...]:
    """Each column's default, read off the table once: `with_defaults` runs for every row a
    bulk job writes (five tables a row), and asking each column's default object what kind
    it is every time took most of its time."""
    found = []
    for column in table.columns:
        default = column.default
        if default is None:
            found.append((column.key, None, None))
        elif getattr(default, "is_scalar", False):
            found.append((column.key, default.arg, None))  # type: ignore[attr-defined]
        elif getattr(default, "is_callable", False):
            found.append((column.key, None, default.arg))  # type: ignore[attr-defined]
        else:  # pragma: no cover - server-side or SQL-expression defaults are not used here
            raise ValueError(f"{table.name}.{column.key}: unsupported default {default!r}")
    return tuple(found)


class QueryFamily(Generic[T]):
    """Queries built on demand for each combination of optional clauses (which filters are
    set, whether a cursor is given), each built and compiled once."""

    __slots__ = ("_build", "_queries", "name")

    def __init__(self, build: Callable[..., Executable], *, name: str = "") -> None:
        self._build = build
        self._queries: dict[tuple[Any, ...], Query[T]] = {}
        self.name = name

    def __call__(self, *key: Any) -> Query[T]:
        """The query for this combination."""
        query = self._queries.get(key)
        if query is None:
            query = self._queries[key] = Query(self._build(*key), name=f"{self.name} {key}")
        return query


def load(
    session: Any, entity: type[T], query: Query[T], /, *, for_update: bool = False, **params: Any
) -> T | None:
    """The ORM entity a `Query` over its table finds, in a write transaction (optionally
    locked), so the write path uses the very query the read path uses."""
    from sqlalchemy import select

    statement: Any = query.statement
    if for_update:
        statement = statement.with_for_update()
    params = {k: v.value if isinstance(v, enum.Enum) else v for k, v in params.items()}
    found: T | None = session.scalars(select(entity).from_statement(statement), params).first()
    return found
