"""Public reads on the event loop: no thread hop, no ORM, statements compiled once.

Why this module exists (the figures are in bench/README.md): a synchronous route pays a trip
through the thread pool, which costs more than the queries behind a typical read, and
SQLAlchemy's per-execution work (cache key, result processing) costs several times what
SQLite needs to answer a primary-key lookup. So the hot public reads (one initiative, a page
of initiatives, the ETag check of every cached answer, warm statistics) are `async` routes
that read through a `Reader`:

- **SQLite:** a statement runs on the event loop, on one connection per process, while it is
  cheap: a plain function call, and in WAL mode a reader never waits for a writer. SQLite
  counts the steps of its virtual machine as a statement runs; one still running after
  `LOOP_STEPS` of them (about a third of a millisecond on the bench's machine) is stopped
  and run again, from the start, in a worker thread on a connection of that thread. So a
  primary-key read, a page of 50 in index order and the count of a table's rows stay on the
  loop, and a search by `?q=`, a count over many matching rows or a page at a deep offset
  move off it, whatever their query plan says. (A worker thread is not free: it hands
  Python's GIL back and forth with the loop for every row, which under load cost a page of
  50 several times its own time, bench/README.md.) `SQLiteReader.batch` is that rule, the
  only one; tests/test_reads_off_loop.py checks it.
- **PostgreSQL:** psycopg's asyncio connections from a small pool: the loop waits on the
  socket, never on a thread or on the synchronous pool the write routes use. (Mixing a
  synchronous pool into `async` routes is what stalls a server under load: one concurrency
  model per pool.)

Statements are still SQLAlchemy Core, written beside the rest of each resource's queries.
`Prepared` compiles one to SQL text once per database dialect and runs it on the driver's
cursor, with named parameters; rows come back as dicts of plain driver values (SQLite's
timestamps as ISO text, its booleans as 0/1), which the pydantic response models parse.
"""

import asyncio
import contextlib
import os
import socket
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar, get_args

import psycopg
from fastapi import Request, Response
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import BaseModel
from pydantic_core import to_json
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Dialect,
    Engine,
    Select,
    bindparam,
    literal,
    make_url,
    select,
)
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.sql import ClauseElement
from sqlmodel import Session

from app.fields import as_utc
from app.listing import PageParams, order_by
from app.lru import LRU
from app.readpool import ReadPool
from app.search.match import NO_TERMS, Terms, Word

Row = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class Sql:
    """A statement compiled for one database: its text and the values of its fixed binds."""

    text: str
    defaults: Mapping[str, Any]

    def parameters(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.defaults, **values}


