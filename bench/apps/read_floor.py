"""The floor of the two initiative reads on one database: the service's own statements, run
by the bare driver behind a bare ASGI app. On PostgreSQL psycopg's async connections; on
SQLite one sqlite3 connection used on the event loop, as the service's reader uses its own
for a cheap statement (app/reads.py).

bench/run loads it with the service's own URLs, beside the service on the same database with
answers not kept; what is left between the two is what the service adds to its statements
(the middlewares, routing and validation, the data version's read, shaping the answer, its
pool). Nothing here is the service's but the statements: no framework, no middleware, no
cache.

- `GET /api/v1/initiatives/{id}`: the statement `read_initiative` runs (one initiative with
  its latest evaluation); 404 when there is no row.
- `GET /api/v1/initiatives?limit=50&offset=0` (the service's defaults when left out): the two
  statements `read_initiatives` runs for a page without filters, the page and the count of
  all: on PostgreSQL sent in one pipeline as the service's reader sends them (app/reads.py,
  `PostgresReader.batch`), on SQLite one after the other.

The statements are found, not copied: at startup the service's own read functions
(app/initiatives/service.py) are run once against a `Recorder`, a reader that notes the
statements they ask for, compiled by their `Prepared` for the database, and stops them there.
They run keeping no rows (app/kept_rows.py), so they read whole rows: the floor is what
reading the answer's data and sending it costs. (With rows kept, the service's statements
read only the rows' ids and versions, and their JSON objects come from what it kept.)
Each read makes one call of its reader, so what it notes is everything the read runs; and
should the service's statements change, the floor runs the new ones.

Connections on PostgreSQL: CONNECTIONS of them (BENCH_FLOOR_CONNECTIONS; by default 10, the
service's DB_POOL_SIZE), opened at startup and handed out through an asyncio queue, with no
check on checkout. A pool rather than one connection: an async connection runs one statement at
a time, so on one the requests would queue for a single round trip while PostgreSQL and this
process take turns on the CPUs; as many as the service may hold, so that the floor and the
service differ in their code, not in how many statements they can have in flight. (On the
bench's data, 2026-12-06, 2 CPUs: with 1 connection the floor gave half the requests/s it gives
with 10, GET one 3,400 against 6,900, the list 490 against 900; with 4 about as many as with
10.)

Rows go out as pydantic's JSON (the service's encoder) of the driver's tuples: GET one its
row, the list {"items": [rows], "total": count, "limit", "offset"}.

Environment: BENCH_FLOOR_DATABASE_URL (the database's SQLAlchemy URL, PostgreSQL or a SQLite
file), BENCH_FLOOR_CONNECTIONS (optional, PostgreSQL only).
"""

import asyncio
import os
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from psycopg import AsyncConnection
from pydantic_core import to_json
from sqlalchemy import Dialect, make_url

from app.config import Settings
from app.initiatives import service
from app.initiatives.schemas import InitiativeFilters
from app.listing import PageParams
from app.reads import DIALECTS, POSTGRESQL_DIALECT, Prepared, Reader, Row
from bench.apps.bare import Receive, Send, lifespan

LIST_PATH = "/api/v1/initiatives"
ONE_PREFIX = LIST_PATH + "/"
DEFAULT_PAGE = {"limit": 50, "offset": 0}  # the service's page_params when left out
HEADERS = [(b"content-type", b"application/json")]
CONNECTIONS = int(
    os.environ.get("BENCH_FLOOR_CONNECTIONS") or Settings.model_fields["db_pool_size"].default
)

Statement = tuple[str, dict[str, Any]]  # SQL text for the driver, its parameters


class Recorded(Exception):
    """Raised by a Recorder once it has noted the statements of its first call."""


@dataclass
class Recorder(Reader):
    """A reader that notes the statements of the first call made of it (their SQL text for
    its dialect and their parameters), then raises Recorded instead of running them."""

    dialect: Dialect = field(default=POSTGRESQL_DIALECT)
    statements: list[Statement] = field(default_factory=list)

    async def batch(self, *queries: tuple[Prepared, Mapping[str, Any]]) -> list[list[Row]]:
        for prepared, values in queries:
            sql = prepared.sql(self.dialect)
            self.statements.append((sql.text, sql.parameters(values)))
        raise Recorded

    async def all(self, prepared: Prepared, **values: Any) -> list[Row]:
        return (await self.batch((prepared, values)))[0]


