"""Lists of resources, independent of HTTP: the fields every record has, a page of them,
and ORDER BY clauses from a checked `sort` parameter. Services use these; app/web/http.py
turns them into query parameters, Link headers and envelopes."""

from collections.abc import Mapping, Sequence
from typing import Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import ColumnElement, UnaryExpression

from app.errors import InvalidInput
from app.fields import UTCDateTime

MAX_LIMIT = 500
MAX_ID = 2**31 - 1  # ids are 32-bit integers in PostgreSQL; larger ones cannot exist
T = TypeVar("T")


class Record(BaseModel):
    """Fields every resource has."""

    id: int
    version: int
    created_at: UTCDateTime
    updated_at: UTCDateTime


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class PageParams(BaseModel):
    limit: int
    offset: int


def order_by(
    sort: str | None,
    columns: Mapping[str, ColumnElement[object]],
    default: Sequence[ColumnElement[object] | UnaryExpression[object]],
    tiebreak: ColumnElement[object],
) -> list[ColumnElement[object] | UnaryExpression[object]]:
    """Return ORDER BY clauses for a `sort` parameter already checked against its pattern."""
    if not sort:
        return [*default, tiebreak]
    clauses: list[ColumnElement[object] | UnaryExpression[object]] = []
    for part in sort.split(","):
        name = part.removeprefix("-")
        if name not in columns:  # the Query pattern should have caught it; stay safe anyway
            raise InvalidInput.at(["query", "sort"], f"cannot sort by {name!r}")
        column = columns[name]
        if part.startswith("-"):
            clause = column.desc()
            # Where NULLs go differs between databases: say it, the way PostgreSQL does.
            clauses.append(clause.nulls_first() if _nullable(column) else clause)
        else:
            clause = column.asc()
            clauses.append(clause.nulls_last() if _nullable(column) else clause)
    return [*clauses, tiebreak]


def _nullable(column: ColumnElement[object]) -> bool:
    return bool(getattr(column, "nullable", True))
