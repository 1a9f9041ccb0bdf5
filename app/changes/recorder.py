"""The change log: every ORM write is recorded in the same transaction, as it is flushed.

One listener sees every insert, update and delete of the content tables, so no write path can
forget to log, and a write that fails (rolled back) leaves no entry. The actor is the name
put in `session.info["actor"]` by whoever opened the session: a token's name, or `seed`.
Rows removed by the database's ON DELETE CASCADE are logged by the code that deletes
(see app/writes.py), since the ORM never sees them.
"""

import json
from typing import Any

from sqlalchemy import Connection, event, insert, inspect, update
from sqlalchemy.orm import Session, UOWTransaction

from app.fields import jsonable
from app.models import (
    Evaluation,
    Initiative,
    Measure,
    Plan,
    Policy,
    Report,
    ReportHighlight,
    ReportLine,
    changes,
    data_version,
    utcnow,
)

ENTITIES: dict[type, str] = {
    Plan: "plan",
    Policy: "policy",
    Measure: "measure",
    Initiative: "initiative",
    Evaluation: "evaluation",
    Report: "report",
    ReportLine: "report_line",
    ReportHighlight: "report_highlight",
}
# Bookkeeping and derived columns: they change with every write and say nothing new.
NOT_LOGGED = frozenset({"id", "version", "created_at", "updated_at", "search_text", "code_sort"})


def _fields(obj: Any) -> list[str]:
    return [attr.key for attr in inspect(obj).mapper.column_attrs if attr.key not in NOT_LOGGED]


def _entry(obj: Any, action: str) -> dict[str, Any] | None:
    state = inspect(obj)
    diff: dict[str, list[Any]] = {}
    for name in _fields(obj):
        if action == "create":
            diff[name] = [None, jsonable(getattr(obj, name))]
        elif action == "delete":
            diff[name] = [jsonable(getattr(obj, name)), None]
        else:
            history = state.attrs[name].history
            if history.has_changes():
                old = history.deleted[0] if history.deleted else None
                new = history.added[0] if history.added else None
                if old != new:
                    diff[name] = [jsonable(old), jsonable(new)]
    if action == "update" and not diff:
        return None
    return {
        "at": utcnow(),
        "actor": str(state.session.info.get("actor", "system")) if state.session else "system",
        "action": action,
        "entity": ENTITIES[type(obj)],
        "entity_id": obj.id,
        "changes": diff,
    }


def _tracked(session: Session) -> bool:
    return any(
        type(obj) in ENTITIES
        for group in (session.new, session.dirty, session.deleted)
        for obj in group
    )


def lock_version(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    """Before a flush that writes content, count the data version up.

    Doing it first makes every writer take the data_version row's lock before any content
    row's, in the same order, so two writers can wait for each other but never deadlock.
    """
    if _tracked(session):
        bump_version(session.connection())


def record_changes(session: Session, _context: UOWTransaction) -> None:
    entries = [
        entry
        for objects, action in (
            (session.new, "create"),
            (session.dirty, "update"),
            (session.deleted, "delete"),
        )
        for obj in objects
        if type(obj) in ENTITIES and (entry := _entry(obj, action)) is not None
    ]
    if entries:
        entries.sort(key=lambda entry: list(ENTITIES.values()).index(entry["entity"]))
        session.connection().execute(insert(changes), entries)


def bump_version(connection: Connection) -> None:
    connection.execute(update(data_version).values(version=data_version.c.version + 1))


# The columns a change-log entry gives; the id comes from the table's own sequence.
ENTRY_COLUMNS = ("at", "actor", "action", "entity", "entity_id", "changes")


def append(connection: Connection, entries: list[dict[str, Any]]) -> None:
    """Add change-log entries written outside the ORM, and count the data version up.

    A bulk upload logs one entry per row written, 10,000 at a time. On PostgreSQL they go
    in with COPY, one stream in the same transaction, which takes a fraction of the time
    10,000 INSERTs take (bench/README.md, the bulk upload); elsewhere an executemany.
    """
    bump_version(connection)
    if connection.dialect.name != "postgresql":
        connection.execute(insert(changes), entries)
        return
    # The JSON column's text as SQLAlchemy would write it (the engine's serializer).
    serialize = getattr(connection.dialect, "_json_serializer", None) or json.dumps
    statement = f"COPY {changes.name} ({', '.join(ENTRY_COLUMNS)}) FROM STDIN"
    with connection.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
        with cursor.copy(statement) as copy:
            for entry in entries:
                copy.write_row(
                    [*(entry[name] for name in ENTRY_COLUMNS[:-1]), serialize(entry["changes"])]
                )


def install() -> None:
    """Register the listener on every Session (once)."""
    if not event.contains(Session, "after_flush", record_changes):
        event.listen(Session, "before_flush", lock_version)
        event.listen(Session, "after_flush", record_changes)