async def recorded(
    read: Callable[[Reader], Awaitable[object]], dialect: Dialect
) -> list[Statement]:
    """The statements a read of the service runs, compiled for dialect."""
    recorder = Recorder(dialect=dialect)
    try:
        await read(recorder)
    except Recorded:
        return recorder.statements
    raise RuntimeError("the read ran no statement")


@dataclass
class Floor:
    one: list[Statement] = field(default_factory=list)
    page: list[Statement] = field(default_factory=list)
    idle: asyncio.Queue[AsyncConnection[Any]] = field(default_factory=asyncio.Queue)
    opened: list[AsyncConnection[Any]] = field(default_factory=list)
    sqlite: sqlite3.Connection | None = None  # on SQLite, the one connection

    async def start(self) -> None:
        """Note the service's statements (with the route's values for these URLs: no filter,
        no sort) and open the connections."""
        url = make_url(os.environ["BENCH_FLOOR_DATABASE_URL"])
        dialect = DIALECTS[url.get_backend_name()]
        self.one = await recorded(
            lambda reader: service.read_initiative(reader=reader, initiative_id=1), dialect
        )
        self.page = await recorded(
            lambda reader: service.read_initiatives(
                reader=reader,
                filters=InitiativeFilters(),
                page=PageParams(**DEFAULT_PAGE),
                sort=None,
            ),
            dialect,
        )
        if dialect.name == "sqlite":
            assert url.database, "a SQLite file"
            self.sqlite = sqlite3.connect(url.database, isolation_level=None)
            self.sqlite.execute("PRAGMA query_only = ON")
            return
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        for _ in range(CONNECTIONS):
            connection = await AsyncConnection.connect(conninfo, autocommit=True)
            self.opened.append(connection)
            self.idle.put_nowait(connection)

    async def stop(self) -> None:
        if self.sqlite is not None:
            self.sqlite.close()
        for connection in self.opened:
            await connection.close()

    async def run(self, statements: list[Statement], values: Mapping[str, Any]) -> list[Any]:
        """The rows of each statement, on one connection, with the values it takes; more than
        one statement in one pipeline (one round trip) on PostgreSQL."""
        if self.sqlite is not None:
            return [
                self.sqlite.execute(text, with_values(parameters, values)).fetchall()
                for text, parameters in statements
            ]
        connection = await self.idle.get()
        try:
            if len(statements) == 1:
                text, parameters = statements[0]
                cursor = await connection.execute(text, with_values(parameters, values))
                return [await cursor.fetchall()]
            cursors = []
            async with connection.pipeline():
                for text, parameters in statements:
                    cursors.append(await connection.execute(text, with_values(parameters, values)))
            return [await cursor.fetchall() for cursor in cursors]
        finally:
            self.idle.put_nowait(connection)


def with_values(parameters: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A statement's recorded parameters with those of this request it takes."""
    return {name: values.get(name, value) for name, value in parameters.items()}


floor = Floor()


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Answer the lifespan protocol, and each read with its statements' rows."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send, on_startup=floor.start, on_shutdown=floor.stop)
        return
    if scope["type"] != "http":
        return
    path: str = scope["path"]
    status, content = 404, None
    if path == LIST_PATH:
        query = dict(parse_qsl(scope["query_string"].decode()))
        page = {name: int(query.get(name, default)) for name, default in DEFAULT_PAGE.items()}
        found, counted = await floor.run(floor.page, page)
        status, content = 200, {"items": found, "total": counted[0][0], **page}
    elif path.startswith(ONE_PREFIX):
        (found,) = await floor.run(floor.one, {"initiative_id": int(path[len(ONE_PREFIX) :])})
        if found:
            status, content = 200, found[0]
    body = to_json(content)
    headers = [*HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
