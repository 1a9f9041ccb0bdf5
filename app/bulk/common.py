"""What both bulk uploads share: per-row validation into one error list, the derived
columns' checks, and the set-based writes with their change-log entries."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import (
    ColumnElement,
    Table,
    any_,
    bindparam,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session

from app.bulk.messages import PYDANTIC_JA, Text
from app.bulk.parse import RawRow
from app.changes.recorder import append
from app.errors import Conflict, ErrorDetail, InvalidInput, message_of
from app.fields import jsonable
from app.wareki import fiscal_year_label
from app.web.jsonbody import LongNumber

CHUNK = 1000
MAX_ERRORS = 1000
Row = TypeVar("Row", bound=BaseModel)


def among(
    session: Session, columns: Sequence[ColumnElement[Any]], keys: Sequence[Any]
) -> ColumnElement[bool]:
    """`columns IN keys` for a chunk of keys (one column: its values; several: tuples).

    On PostgreSQL one array per column, so the statement is the same few lines whatever
    the chunk's size: an expanded IN of 1,000 keys is a statement SQLAlchemy renders and
    psycopg parses anew for each chunk: with them, 10,000 evaluations took 1.25-1.35 s
    on PostgreSQL, with arrays 1.02-1.12 s (bench/run's upload, 2026-12-06). Elsewhere
    (SQLite) the expanded IN, which costs it little."""
    if session.get_bind().dialect.name != "postgresql":
        return columns[0].in_(keys) if len(columns) == 1 else tuple_(*columns).in_(keys)
    by_column = [keys] if len(columns) == 1 else list(zip(*keys, strict=True))
    arrays = [
        bindparam(None, list(values), type_=ARRAY(column.type))
        for column, values in zip(columns, by_column, strict=True)
    ]
    if len(columns) == 1:
        found: ColumnElement[bool] = columns[0] == any_(arrays[0])
        return found
    names = [f"k{index}" for index in range(len(columns))]
    given = select(func.unnest(*arrays).table_valued(*names).render_derived())
    return tuple_(*columns).in_(given)


@dataclass(frozen=True)
class PlanContext:
    id: int
    slug: str
    municipality_code: str
    municipality_name: str
    start_fiscal_year: int
    end_fiscal_year: int


@dataclass
class Problems:
    """Every bad row's errors, gathered before anything is written."""

    text: Text
    japanese: bool
    errors: list[ErrorDetail] = field(default_factory=list)

    def add(self, raw: RawRow, loc_field: str, message: str, kind: str = "value_error") -> None:
        self.errors.append(
            ErrorDetail(
                loc=[raw.index, loc_field], msg=message, type=kind, row=raw.index, line=raw.line
            )
        )

    def validate(self, model: type[Row], raw: RawRow) -> Row | None:
        # A number too long to read (app/web/jsonbody.py) gets its own message, not pydantic's
        # "a valid integer" for what is one.
        long = {name: v for name, v in raw.values.items() if isinstance(v, LongNumber)}
        for name, number in long.items():
            self.add(
                raw, name, self.text("number_too_long", digits=number.digits), "number_too_long"
            )
        try:
            row = model.model_validate(raw.values)
        except ValidationError as error:
            for detail in error.errors():
                where = [part for part in detail["loc"] if isinstance(part, str | int)]
                if where and where[0] in long:
                    continue
                message = message_of(detail)
                if self.japanese:
                    message = PYDANTIC_JA.get(detail["type"], message)
                self.errors.append(
                    ErrorDetail(
                        loc=[raw.index, *where],
                        msg=message,
                        type=detail["type"],
                        row=raw.index,
                        line=raw.line,
                    )
                )
            return None
        return None if long else row

    def check_plan_columns(self, raw: RawRow, row: Any, plan: PlanContext) -> None:
        """Derived columns may be left empty; when given they must agree with the plan."""
        for name, expected in (
            ("municipality_code", plan.municipality_code),
            ("municipality_name", plan.municipality_name),
            ("plan_slug", plan.slug),
        ):
            given = getattr(row, name)
            if given is not None and given.strip() != expected:
                self.add(
                    raw, name, self.text("mismatch", field=name, given=given, expected=expected)
                )

    def check_label(self, raw: RawRow, given: str | None, year: int | None) -> None:
        if given is None or year is None:
            return
        expected = fiscal_year_label(year)
        if given.strip() != expected:
            self.add(
                raw,
                "fiscal_year_label",
                self.text("label_mismatch", given=given, year=year, expected=expected),
            )

    def duplicates(self, raws: Sequence[RawRow], keys: Sequence[Any], describe: str) -> None:
        seen: dict[Any, list[int]] = {}
        for raw, key in zip(raws, keys, strict=True):
            if key is not None:
                seen.setdefault(key, []).append(raw.index)
        for key, rows in seen.items():
            if len(rows) > 1:
                # Name a few rows, not all: n copies of one key must not make n² text.
                listed = ", ".join(map(str, rows[:5])) + (
                    f" (+{len(rows) - 5})" if len(rows) > 5 else ""
                )
                for index in rows:
                    raw = raws[index]
                    label = key[0] if isinstance(key, tuple) else key
                    self.add(raw, describe, self.text("duplicate_key", key=label, rows=listed))

    def raise_if_any(self) -> None:
        if self.errors:
            rows = len({error.row for error in self.errors})
            # Every bad row is counted; the list stops at MAX_ERRORS so the answer stays small.
            errors = self.errors[:MAX_ERRORS]
            raise InvalidInput(self.text("rows_invalid", count=rows), errors=errors)


@dataclass
class Writes:
    """What a bulk request will write: new rows, and changed rows with their old values."""

    table: Table
    entity: str
    key: tuple[str, ...]  # the natural key, to find the ids of inserted rows
    creates: list[dict[str, Any]] = field(default_factory=list)
    updates: list[tuple[int, int, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    logged: tuple[str, ...] = ()

    def apply(self, session: Session, actor: str, now: datetime, text: Text) -> list[int]:
        """Insert and update in chunks (a fixed number of statements per chunk); log each
        changed row. Return the ids of every row written."""
        entries: list[dict[str, Any]] = []
        written: list[int] = []
        table = self.table
        for start in range(0, len(self.creates), CHUNK):
            chunk = [
                {**values, "version": 1, "created_at": now, "updated_at": now}
                for values in self.creates[start : start + CHUNK]
            ]
            # executemany without RETURNING: SQLite cannot return ids in order from a
            # batch, so the new ids are read back by natural key, one SELECT per chunk.
            session.execute(insert(table), chunk)
            key_columns = [table.c[name] for name in self.key]
            keys = [tuple(values[name] for name in self.key) for values in chunk]
            found = {
                tuple(row[1:]): row[0]
                for row in session.execute(
                    select(table.c.id, *key_columns).where(among(session, key_columns, keys))
                )
            }
            for key, values in zip(keys, chunk, strict=True):
                new_id = found[key]
                written.append(new_id)
                logged = {name: [None, jsonable(values.get(name))] for name in self.logged}
                entries.append(self._entry(actor, now, "create", new_id, logged))
        if self.updates:
            columns = sorted({name for _, _, values, _ in self.updates for name in values})
            statement = (
                update(table)
                .where(table.c.id == bindparam("b_id"), table.c.version == bindparam("b_version"))
                .values(
                    version=table.c.version + 1,
                    updated_at=bindparam("b_now"),
                    **{name: bindparam(f"v_{name}") for name in columns},
                )
            )
            for start in range(0, len(self.updates), CHUNK):
                chunk_updates = self.updates[start : start + CHUNK]
                params = [
                    {
                        "b_id": row_id,
                        "b_version": version,
                        "b_now": now,
                        **{f"v_{name}": values[name] for name in columns},
                    }
                    for row_id, version, values, _ in chunk_updates
                ]
                session.execute(statement, params)
                ids = [row_id for row_id, _, _, _ in chunk_updates]
                # A row changed by someone else since it was read keeps its own updated_at.
                done = session.scalar(
                    select(func.count()).where(
                        among(session, [table.c.id], ids), table.c.updated_at == now
                    )
                )
                if done != len(ids):
                    raise Conflict(text("conflict"))
                for row_id, _, _, diff in chunk_updates:
                    written.append(row_id)
                    entries.append(self._entry(actor, now, "update", row_id, diff))
        if entries:
            append(session.connection(), entries)
        return written

    def _entry(
        self, actor: str, now: datetime, action: str, row_id: int, diff: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "at": now,
            "actor": actor,
            "action": action,
            "entity": self.entity,
            "entity_id": row_id,
            "changes": diff,
        }


def diff(old: dict[str, Any], new: dict[str, Any], logged: Sequence[str]) -> dict[str, Any]:
    return {
        name: [jsonable(old.get(name)), jsonable(new.get(name))]
        for name in logged
        if old.get(name) != new.get(name)
    }
