"""Annotated types shared by request and response schemas."""

import unicodedata
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, Strict, WithJsonSchema

from app.text import CODE_PATTERN, normalize_code
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
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON 2024.0; the range check below applies to it too
    if isinstance(value, int | str):
        try:
            return parse_fiscal_year(value)
        except FiscalYearError as error:
            raise ValueError(str(error)) from None
    return value  # anything else fails as "not an integer" afterwards


FiscalYear = Annotated[int, BeforeValidator(_fiscal_year), WithJsonSchema(FISCAL_YEAR_SCHEMA)]


def jsonable(value: Any) -> Any:
    """A database value as JSON holds it: dates and times in ISO 8601, the rest as is."""
    return value.isoformat() if isinstance(value, date | datetime) else value


def as_utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every timestamp we store is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UTCDateTime = Annotated[datetime, AfterValidator(as_utc)]


def text_rules(max_length: int, *, blank: bool = False) -> AfterValidator:
    """Check a string: at most max_length characters after NFC, no NUL or lone surrogates."""

    def check(value: str) -> str:
        if "\x00" in value:
            raise ValueError("text may not contain NUL (\\u0000)")
        if any("\ud800" <= char <= "\udfff" for char in value):
            raise ValueError("text may not contain lone surrogates")
        if not blank and not value.strip():
            raise ValueError("text may not be empty or only white space")
        # Count what a reader sees: a letter and its combining mark that compose count once.
        if len(unicodedata.normalize("NFC", value)) > max_length:
            raise ValueError(f"text is longer than {max_length} characters")
        return value

    return AfterValidator(check)


def _limits(max_length: int, min_length: int) -> Any:
    return Field(json_schema_extra={"maxLength": max_length, "minLength": min_length})


Title = Annotated[str, _limits(200, 1), text_rules(200)]
LongTitle = Annotated[str, _limits(500, 1), text_rules(500)]
Name = Annotated[str, _limits(100, 1), text_rules(100)]
Narrative = Annotated[str, _limits(20_000, 0), text_rules(20_000, blank=True)]
Note = Annotated[str, _limits(2_000, 0), text_rules(2_000, blank=True)]
Unit = Annotated[str, _limits(50, 0), text_rules(50, blank=True)]
# Numbers and flags are strict: JSON `true` is not 1, "12" is not 12 (CSV cells are typed
# by their column before they are validated: app/bulk/parse.py).
Number = Annotated[int, Strict(), Field(ge=1, le=999, description="An ordinal such as （1） → 1.")]
Count = Annotated[int, Strict(), Field(ge=0, le=1_000_000)]
PlanPage = Annotated[int, Strict(), Field(ge=1, le=100_000, description="Page number (P38 → 38).")]
Flag = Annotated[bool, Strict()]
Amount = Annotated[
    float,
    Strict(),
    Field(
        ge=-1e15,
        le=1e15,
        allow_inf_nan=False,
        description="A finite number between -10^15 and 10^15.",
    ),
]
ParentId = Annotated[int, Strict(), Field(ge=1, le=2**31 - 1)]
Slug = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9-]{0,63}$",
        description="URL-safe name: lowercase letters, digits and hyphens.",
        examples=["kanazawa-2023-2026"],
    ),
]
MunicipalityCode = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{6}$",
        description="全国地方公共団体コード: 6 digits, kept as text (leading zeros matter).",
        examples=["172014"],
    ),
]
Url = Annotated[str, _limits(500, 1), text_rules(500)]


def omitted() -> Any:
    """Default of a PATCH field that may be left out but not set to null.

    The field keeps its non-null type, so `null` is refused (422) and the schema says so;
    exclude_unset leaves it out of the update when it was not sent.
    """
    return Field(default=None)


def _code(value: str) -> str:
    return normalize_code(value)


Code = Annotated[
    str,
    AfterValidator(_code),
    Field(
        json_schema_extra={"pattern": CODE_PATTERN, "maxLength": 32},
        description="取組番号 such as R6-7 (full-width Ｒ６－７ is stored as R6-7). A code"
        " R<n>-… gives the fiscal year 令和n.",
        examples=["R6-7"],
    ),
]
