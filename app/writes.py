"""What every write shares: If-Match, the write lock, the one commit per use case, and
deleting with children."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Column, ColumnElement, Select, Table, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, SQLModel

from app.changes.recorder import ENTITIES, NOT_LOGGED, append
from app.errors import Conflict, NotFound, PreconditionFailed
from app.fields import jsonable
from app.models import Tracked, data_version, utcnow
from app.versions import Versioned, resource_etag

Row = TypeVar("Row", bound=SQLModel)


def check_if_match(if_match: str | None, row: Versioned) -> None:
    """Raise 412 unless If-Match is absent, `*`, or names the row's current ETag (RFC 9110)."""
    if if_match is None:
        return
    tags = [tag.strip() for tag in if_match.split(",")]
    # Strong comparison: a weak tag (W/"3") never matches for a write.
    current = resource_etag(row)
    if "*" not in tags and current not in tags:
        raise PreconditionFailed(
            f"the resource is now {current}, not {if_match}: fetch it again and retry"
        )


Shown = tuple[Table, ColumnElement[bool]]  # a table, and which of its rows


def touch(session: Session, *shown: Shown) -> None:
    """Move on the version (and updated_at) of the rows that show a field of a row being
    written: an initiative shows its measure's number and its policy's, an evaluation its
    initiative's code, a report its policies' numbers. A resource's ETag is its id and
    version (app/versions.py), so its version must move whenever what it answers changes, or
    a client's If-None-Match would keep getting 304 for what it no longer is.

    The data version's lock first, as every writer takes it before any content row's
    (hold_write_lock), whether or not the write's own rows were flushed yet."""
    if not shown:
        return
    hold_write_lock(session)
    now = utcnow()
    for table, rows in shown:
        session.execute(
            update(table).where(rows).values(version=table.c.version + 1, updated_at=now)
        )


def load(session: Session, model: type[Row], entity: str, row_id: int) -> Row:
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"{entity} {row_id} does not exist")
    return row


def hold_write_lock(session: Session) -> None:
    """Take the write lock before reading what a rule across rows checks.

    A rule such as "no evaluation before its initiative's fiscal year" reads other rows and
    then writes: a concurrent write between the two could make both pass and the data break
    the rule. On SQLite the writer holds the lock already (BEGIN IMMEDIATE, app/db.py); on
    PostgreSQL this takes the data_version row's lock, which every writer takes before any
    content row's (app/changes/recorder.py), so the order stays the same and cannot deadlock.
    Call it before loading the rows the rule reads, so they are read after the lock.
    """
    session.execute(select(data_version.c.version).with_for_update())


@contextmanager
def committing(session: Session) -> Iterator[None]:
    """Commit the use case's changes once; turn database refusals into 409 and 412."""
    try:
        yield
        session.commit()
    except StaleDataError:
        session.rollback()
        raise PreconditionFailed(
            "someone else changed the resource meanwhile: fetch it again and retry"
        ) from None
    except IntegrityError as error:
        session.rollback()
        raise Conflict(
            "the change conflicts with data written meanwhile (a duplicate key or a"
            " missing parent); fetch again and retry"
        ) from error


# The rows a delete takes with it are those the database's ON DELETE CASCADE removes: the
# foreign keys of the models say which. They are read first, to refuse (409) or to log them.
_TABLES = {model.__table__.name: (model.__table__, entity) for model, entity in ENTITIES.items()}  # type: ignore[attr-defined]
_ORDER = list(_TABLES)  # parents before children, as the change log lists them


def _cascades(table: Table) -> list[tuple[Column[Any], str]]:
    """The columns of table whose foreign key deletes the row with its parent, and the
    parent's table."""
    return [
        (key.parent, key.column.table.name)
        for key in table.foreign_keys
        if key.ondelete == "CASCADE" and key.column.table.name in _TABLES
    ]


def _descendants(root: Table, row_id: int) -> dict[str, Select[Any]]:
    """The ids of every row the database deletes with root's row, as a query per table (a
    row reached along several foreign keys is taken once). One pass in ENTITIES' order
    reaches them all, since a parent is listed before its children (tests/test_cascade.py)."""
    reached: dict[str, Select[Any]] = {}
    for name in _ORDER[_ORDER.index(root.name) + 1 :]:
        table = _TABLES[name][0]
        criteria = [
            column == row_id if parent == root.name else column.in_(reached[parent])
            for column, parent in _cascades(table)
            if parent == root.name or parent in reached
        ]
        if criteria:
            reached[name] = select(table.c.id).where(or_(*criteria))
    return reached


# A report's lines and highlights are parts of it, not children that block its deletion.
PARTS = {"reports": {"report_lines", "report_highlights"}}


def delete(session: Session, row: Tracked, *, cascade: bool) -> None:
    """Delete row; refuse (409) while it has children, unless cascade, which logs each one."""
    root: Table = row.__table__  # type: ignore[attr-defined]
    entity = ENTITIES[type(row)]
    assert row.id is not None
    found = {
        name: list(session.scalars(query)) for name, query in _descendants(root, row.id).items()
    }
    blocking = {
        name: len(ids)
        for name, ids in found.items()
        if ids and name not in PARTS.get(root.name, ())
    }
    if blocking and not cascade:
        counts = ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in blocking.items())
        raise Conflict(
            f"{entity} {row.id} still has {counts}: delete them first or pass ?cascade=true"
        )
    actor = str(session.info.get("actor", "system"))
    now = utcnow()
    entries = []
    # A whole that loses parts here without being deleted itself (a report whose lines go
    # with their policy) shows something else now: its version moves on.
    losing: dict[str, set[int]] = {}
    for whole, parts in PARTS.items():
        for part in parts:
            if found.get(part) and whole not in found and whole != root.name:
                part_table = _TABLES[part][0]
                (owner,) = [column for column, parent in _cascades(part_table) if parent == whole]
                owners = session.scalars(select(owner).where(part_table.c.id.in_(found[part])))
                losing.setdefault(whole, set()).update(owners)
    for name, ids in found.items():
        if not ids:
            continue
        table, child_entity = _TABLES[name]
        for child in session.execute(select(table).where(table.c.id.in_(ids))).mappings():
            old = {
                key: [jsonable(value), None]
                for key, value in child.items()
                if key not in NOT_LOGGED
            }
            entries.append(
                {
                    "at": now,
                    "actor": actor,
                    "action": "delete",
                    "entity": child_entity,
                    "entity_id": child["id"],
                    "changes": old,
                }
            )
    with committing(session):
        if entries:
            append(session.connection(), entries)
        touch(
            session,
            *[
                (_TABLES[whole][0], _TABLES[whole][0].c.id.in_(sorted(owner_ids)))
                for whole, owner_ids in losing.items()
            ],
        )
        session.delete(row)
