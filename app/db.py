"""The engine, its per-connection settings, and the session dependency."""

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine, event
from sqlmodel import Session, create_engine

from app.changes import recorder
from app.config import Settings

SQLITE_BEGIN = "sqlite_begin"


def make_engine(settings: Settings) -> Engine:
    """Create the engine for settings.database_url, with SQLite made safe for concurrent use."""
    recorder.install()  # every write through a session of ours goes into the change log
    if not settings.is_sqlite:
        return create_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_pool_size,
            pool_pre_ping=True,
        )
    engine = create_engine(
        settings.database_url,
        connect_args={
            "check_same_thread": False,
            "timeout": settings.sqlite_busy_timeout_ms / 1000,
        },
    )
    busy_timeout = settings.sqlite_busy_timeout_ms

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


def begin_write(session: Session) -> None:
    """Start the session's transaction as a writer (on SQLite: BEGIN IMMEDIATE)."""
    session.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