class Prepared:
    """A Core statement, compiled to SQL once per dialect. Give its variable parts names with
    `bindparam("name")` and pass their values when running it."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._sql: dict[str, Sql] = {}

    def sql(self, dialect: Dialect) -> Sql:
        compiled = self._sql.get(dialect.name)
        if compiled is None:
            done = self.statement.compile(dialect=dialect)
            compiled = Sql(done.string, dict(done.params))
            self._sql[dialect.name] = compiled
        return compiled


class Shapes:
    """Prepared statements for queries whose shape varies (filters, sort order), built on
    first use and kept by a key that names the shape; a small LRU bounds them."""

    def __init__(self, size: int = 256) -> None:
        self._items: LRU[Any, Prepared] = LRU(size)

    def get(self, key: Any, build: Callable[[], ClauseElement]) -> Prepared:
        prepared = self._items.get(key)
        if prepared is None:
            prepared = Prepared(build())
            self._items.put(key, prepared)
        return prepared


# Both dialects render named parameters, so every statement takes a dict of values.
SQLITE_DIALECT = SQLiteDialect_pysqlite(paramstyle="named")
POSTGRESQL_DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]
DIALECTS = {"sqlite": SQLITE_DIALECT, "postgresql": POSTGRESQL_DIALECT}


class Reader:
    """Runs prepared statements for the async routes (see the module's docstring)."""

    dialect: Dialect
    # Whether a read waits for the database, letting the event loop serve other requests
    # meanwhile. SQLite's on-loop reads do not (app/web/plainread.py yields for them).
    suspends = True

    async def all(self, prepared: Prepared, **values: Any) -> list[Row]:
        raise NotImplementedError

    async def first(self, prepared: Prepared, **values: Any) -> Row | None:
        rows = await self.all(prepared, **values)
        return rows[0] if rows else None

    async def scalar(self, prepared: Prepared, **values: Any) -> Any:
        row = await self.first(prepared, **values)
        return None if row is None else next(iter(row.values()))

    async def batch(self, *queries: tuple[Prepared, Mapping[str, Any]]) -> list[list[Row]]:
        """The rows of each statement, run in order; on PostgreSQL all in one round trip."""
        return [await self.all(prepared, **values) for prepared, values in queries]

    async def close(self) -> None:
        return None

    async def probe(self, prepared: Prepared, timeout: float) -> Any:
        """The first value of a statement that must be answered within timeout seconds (the
        operator's probes, /readyz and /metrics, which must answer promptly in an outage).
        Here, for a local file, the busy timeout bounds it; PostgresReader cuts a silent
        connection at timeout."""
        return await self.scalar(prepared)

    def in_use(self) -> int:
        """Connections checked out now (for /metrics)."""
        return 0


# How many steps of SQLite's virtual machine a statement may take on the event loop before
# it is stopped and run in a worker thread instead (see the module's docstring). A page of 50
# initiatives with their latest evaluations takes some 3,500; a primary-key read a few
# dozen; the count of a table's rows, which SQLite answers from its b-tree, fewer still.
LOOP_STEPS = 20_000
# SQLite calls a progress handler every so many steps of a prepared statement, counted over
# all its runs, not from the start of each: a statement of 3,500 steps, taken from the
# connection's cache for every page, met a handler set to LOOP_STEPS in one run out of six.
# So the handler is called every PROGRESS_PERIOD steps and counts its calls in each run.
PROGRESS_PERIOD = 1_000


class _OverBudget(Exception):
    """A statement on the loop took more than its steps; it runs again in a worker thread."""


@dataclass
class SQLiteReader(Reader):
    suspends = False
    path: str
    busy_timeout_ms: int
    workers: int = 4
    loop_steps: int = LOOP_STEPS
    dialect: Dialect = field(default=SQLITE_DIALECT)
    _connection: sqlite3.Connection | None = None
    _executor: ThreadPoolExecutor | None = None
    _local: threading.local = field(default_factory=threading.local)
    _opened: list[sqlite3.Connection] = field(default_factory=list)
    _calls: int = 0  # of the progress handler in the statement running on the loop

    def connect(self) -> sqlite3.Connection:
        """A new read-only connection to the database file."""
        # check_same_thread=False: the loop may be another thread's in tests, and close()
        # closes the workers' connections from the loop's thread.
        connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        connection.execute("PRAGMA query_only = ON")
        connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        self._opened.append(connection)
        return connection

    def _loop_connection(self) -> sqlite3.Connection:
        """The loop's connection, with the whole budget of steps for the next statement."""
        if self._connection is None:
            connection = self.connect()
            period = min(PROGRESS_PERIOD, self.loop_steps)
            calls = self.loop_steps // period

            def over_budget() -> bool:
                # A true answer stops the statement (sqlite3.OperationalError "interrupted").
                self._calls += 1
                return self._calls > calls

            connection.set_progress_handler(over_budget, period)
            self._connection = connection
        self._calls = 0
        return self._connection

    def _on_loop(self, text: str, parameters: Mapping[str, Any]) -> list[Row]:
        """The rows of a statement run on the loop, or _OverBudget once it took too long."""
        try:
            return _fetch(self._loop_connection(), text, parameters)
        except sqlite3.OperationalError as error:
            if str(error) != "interrupted":
                raise
        self._drop_loop_connection()
        raise _OverBudget

    def _drop_loop_connection(self) -> None:
        """Close the loop's connection after a statement was stopped on it; the next
        statement opens another. Python's sqlite3 (3.11) never again takes a statement
        stopped while its rows were read from the connection's cache: each later run would
        prepare it anew. A list's page is one statement whatever its limit, so after one page
        of 500 every page of 50 initiatives cost some 40 to 80 µs more (measured in-process);
        a new connection costs some 20 µs, once. (No statement is open on the old one: each
        statement on the loop runs to its end, or is stopped, before the loop moves on.)"""
        if self._connection is not None:
            self._opened.remove(self._connection)
            self._connection.close()
            self._connection = None

    def _in_thread(self, statements: list[tuple[str, dict[str, Any]]]) -> list[list[Row]]:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self.connect()
        return [_fetch(connection, text, parameters) for text, parameters in statements]

    async def batch(self, *queries: tuple[Prepared, Mapping[str, Any]]) -> list[list[Row]]:
        """The rows of each statement, in order: on the loop while they are cheap; from the
        first that is not, the rest in one trip to a worker thread."""
        statements = []
        for prepared, values in queries:
            sql = prepared.sql(self.dialect)
            statements.append((sql.text, sql.parameters(values)))
        answers: list[list[Row]] = []
        for text, parameters in statements:
            try:
                answers.append(self._on_loop(text, parameters))
            except _OverBudget:
                return answers + await self._off_loop(statements[len(answers) :])
        return answers

    async def _off_loop(self, statements: list[tuple[str, dict[str, Any]]]) -> list[list[Row]]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="sqlite-read")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._in_thread, statements)

    async def all(self, prepared: Prepared, **values: Any) -> list[Row]:
        # batch() for one statement, without its lists: every kept answer comes this way.
        sql = prepared.sql(self.dialect)
        parameters = sql.parameters(values)
        try:
            return self._on_loop(sql.text, parameters)
        except _OverBudget:
            return (await self._off_loop([(sql.text, parameters)]))[0]

    async def scalar(self, prepared: Prepared, **values: Any) -> Any:
        # The data version of every kept answer comes this way: no dict for one value.
        sql = prepared.sql(self.dialect)
        parameters = sql.parameters(values)
        try:
            row = self._loop_connection().execute(sql.text, parameters).fetchone()
        except sqlite3.OperationalError as error:
            if str(error) != "interrupted":
                raise
        else:
            return None if row is None else row[0]
        self._drop_loop_connection()
        rows = (await self._off_loop([(sql.text, parameters)]))[0]
        return next(iter(rows[0].values())) if rows else None

    async def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        for connection in self._opened:
            connection.close()
        self._opened.clear()
        self._connection = None
        self._local = threading.local()


