"""The engine, its per-connection settings, and the session dependency."""

import time
from collections.abc import Iterator
from typing import Annotated, Any, TypeVar

import psycopg
from fastapi import Depends, Request
from psycopg.abc import PQGen
from sqlalchemy import Connection, Engine, event
from sqlmodel import Session, create_engine

from app.changes import recorder
from app.config import Settings

SQLITE_BEGIN = "sqlite_begin"
Result = TypeVar("Result")


class AnswerBoundConnection(psycopg.Connection[Any]):
    """The writers' psycopg connection: it gives up on a database that stops answering.

    A server that is frozen, or a network that drops packets while something still
    acknowledges them (a hung pooler, a half-dead proxy), sends neither an answer nor an
    error, and no TCP timeout fires: a write would wait for it forever, holding a worker
    thread. Every wait of psycopg's on the server goes through `wait`, so here each is
    bounded by answer_timeout (Settings.db_answer_timeout: the statement timeout, after which
    the server would have answered itself, plus the connect timeout). Past it the connection
    is closed, as a broken one, and the statement fails with OperationalError: a 503
    `database-unavailable` (app/web/faults.py) that tells the client to read back whether
    the write was made. The async readers have the same bound (app/reads.py)."""

    answer_timeout: float | None = None

    def wait(
        self, gen: PQGen[Result], interval: float = 0.1, timeout: float | None = None
    ) -> Result:
        bound = self.answer_timeout if timeout is None else timeout
        started = time.monotonic()
        try:
            return super().wait(gen, interval, bound)
        except psycopg.OperationalError as error:
            if timeout is not None or bound is None or time.monotonic() - started < bound:
                raise
            self.close()  # left midway through the protocol: it can serve nothing more
            raise psycopg.OperationalError(
                f"the database did not answer within {bound:g} s"
            ) from error


def make_engine(settings: Settings) -> Engine:
    """Create the engine for settings.database_url, with SQLite made safe for concurrent use."""
    recorder.install()  # every write through a session of ours goes into the change log
    if not settings.is_sqlite:
        # Bounded waits, so an outage is a quick 503 (app/web/faults.py), not a hung request;
        # pre-ping hands out no connection the outage killed.
        engine = create_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_pool_size,
            pool_pre_ping=True,
            pool_timeout=settings.db_connect_timeout,
            connect_args=postgres_connect_args(settings),
        )
        answer_timeout = settings.db_answer_timeout

        @event.listens_for(engine, "do_connect")
        def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
            connection = AnswerBoundConnection.connect(*cargs, **cparams)
            connection.answer_timeout = answer_timeout
            return connection

        return engine
    engine = create_engine(
        settings.database_url,
        connect_args={
            "check_same_thread": False,
            "timeout": settings.sqlite_busy_timeout_ms / 1000,
        },
    )
    busy_timeout = settings.sqlite_busy_timeout_ms
    max_page_count = settings.sqlite_max_page_count

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We emit BEGIN ourselves (below), not the driver.
        dbapi_connection.isolation_level = None
        # Foreign keys are off by default in SQLite, per connection: turn them on every time.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout)}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        if max_page_count:
            cursor.execute(f"PRAGMA max_page_count = {int(max_page_count)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A writer takes the write lock when its transaction begins (BEGIN IMMEDIATE): one
        # that read first and wrote later could otherwise find that another writer committed
        # in between, and SQLite would refuse it at once ("database is locked") rather than
        # wait. Readers begin DEFERRED and never wait.
        mode = connection.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def postgres_connect_args(settings: Settings) -> dict[str, Any]:
    """libpq's limits for every PostgreSQL connection, sync or async."""
    return {
        "connect_timeout": settings.db_connect_timeout,
        "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
        # A connection whose peer vanished (a cut network sends nothing back) fails within
        # seconds, not at the kernel's TCP timeout.
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 2,
        "tcp_user_timeout": (settings.db_connect_timeout + 5) * 1000,
    }


def begin_write(session: Session) -> None:
    """Start the session's transaction as a writer (on SQLite: BEGIN IMMEDIATE)."""
    session.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
