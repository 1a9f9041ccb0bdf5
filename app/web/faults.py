"""When the database fails or refuses a request: never a 500, never a half-done write.

Two middlewares, in the order app/main.py gives them:

- DatabaseFaultMiddleware, outside everything that touches the database: a database that is
  down, full or read-only answers 503 or 507 problem+json, naming the cause;
- RetryTransientMiddleware, innermost: a write the database aborted only because of another
  transaction (a serialization failure, a deadlock, SQLite's lock wait) runs again, whole.
"""

import asyncio
import logging
import random
import sqlite3
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass

import psycopg
from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import BUSY, problem_response
from app.readpool import PoolTimeout
from app.web.edge import HttpMiddleware, is_api_write

# ---------------------------------------------------------------------------------------------
# When the database fails under a request: a short, honest problem, never a 500.
#
# A database that cannot be reached (down, restarting, cut off, its pool exhausted) answers
# 503 with Retry-After; one whose disk is full answers 507, one that went read-only 503, each
# naming the cause. The request's transaction was rolled back, so nothing is partly written,
# and the same request succeeds once the cause is gone. The answer is sent like any other, so
# the client's keep-alive connection stays open (an exception that escaped would make uvicorn
# drop it).
#
# The layer sits outside everything that touches the database (the kept answers' version read,
# authentication, the routes), so every path is covered: read or write, sync or async
# (SQLAlchemy's errors wrap the driver's; the async reader raises psycopg's own).
#
#     DatabaseFault            what the client is told
#      ├── unavailable   503   cannot connect, connection lost or silent, pool timed out
#      ├── timeout       503   a statement ran past DB_STATEMENT_TIMEOUT_MS (a long wait for
#      │                       another write's lock, most likely)
#      ├── read-only     503   the database refuses writes
#      └── storage-full  507   the disk (or SQLite's max_page_count) is full
#
# Every 503 says Retry-After.

log = logging.getLogger(__name__)

