"""When the database fails under a request: a short, honest problem, never a 500.

A database that cannot be reached (down, restarting, cut off, its pool exhausted) answers
503 with Retry-After; one whose disk is full answers 507, one that went read-only 503, each
naming the cause. The request's transaction was rolled back, so nothing is partly written,
and the same request succeeds once the cause is gone. The answer is sent like any other, so
the client's keep-alive connection stays open (an exception that escaped would make uvicorn
drop it).

The layer sits outside everything that touches the database (the kept answers' version read,
authentication, the routes), so every path is covered: read or write, sync or async
(SQLAlchemy's errors wrap the driver's; the async reader raises psycopg's own).

    DatabaseFault            what the client is told
     ├── unavailable   503   cannot connect, connection lost, pool timed out (Retry-After)
     ├── read-only     503   the database refuses writes (Retry-After)
     └── storage-full  507   the disk (or SQLite's max_page_count) is full
"""

import logging
import sqlite3
from dataclasses import dataclass

import psycopg
from psycopg_pool import PoolTimeout
from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import problem_response

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
# SQLite's primary result codes (https://sqlite.org/rescode.html).
SQLITE_READONLY, SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_CANTOPEN, SQLITE_FULL = 8, 10, 11, 14, 13
_SQLITE_FULL_TEXT = "database or disk is full"


@dataclass(frozen=True)
class DatabaseFault:
    status: int
    slug: str
    detail: str


UNAVAILABLE = DatabaseFault(
    503,
    "database-unavailable",
    "the database cannot be reached just now: retry in a few seconds (a write is all or"
    " nothing; read it back to see whether it was made)",
)
READ_ONLY = DatabaseFault(
    503,
    "database-read-only",
    "the database refuses writes just now (read-only); nothing was changed: retry later",
)
STORAGE_FULL = DatabaseFault(
    507,
    "storage-full",
    "the database's disk is full; nothing was changed: retry once space is freed",
)


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    link: BaseException | None = error
    while link is not None and link not in seen:
        seen.append(link)
        if isinstance(link, DBAPIError) and link.orig is not None:
            seen.append(link.orig)
        link = link.__cause__ or link.__context__
    return seen


def classify(error: BaseException) -> DatabaseFault | None:
    """What the client should be told of a database error, or None if it is not one."""
    if isinstance(error, BaseExceptionGroup):
        faults = [classify(inner) for inner in error.exceptions]
        return next((fault for fault in faults if fault is not None), None)
    for link in _chain(error):
        if isinstance(link, PoolTimeout):
            return UNAVAILABLE
        if isinstance(link, sqlite3.OperationalError | sqlite3.DatabaseError):
            code = (getattr(link, "sqlite_errorcode", None) or 0) & 0xFF
            if code == SQLITE_FULL or _SQLITE_FULL_TEXT in str(link):
                return STORAGE_FULL
            if code == SQLITE_READONLY:
                return READ_ONLY
            if code in (SQLITE_IOERR, SQLITE_CANTOPEN):
                return UNAVAILABLE
        if isinstance(link, psycopg.Error):
            sqlstate = link.sqlstate or ""
            if sqlstate in ("53100",):  # disk_full
                return STORAGE_FULL
            if sqlstate == "25006":  # read_only_sql_transaction
                return READ_ONLY
            if sqlstate.startswith("08") or sqlstate in ("57P01", "57P02", "57P03"):
                return UNAVAILABLE  # connection exceptions; admin or crash shutdown; starting
            if isinstance(link, psycopg.OperationalError | psycopg.InterfaceError) and not sqlstate:
                return UNAVAILABLE  # no answer from a server at all: refused, reset, closed
    return None


class DatabaseFaultMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = completed = False

        async def tracking(message: Message) -> None:
            nonlocal started, completed
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                completed = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as error:
            fault = classify(error)
            if fault is None or (started and not completed):
                raise  # a broken answer must look broken, never like a whole one
            if completed:
                # The client has its whole answer; the connection failed as the request
                # was being tidied up (a ROLLBACK on a dead connection). Nothing to tell it,
                # and its keep-alive connection stays open.
                log.warning(
                    "%s %s: %s after the answer (%s)",
                    scope["method"],
                    scope["path"],
                    fault.slug,
                    type(error).__name__,
                )
                return
            log.warning(
                "%s %s: %s (%s)", scope["method"], scope["path"], fault.slug, type(error).__name__
            )
            headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if fault.status == 503 else {}
            await problem_response(fault.status, fault.detail, slug=fault.slug, headers=headers)(
                scope, receive, send
            )
