"""What both bulk uploads share: per-row validation into one error list, the derived
columns' checks, and the set-based writes with their change-log entries."""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import (
    JSON,
    ColumnElement,
    Table,
    TableValuedAlias,
    UnicodeText,
    any_,
    bindparam,
    cast,
    column,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import CursorResult
from sqlalchemy.types import TypeEngine
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

    One column on PostgreSQL: `= ANY(array)`, so the statement is the same few lines
    whatever the chunk's size: an expanded IN of 1,000 keys is a statement SQLAlchemy
    renders and psycopg parses anew for each chunk (bench/run's upload, 2026-12-06).
    Otherwise the expanded IN: SQLite's, which costs it little (the bulk writes on
    PostgreSQL find rows by several columns without it, Writes._insert_set)."""
    if session.get_bind().dialect.name == "postgresql" and len(columns) == 1:
        found: ColumnElement[bool] = columns[0] == any_(
            bindparam(None, list(keys), type_=ARRAY(columns[0].type))
        )
        return found
    return columns[0].in_(keys) if len(columns) == 1 else tuple_(*columns).in_(keys)


def as_table(
    columns: Sequence[tuple[str, TypeEngine[Any]]], rows: Sequence[dict[str, Any]]
) -> TableValuedAlias:
    """On PostgreSQL, rows (dicts keyed by the names of `columns`; a name left out is null)
    as a table in a statement: one JSON parameter, which json_to_recordset spreads into
    columns of the given types.

    One parameter whatever the number of rows, made by the json module's C encoder: psycopg
    dumps an array element by element in Python, which took a quarter of a 10,000-row
    upload's time when the rows went in as one array a column (py-spy, 2026-12-07)."""
    document = json.dumps(list(rows), ensure_ascii=False, allow_nan=False)
    typed = [column(name, kind) for name, kind in columns]
    spread = func.json_to_recordset(cast(bindparam(None, document, type_=UnicodeText), JSON))
    return spread.table_valued(*typed).render_derived(with_types=True)


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


# A changed row to write: its id, the version it was read at, its new values, and the
# change-log diff ({field: [old, new]}).
Update = tuple[int, int, dict[str, Any], dict[str, Any]]


@dataclass
class Writes:
    """What a bulk request will write: new rows, and changed rows with their old values."""

    table: Table
    entity: str
    key: tuple[str, ...]  # the natural key, to find the ids of inserted rows
    creates: list[dict[str, Any]] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    logged: tuple[str, ...] = ()

    def apply(self, session: Session, actor: str, now: datetime, text: Text) -> list[int]:
        """Insert and update in chunks (a fixed number of statements per chunk); log each
        changed row. Return the ids of every row written.

        On PostgreSQL a chunk is one statement over the chunk as a table (as_table): one
        statement to plan and run instead of a thousand, and no per-row parameter handling
        in SQLAlchemy (bench/README.md, the bulk upload). Elsewhere (SQLite) an
        executemany, which costs it little."""
        postgres = session.get_bind().dialect.name == "postgresql"
        entries: list[dict[str, Any]] = []
        written: list[int] = []
        for start in range(0, len(self.creates), CHUNK):
            chunk = self.creates[start : start + CHUNK]
            insert_chunk = self._insert_set if postgres else self._insert_many
            for values, new_id in zip(chunk, insert_chunk(session, chunk, now), strict=True):
                written.append(new_id)
                logged = {name: [None, jsonable(values.get(name))] for name in self.logged}
                entries.append(self._entry(actor, now, "create", new_id, logged))
        for start in range(0, len(self.updates), CHUNK):
            chunk_updates = self.updates[start : start + CHUNK]
            update_chunk = self._update_set if postgres else self._update_many
            # A row changed by someone else since it was read is not written: the whole
            # upload fails with 409 rather than overwrite that change.
            if update_chunk(session, chunk_updates, now) != len(chunk_updates):
                raise Conflict(text("conflict"))
            for row_id, _, _, diff in chunk_updates:
                written.append(row_id)
                entries.append(self._entry(actor, now, "update", row_id, diff))
        if entries:
            append(session.connection(), entries)
        return written

    def _insert_many(
        self, session: Session, chunk: list[dict[str, Any]], now: datetime
    ) -> list[int]:
        """executemany without RETURNING: SQLite cannot return ids in order from a batch,
        so the new ids are read back by natural key, one SELECT per chunk."""
        table = self.table
        rows = [{**values, "version": 1, "created_at": now, "updated_at": now} for values in chunk]
        session.execute(insert(table), rows)
        key_columns = [table.c[name] for name in self.key]
        keys = [tuple(values[name] for name in self.key) for values in chunk]
        found = {
            tuple(row[1:]): row[0]
            for row in session.execute(
                select(table.c.id, *key_columns).where(among(session, key_columns, keys))
            )
        }
        return [found[key] for key in keys]

    def _insert_set(
        self, session: Session, chunk: list[dict[str, Any]], now: datetime
    ) -> list[int]:
        """INSERT ... SELECT FROM the chunk as a table (as_table) RETURNING the ids with their
        natural keys (PostgreSQL does not promise RETURNING's order)."""
        table = self.table
        names = list(dict.fromkeys(name for values in chunk for name in values))
        given = as_table([(name, table.c[name].type) for name in names], chunk)
        key_columns = [table.c[name] for name in self.key]
        statement = (
            insert(table)
            .from_select(
                [*names, "version", "created_at", "updated_at"],
                select(
                    *(given.c[name] for name in names),
                    literal(1),
                    literal(now, table.c.created_at.type),
                    literal(now, table.c.updated_at.type),
                ),
            )
            .returning(table.c.id, *key_columns)
        )
        found = {tuple(row[1:]): row[0] for row in session.execute(statement)}
        return [found[tuple(values[name] for name in self.key)] for values in chunk]

    def _columns(self, chunk: list[Update]) -> list[str]:
        return sorted({name for _, _, values, _ in chunk for name in values})

    def _update_many(
        self,
        session: Session,
        chunk: list[Update],
        now: datetime,
    ) -> int:
        """executemany of one UPDATE matched on id and version; return how many rows it
        wrote (counted afterwards: the rows whose updated_at is now)."""
        table = self.table
        columns = self._columns(chunk)
        statement = (
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.version == bindparam("b_version"))
            .values(
                version=table.c.version + 1,
                updated_at=bindparam("b_now"),
                **{name: bindparam(f"v_{name}") for name in columns},
            )
        )
        params = [
            {
                "b_id": row_id,
                "b_version": version,
                "b_now": now,
                **{f"v_{name}": values[name] for name in columns},
            }
            for row_id, version, values, _ in chunk
        ]
        session.execute(statement, params)
        ids = [row_id for row_id, _, _, _ in chunk]
        done = session.scalar(
            select(func.count()).where(among(session, [table.c.id], ids), table.c.updated_at == now)
        )
        return int(done or 0)

    def _update_set(
        self,
        session: Session,
        chunk: list[Update],
        now: datetime,
    ) -> int:
        """UPDATE ... FROM the chunk as a table (as_table), matched on id and version;
        return how many rows it wrote."""
        table = self.table
        columns = self._columns(chunk)
        given = as_table(
            [
                ("b_id", table.c.id.type),
                ("b_version", table.c.version.type),
                *((f"v_{name}", table.c[name].type) for name in columns),
            ],
            [
                {"b_id": row_id, "b_version": version}
                | {f"v_{name}": values[name] for name in columns}
                for row_id, version, values, _ in chunk
            ],
        )
        statement = (
            update(table)
            .where(table.c.id == given.c.b_id, table.c.version == given.c.b_version)
            .values(
                version=table.c.version + 1,
                updated_at=now,
                **{name: given.c[f"v_{name}"] for name in columns},
            )
        )
        result: CursorResult[Any] = session.execute(statement)  # type: ignore[assignment]
        return result.rowcount

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
