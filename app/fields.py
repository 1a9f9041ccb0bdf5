"""Annotated types shared by request and response schemas."""

import re
import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, Strict, WithJsonSchema
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

from app.text import CODE_PATTERN, normalize_code
from app.wareki import (
    FIRST_FISCAL_YEAR,
    YEARS_AHEAD,
    FiscalYearError,
    fiscal_year_pattern,
    last_fiscal_year,
    parse_fiscal_year,
)


def fiscal_year_schema() -> dict[str, Any]:
    """The JSON schema of a fiscal year: exactly what parse_fiscal_year accepts, range
    included (up to the current year + 10, as of when the schema is made)."""
    return {
        "anyOf": [
            {"type": "integer", "minimum": FIRST_FISCAL_YEAR, "maximum": last_fiscal_year()},
            {"type": "string", "pattern": fiscal_year_pattern()},
        ],
        "description": (
            "A fiscal year (年度) as the Western year it starts in (2024 = 令和6年度), or written"
            " 2024, 2024年度, R6, H30, 令和6, 令和6年度, 令和元年度, 平成30年度 or ㋿6 (full-width"
            f" digits and letters too), from {FIRST_FISCAL_YEAR} (平成元年度) to the current year"
            f" + {YEARS_AHEAD}."
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


FiscalYear = Annotated[int, BeforeValidator(_fiscal_year), WithJsonSchema(fiscal_year_schema())]


def jsonable(value: Any) -> Any:
    """A value as JSON holds it: dates and times in ISO 8601, decimals as numbers, the rest
    as is."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def as_utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every timestamp we store is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UTCDateTime = Annotated[datetime, AfterValidator(as_utc)]


_SURROGATE = re.compile("[\ud800-\udfff]")


def _visible(value: str) -> bool:
    """Whether the text shows something: a character that is neither white space, nor a
    combining mark, nor an invisible format character (U+200B, U+FEFF...)."""
    return any(
        not char.isspace() and unicodedata.category(char) not in ("Mn", "Me", "Cf")
        for char in value
    )


# C0 and C1 control characters and DEL: invisible, and not every export can carry them
# (CP932 holds no C1 character but U+0080; XML, and so .xlsx, refuses most of C0).
# Multi-line text keeps tab and line breaks; a single-line text (a title, a name, a unit)
# has none.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _control_error(value: str, pattern: re.Pattern[str], multiline: bool) -> str | None:
    found = pattern.search(value)
    if found is None:
        return None
    allowed = "only tab and line breaks" if multiline else "none: a single line of text"
    return (
        f"text may not contain control characters ({allowed}): U+{ord(found[0]):04X} at"
        f" character {found.start() + 1}"
    )


def text_rules(max_length: int, *, blank: bool = False, multiline: bool = False) -> AfterValidator:
    """Check a string: at most max_length characters after NFC, no NUL, no lone surrogates,
    no control characters (but tab, LF and CR in multiline text)."""
    controls = _CONTROL_IN_LINES if multiline else _CONTROL

    def check(value: str) -> str:
        if "\x00" in value:
            raise ValueError("text may not contain NUL (\\u0000)")
        if _SURROGATE.search(value):
            raise ValueError("text may not contain lone surrogates")
        if error := _control_error(value, controls, multiline):
            raise ValueError(error)
        if not blank and not _visible(value):
            raise ValueError("text may not be empty or only white space or combining marks")
        # Count what a reader sees: a letter and its combining mark that compose count once.
        if len(unicodedata.normalize("NFC", value)) > max_length:
            raise ValueError(f"text is longer than {max_length} characters")
        return value

    return AfterValidator(check)


# The same rules as JSON Schema patterns (ECMA-262 escapes), so that clients see them.
_LINE_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
LINE_PATTERN = _LINE_PATTERN  # for query parameters checked by text_rules()
_LINES_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"


def _limits(max_length: int, min_length: int, *, multiline: bool = False) -> Any:
    return Field(
        json_schema_extra={
            "maxLength": max_length,
            "minLength": min_length,
            "pattern": _LINES_PATTERN if multiline else _LINE_PATTERN,
        }
    )


Title = Annotated[str, _limits(200, 1), text_rules(200)]
LongTitle = Annotated[str, _limits(500, 1), text_rules(500)]
Name = Annotated[str, _limits(100, 1), text_rules(100)]
Narrative = Annotated[
    str, _limits(20_000, 0, multiline=True), text_rules(20_000, blank=True, multiline=True)
]
Note = Annotated[
    str, _limits(2_000, 0, multiline=True), text_rules(2_000, blank=True, multiline=True)
]
Unit = Annotated[str, _limits(50, 0), text_rules(50, blank=True)]


def _whole(value: Any) -> Any:
    # JSON Schema's integer is a number without a fraction: 38.0 is one (as JavaScript
    # sends it), so it is taken as 38; 38.5 stays a float and is refused.
    return int(value) if isinstance(value, float) and value.is_integer() else value


# Numbers and flags are strict: JSON `true` is not 1, "12" is not 12 (CSV cells are typed
# by their column before they are validated: app/bulk/parse.py).
Whole = BeforeValidator(_whole)
# (Whole goes last: before Field, it would hide the bounds from the JSON schema.)
Number = Annotated[
    int, Strict(), Field(ge=1, le=999, description="An ordinal such as （1） → 1."), Whole
]
Count = Annotated[int, Strict(), Field(ge=0, le=1_000_000), Whole]
PlanPage = Annotated[
    int, Strict(), Field(ge=1, le=100_000, description="Page number (P38 → 38)."), Whole
]
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
ParentId = Annotated[int, Strict(), Field(ge=1, le=2**31 - 1), Whole]
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


def _iso_date(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return value
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise ValueError("a date is written YYYY-MM-DD, e.g. 2025-08-01")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
"""A calendar date as text, YYYY-MM-DD (not a number of seconds, not a timestamp)."""


def omitted() -> Any:
    """Default of a PATCH field that may be left out but not set to null.

    The field keeps its non-null type, so `null` is refused (422) and the schema says so;
    exclude_unset leaves it out of the update when it was not sent.
    """
    return Field(default=None)


# An answer's member that is left out, not sent as null, when it has no value (the answer is
# dumped with exclude_none): `row: int | Absent = absent()` is optional and never null in
# the schema, as it is on the wire.
Absent = SkipJsonSchema[None]


def _without_default(schema: JsonDict) -> None:
    schema.pop("default", None)


def absent(description: str | None = None) -> Any:
    """Default of an answer's member that is left out when it has no value (see Absent)."""
    return Field(default=None, description=description, json_schema_extra=_without_default)


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
