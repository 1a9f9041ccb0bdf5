"""Annotated types shared by request and response schemas."""

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

from app.wareki import FiscalYearError, parse_fiscal_year

FISCAL_YEAR_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "integer", "minimum": 1989},
        {"type": "string", "minLength": 1, "maxLength": 20},
    ],
    "description": (
        "A fiscal year (年度) as the Western year it starts in (2024 = 令和6年度), or written"
        " R6, H30, 令和6, 令和6年度, 令和元年度, 平成30年度, ㋿6 (full-width digits accepted)."
    ),
    "examples": [2024, "R6", "令和6年度"],
}


def _fiscal_year(value: Any) -> Any:
    if isinstance(value, int | str):
        try:
            return parse_fiscal_year(value)
        except FiscalYearError as error:
            raise ValueError(str(error)) from None
    return value  # anything else fails as "not an integer" afterwards


FiscalYear = Annotated[int, BeforeValidator(_fiscal_year), WithJsonSchema(FISCAL_YEAR_SCHEMA)]


def _as_utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every timestamp we store is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UTCDateTime = Annotated[datetime, AfterValidator(_as_utc)]