def _fetch(connection: sqlite3.Connection, text: str, parameters: Mapping[str, Any]) -> list[Row]:
    cursor = connection.execute(text, parameters)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


PING = Prepared(select(literal(1)))  # a statement any database answers (/readyz)


class Silence:
    """Notes whether a read's connection was cut for want of an answer (PostgresReader._run)."""

    fell = False

    def cut(self, connection: AsyncConnection[Any]) -> None:
        """Shut the connection's socket down, as a broken network would: the read waiting on it
        fails at once, as on a lost connection, and the pool drops it. (Cancelling the read
        instead would have psycopg ask the silent server to cancel the statement, and wait.)"""
        self.fell = True
        try:
            descriptor = connection.pgconn.socket
        except psycopg.Error:
            return  # closed already: the read is failing anyway
        with socket.socket(fileno=os.dup(descriptor)) as duplicate:
            with contextlib.suppress(OSError):
                duplicate.shutdown(socket.SHUT_RDWR)


@dataclass
class PostgresReader(Reader):
    conninfo: str
    max_size: int
    connect_args: dict[str, Any] = field(default_factory=dict)
    wait_timeout: float = 5.0
    # How long a read's statements may go unanswered: past it the database is taken for gone
    # (see _run). None: no limit.
    answer_timeout: float | None = None
    dialect: Dialect = field(default=POSTGRESQL_DIALECT)
    _pool: ReadPool | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    def _opened(self) -> ReadPool:
        loop = asyncio.get_running_loop()
        if self._pool is None or self._loop is not loop:
            # A pool belongs to the loop that opened it (tests run one loop per client).
            if self._pool is not None:
                self._pool.abandon()
            self._pool = ReadPool(self.conninfo, self.max_size, self.connect_args)
            self._loop = loop
        return self._pool

    def in_use(self) -> int:
        return 0 if self._pool is None else self._pool.out

    async def _run(
        self,
        read: Callable[[AsyncConnection[Any]], Awaitable[T]],
        answer_timeout: float | None = None,
    ) -> T:
        """The answer of read, given a connection of the pool (app/readpool.py).

        Waiting for a connection, and opening one, is bounded by wait_timeout: an outage is a
        503 within it (app/web/faults.py), not a hung request.

        A connection is not checked when it is handed out: a check is a round trip of its own,
        which cost every read as much as its statements. Instead, a read whose connection
        turns out to be lost (the database restarted, or the network cut it) is run once
        more: the pool closes the lost connection and the idle ones, which the outage most
        likely killed too, and the second attempt has a new connection. So after an outage no
        dead connection answers a request; while the database is still away, the second
        attempt fails to connect by the deadline, and the read is a 503. Reads only: running
        one again changes nothing.

        A connection can also stay open and fall silent: a frozen server, a hung pooler or
        proxy. Its kernel still acknowledges what is sent, so no TCP timeout ever fires, and
        statement_timeout is the server's own. So a read unanswered for answer_timeout (the
        statement timeout and the connect timeout: by then the server would have cancelled
        the statement itself) has its connection cut, as a broken network would cut it: the
        read fails as on a lost connection, is not run again, and is a 503."""
        pool = self._opened()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_timeout
        answer_timeout = answer_timeout or self.answer_timeout
        silent = Silence()
        for attempt in (1, 2):
            connection = await pool.take(deadline)
            watchdog = (
                None
                if answer_timeout is None
                else loop.call_later(answer_timeout, silent.cut, connection)
            )
            try:
                return await read(connection)
            except psycopg.Error as error:
                if silent.fell:
                    raise psycopg.OperationalError(
                        f"the database did not answer within {answer_timeout:g} s"
                    ) from error
                if attempt == 2 or not connection.closed:
                    raise  # the statement failed, not the connection
            finally:
                if watchdog is not None:
                    watchdog.cancel()
                pool.give(connection)
            pool.discard_idle()
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def all(self, prepared: Prepared, **values: Any) -> list[Row]:
        sql = prepared.sql(self.dialect)
        parameters = sql.parameters(values)

        async def read(connection: AsyncConnection[Any]) -> list[Row]:
            cursor = connection.cursor(row_factory=dict_row)
            await cursor.execute(sql.text, parameters)
            return await cursor.fetchall()

        return await self._run(read)

    async def probe(self, prepared: Prepared, timeout: float) -> Any:
        sql = prepared.sql(self.dialect)

        async def read(connection: AsyncConnection[Any]) -> Any:
            row = await (await connection.execute(sql.text, sql.parameters({}))).fetchone()
            return None if row is None else row[0]

        return await self._run(read, answer_timeout=timeout)

    async def batch(self, *queries: tuple[Prepared, Mapping[str, Any]]) -> list[list[Row]]:
        statements = []
        for prepared, values in queries:
            sql = prepared.sql(self.dialect)
            statements.append((sql.text, sql.parameters(values)))

        async def read(connection: AsyncConnection[Any]) -> list[list[Row]]:
            cursors = []
            # A pipeline sends every statement before waiting for the first answer.
            async with connection.pipeline():
                for text, parameters in statements:
                    cursor = connection.cursor(row_factory=dict_row)
                    await cursor.execute(text, parameters)
                    cursors.append(cursor)
            return [await cursor.fetchall() for cursor in cursors]

        return await self._run(read)

    async def close(self) -> None:
        if self._pool is not None and self._loop is asyncio.get_running_loop():
            await self._pool.close()
        self._pool = None


