"""The floor over HTTP: a statistic's aggregate SQL run by the bare driver, behind a bare ASGI app.

bench/stats.py times the service's uncached answer against this app's, both served by the
same uvicorn command, so that both pay the same HTTP round trip; what is left between them
is what the service adds to its SQL (routing, validation, its other statement, shaping the
answer). Nothing here is the service's: no middleware, no framework, no pool, no cache.
The SQL text is the service's own statement (`app.stats.service`), compiled for the database
once at startup, and run on one connection of the bare driver (sqlite3 or psycopg); the rows
are sent as a JSON array of arrays.

Environment: BENCH_FLOOR_DATABASE_URL (the database's SQLAlchemy URL), BENCH_FLOOR_QUERY
(`achievement` or `plans`). Query string: `plan_id` (achievement) and `fiscal_year`, plain
integers.
"""

import json
import os
import sqlite3
from typing import Any
from urllib.parse import parse_qsl

import psycopg
from sqlalchemy import make_url

from app.reads import POSTGRESQL_DIALECT, SQLITE_DIALECT
from app.stats import service
from bench.apps.bare import Receive, Send, lifespan

HEADERS = [(b"content-type", b"application/json")]
QUERIES = {"achievement": service.ACHIEVEMENT, "plans": service.PLAN_COUNTS}


def connect(url: str) -> tuple[Any, Any]:
    """The bare driver's connection, and the dialect the service compiles its SQL for."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return sqlite3.connect(parsed.database or "", isolation_level=None), SQLITE_DIALECT
    plain = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(plain, autocommit=True), POSTGRESQL_DIALECT


connection, dialect = connect(os.environ["BENCH_FLOOR_DATABASE_URL"])
statement = QUERIES[os.environ["BENCH_FLOOR_QUERY"]].sql(dialect)


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Answer the lifespan protocol, and every HTTP request with the statement's rows."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send, on_shutdown=connection.close)
        return
    if scope["type"] != "http":
        return
    query = dict(parse_qsl(scope["query_string"].decode()))
    values = {"year": int(query["fiscal_year"])}
    if "plan_id" in query:
        values["plan_id"] = int(query["plan_id"])
    rows = connection.execute(statement.text, statement.parameters(values)).fetchall()
    body = json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode()
    headers = [*HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