OUTAGE_RETRY_AFTER = 5
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
TIMED_OUT = DatabaseFault(
    503,
    "database-timeout",
    "the database did not finish the request in time (DB_STATEMENT_TIMEOUT_MS), most likely"
    " waiting for other writes; nothing was changed: retry in a few seconds",
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
            if sqlstate in ("57014", "55P03"):  # query_canceled (statement_timeout); lock wait
                return TIMED_OUT
            if sqlstate.startswith("08") or sqlstate in ("57P01", "57P02", "57P03"):
                return UNAVAILABLE  # connection exceptions; admin or crash shutdown; starting
            if isinstance(link, psycopg.OperationalError | psycopg.InterfaceError) and not sqlstate:
                return UNAVAILABLE  # no answer from a server at all: refused, reset, closed
    return None


class DatabaseFaultMiddleware(HttpMiddleware):
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
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
            headers = {"Retry-After": str(OUTAGE_RETRY_AFTER)} if fault.status == 503 else {}
            await problem_response(fault.status, fault.detail, slug=fault.slug, headers=headers)(
                scope, receive, send
            )


# ---------------------------------------------------------------------------------------------
# Run a write again when the database refused it only because of another transaction.
#
# PostgreSQL may abort a transaction with a serialization failure (SQLSTATE 40001) or as the
# victim of a deadlock (40P01); SQLite answers "database is locked" (SQLITE_BUSY) when a writer
# waited longer than its busy timeout for the write lock. In each case the transaction was rolled
# back whole and running the same request again is safe and will most likely succeed. Writes
# lock the data_version row first (app/changes/recorder.py), so deadlocks should not arise;
# this is the safety net for those that do, and for SQLite's lock waits under heavy load.
#
# Why a middleware, and why here. The request is re-run from the top, not one statement: the
# session, the reads, the If-Match check and the change log all belong to the transaction that
# was rolled back, so only a fresh run of the route sees the current data (and answers 412 if
# the resource changed meanwhile). The database error reaches this middleware as it was raised:
# the route's own handlers (app/errors.py) convert only AppError, validation errors and
# HTTPException, and the catch-all handler for Exception that answers 500 runs in Starlette's
# ServerErrorMiddleware, outside every middleware of ours. The middleware buffers the body
# (within the limits RequestLimitsMiddleware enforces as it arrives), so it can be handed to
# each attempt again, and sits inside BearerAuthMiddleware, so the token is looked up once
# and a 401 is never retried. Only requests whose response has not started are retried;
# nothing of a failed attempt reaches the client.
#
# A request writes nothing outside its transaction (a bulk upload stores its Idempotency-Key
# in it too), so a retry starts clean.
# After ATTEMPTS tries the client gets 503 problem+json with Retry-After, and nothing is
# written.

ATTEMPTS = 3
BACKOFF_SECONDS = 0.02  # before the second attempt; doubled before each further one
BUSY_RETRY_AFTER = 1
RETRYABLE_SQLSTATES = {
    "40001": "serialization failure",
    "40P01": "deadlock",
}
SQLITE_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and those it was raised from (`raise ... from`), nearest first. Not one it
    was raised while handling: a failure to clean up after a deadlock is not a deadlock."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__


def transient_reason(error: BaseException) -> str | None:
    """Why error is worth a retry (a short name for the log), or None if it is not."""
    if isinstance(error, BaseExceptionGroup):  # raised out of a task group: all or nothing
        reasons = [transient_reason(inner) for inner in error.exceptions]
        return reasons[0] if all(reasons) else None
    for link in _causes(error):
        if not isinstance(link, DBAPIError):
            continue
        driver_error = link.orig
        sqlstate = getattr(driver_error, "sqlstate", None)
        if sqlstate in RETRYABLE_SQLSTATES:
            return f"{RETRYABLE_SQLSTATES[sqlstate]} (SQLSTATE {sqlstate})"
        if isinstance(driver_error, sqlite3.OperationalError):
            code = getattr(driver_error, "sqlite_errorcode", None)
            if (code is not None and code & 0xFF in SQLITE_BUSY_CODES) or (
                code is None and "database is locked" in str(driver_error)
            ):
                return "SQLite busy (database is locked)"
    return None


class _Attempt:
    """One run of the app: the buffered request body again, and whether a response began."""

    def __init__(self, messages: list[Message], receive: Receive, send: Send) -> None:
        self._pending = list(messages)
        self._receive = receive
        self._send = send
        self.started = False

    async def receive(self) -> Message:
        return self._pending.pop(0) if self._pending else await self._receive()

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


class RetryTransientMiddleware:
    """Re-run a write whose transaction the database aborted as transient; 503 after
    ATTEMPTS tries. See the module's docstring for why this is the place."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        prefix: str,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF_SECONDS,
    ) -> None:
        self.app = app
        self.prefix = prefix
        self.attempts = attempts
        self.backoff = backoff

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function for reads, as app/web/edge.py's HttpMiddleware says why.
        if not is_api_write(scope, self.prefix):
            return self.app(scope, receive, send)
        return self.write(scope, receive, send)

    async def write(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A write, its body buffered, run again while the database aborts it as transient."""
        messages: list[Message] = []
        while True:  # the whole body, as it arrives (app/web/edge.py counts and times it)
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break

        for attempt in range(1, self.attempts + 1):
            run = _Attempt(messages, receive, send)
            attempt_scope = dict(scope)  # each attempt starts from the scope as it came
            try:
                await self.app(attempt_scope, run.receive, run.send)
                if "route" in attempt_scope:  # for the access log (app/web/monitoring.py)
                    scope["route"] = attempt_scope["route"]
                return
            except Exception as error:
                reason = transient_reason(error)
                if reason is None or run.started:
                    raise
                if attempt == self.attempts:
                    log.warning(
                        "%s %s: %s on each of %d attempts; answered 503",
                        scope["method"],
                        scope["path"],
                        reason,
                        self.attempts,
                    )
                    break
                log.warning(
                    "%s %s: %s; running it again (attempt %d of %d)",
                    scope["method"],
                    scope["path"],
                    reason,
                    attempt + 1,
                    self.attempts,
                )
                delay = self.backoff * 2 ** (attempt - 1)
                await asyncio.sleep(random.uniform(delay / 2, delay * 3 / 2))
        detail = (
            "the database was too busy to take this write (it conflicted with others"
            f" {self.attempts} times); nothing was written: send it again"
        )
        response = problem_response(
            503,
            detail,
            slug=BUSY,
            headers={"Retry-After": str(BUSY_RETRY_AFTER), "Cache-Control": "no-store"},
        )
        await response(scope, receive, send)