def fetch(session: Session, prepared: Prepared, **values: Any) -> list[Row]:
    """Run a prepared statement on a write's own session: how a write reads back what it
    wrote, with the statements and the shaping its resource's GET uses."""
    connection = session.connection()
    sql = prepared.sql(DIALECTS[connection.dialect.name])
    result = connection.exec_driver_sql(sql.text, sql.parameters(values))
    return [dict(row) for row in result.mappings()]


@dataclass(kw_only=True)
class Listing:
    """The list read of one kind of resource: a page of rows and the number of all that match.

    Both statements are built once per shape (which filters are set, and the sort) and run
    in one batch. `filters` names each filter's condition, given the filter's bind; a filter
    is set when its name is among the values passed to `page`. `search` is the condition
    a word of `?q=` puts on the rows, given the database's name (app/search/match.py).
    """

    rows: Select[Any]
    count: Select[Any]
    filters: Mapping[str, Callable[[BindParameter[Any]], ColumnElement[bool]]]
    sort_columns: Mapping[str, ColumnElement[Any]]
    default_sort: Sequence[ColumnElement[Any]]
    tiebreak: ColumnElement[Any]
    search: Callable[[Word, str], ColumnElement[bool]] | None = None
    # The rows' statement asking only for their ids and versions (app/kept_rows.py).
    keys: Select[Any] | None = None
    _shapes: Shapes = field(default_factory=Shapes)

    def filtered(
        self, query: Select[Any], names: Sequence[str], terms: Terms = NO_TERMS, dialect: str = ""
    ) -> Select[Any]:
        for name in names:
            query = query.where(self.filters[name](bindparam(name)))
        if terms:
            assert self.search is not None, "this list has no ?q="
            for word in terms.words:
                query = query.where(self.search(word, dialect))
        return query

    def page_query(
        self,
        names: Sequence[str],
        sort: str | None,
        terms: Terms = NO_TERMS,
        dialect: str = "",
        selected: Select[Any] | None = None,
    ) -> Select[Any]:
        """The rows of a page (or what `selected` takes of them), with the binds `limit` and
        `offset` and one per filter set."""
        order = order_by(sort, self.sort_columns, self.default_sort, self.tiebreak)
        return (
            self.filtered(self.rows if selected is None else selected, names, terms, dialect)
            .order_by(*order)
            .limit(bindparam("limit"))
            .offset(bindparam("offset"))
        )

    async def page(
        self,
        reader: Reader,
        values: Mapping[str, Any],
        page: PageParams,
        sort: str | None,
        terms: Terms = NO_TERMS,
    ) -> tuple[list[Row], int]:
        """The rows of the page, and the number of all that match, in one batch."""
        rows, count, binds = self._shaped("rows", self.rows, values, page, sort, terms, reader)
        found, counted = await reader.batch(
            (rows, {**binds, "limit": page.limit, "offset": page.offset}), (count, binds)
        )
        return found, int(next(iter(counted[0].values())))

    async def page_keys(
        self,
        reader: Reader,
        values: Mapping[str, Any],
        page: PageParams,
        sort: str | None,
        terms: Terms = NO_TERMS,
    ) -> tuple[list[Row], int, Callable[[], Awaitable[list[Row]]]]:
        """The ids and versions of the page's rows (the `keys` statement: the rows' statement
        asking for those two columns), the number of all that match, in one batch; and the
        read of the page's whole rows, should they be needed (app/kept_rows.py)."""
        assert self.keys is not None, "this list has no keys statement"
        keys, count, binds = self._shaped("keys", self.keys, values, page, sort, terms, reader)
        rows = self._shaped("rows", self.rows, values, page, sort, terms, reader)[0]
        paged = {**binds, "limit": page.limit, "offset": page.offset}
        found, counted = await reader.batch((keys, paged), (count, binds))

        async def whole_rows() -> list[Row]:
            return await reader.all(rows, **paged)

        return found, int(next(iter(counted[0].values()))), whole_rows

    def _shaped(
        self,
        kind: str,
        selected: Select[Any],
        values: Mapping[str, Any],
        page: PageParams,
        sort: str | None,
        terms: Terms,
        reader: Reader,
    ) -> tuple[Prepared, Prepared, dict[str, Any]]:
        """The page's statement selecting `selected`, the count's, and the binds of both."""
        names = tuple(sorted(values))
        dialect = reader.dialect.name
        shape = (names, terms.shape(dialect) if terms else None)
        statement = self._shapes.get(
            (kind, shape, sort),
            lambda: self.page_query(names, sort, terms, dialect, selected=selected),
        )
        count = self._shapes.get(
            ("count", shape), lambda: self.filtered(self.count, names, terms, dialect)
        )
        return statement, count, {**values, **terms.values()}


def make_reader(
    engine: Engine,
    *,
    pool_size: int,
    busy_timeout_ms: int,
    connect_args: dict[str, Any] | None = None,
    wait_timeout: float = 5.0,
    answer_timeout: float | None = None,
) -> Reader:
    """The reader for the engine's database."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        database = url.database or ":memory:"
        if database == ":memory:":
            raise ValueError("the async reader needs a SQLite file, not :memory:")
        return SQLiteReader(path=database, busy_timeout_ms=busy_timeout_ms)
    plain = make_url(url.render_as_string(hide_password=False)).set(drivername="postgresql")
    return PostgresReader(
        conninfo=plain.render_as_string(hide_password=False),
        max_size=pool_size,
        connect_args=connect_args or {},
        wait_timeout=wait_timeout,
        answer_timeout=answer_timeout,
    )


def reader_of(request: Request) -> Reader:
    """The app's reader. Routes take it from their request, not as a FastAPI dependency,
    which FastAPI would solve anew for every request (its cost: bench/README.md)."""
    reader: Reader = request.app.state.reader
    return reader


# --- Rows straight to JSON -------------------------------------------------------------------
#
# Validating each row into a response model costs more than reading it (bench/README.md: most
# of it in Python callbacks), so a page of rows would spend most of its
# time proving that the database holds what it holds. A `Projection` turns a row of driver
# values into exactly the JSON the response model would give (the tests compare the two on
# every seeded row, on both databases): the model stays the contract and the docs.


def moment(value: datetime | str) -> datetime:
    """A stored UTC timestamp as an aware datetime, whichever driver read it (PostgreSQL
    hands back datetimes, SQLite the text SQLAlchemy wrote)."""
    return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


_ZERO = timedelta(0)


def _timestamp(value: Any) -> Any:
    """A stored UTC timestamp as the models write it: 2026-04-01T09:30:00.250000Z."""
    if type(value) is str:  # first: a page of 50 on SQLite asks 200 times
        # SQLite: naive UTC text, '2026-04-01 09:30:00.250000' (a zero fraction is left out).
        text = value.replace(" ", "T", 1)
        return text[:-7] + "Z" if text.endswith(".000000") else text + "Z"
    if value is None:
        return None
    # PostgreSQL hands back aware datetimes in the session's time zone (SQLAlchemy naive ones
    # on SQLite). The JSON encoder writes any zero offset as Z, whatever its tzinfo, so one at
    # UTC goes out as read: converting it cost a page of 50 a fifth of its projection.
    return value if value.utcoffset() == _ZERO else as_utc(value)


def _flag(value: Any) -> Any:
    return value if value is None else bool(value)


def _number(value: Any) -> Any:
    return value if value is None else float(value)


def _converter(annotation: Any) -> Callable[[Any], Any] | None:
    """How a column's driver value becomes the model's JSON; None: as it is read."""
    kinds = set(get_args(annotation)) or {annotation}
    kinds.discard(type(None))
    if kinds == {datetime}:
        return _timestamp
    if kinds == {bool}:
        return _flag
    if kinds == {float}:
        return _number
    return None


class Projection:
    """Build a response model's JSON object from a row, field by field in the model's order.

    computed: fields the row does not hold, each made from the row (labels, nested objects).
    prefix: the labels' prefix of the model's columns in the row (for a joined model).

    A page of 50 initiatives calls projections 100 times, so each is one small function
    written for its model: a dict display, `{'id': row['id'], ...}`, which builds a page's
    JSON objects in some 60 % of the time a loop over the fields took, choosing each one's
    step as it went. Its text is made here from the model's field names alone, each written
    as a string literal (repr), and it calls its functions by the names f0, f1, ... of its
    own namespace; `source` shows it."""

    def __init__(
        self,
        model: type[BaseModel],
        computed: Mapping[str, Callable[[Row], Any]] | None = None,
        prefix: str = "",
    ) -> None:
        computed = computed or {}
        namespace: dict[str, Any] = {}
        entries = []
        for index, (name, info) in enumerate(model.model_fields.items()):
            # A computed field is its function of the row; a column whose value goes out as
            # read is just that value, with no call at all.
            function: Callable[[Any], Any] | None
            if name in computed:
                function, value = computed[name], "row"
            else:
                function, value = _converter(info.annotation), f"row[{prefix + name!r}]"
            if function is not None:
                namespace[f"f{index}"] = function
                value = f"f{index}({value})"
            entries.append(f"{name!r}: {value}")
        self.source = "def project(row):\n    return {" + ", ".join(entries) + "}\n"
        # See the docstring: literals and f<n> only.
        exec(compile(self.source, f"<projection of {model.__name__}>", "exec"), namespace)  # noqa: S102
        self._project: Callable[[Row], dict[str, Any]] = namespace["project"]

    def __call__(self, row: Row) -> dict[str, Any]:
        return self._project(row)


def json_response(content: Any, headers: Mapping[str, str] | None = None) -> Response:
    """JSON made by pydantic's encoder (in Rust) from plain values, datetimes included."""
    return Response(to_json(content), media_type="application/json", headers=headers)
