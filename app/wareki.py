"""Fiscal years (年度): parse every way people write them, label them the Japanese way.

A fiscal year is stored as the Western year in which it starts: 令和6年度 runs from
April 2024 to March 2025 and is stored as 2024. 令和 began on 1 May 2019, but the fiscal
year that started in April 2019 is called 令和元年度 (平成31年度 is accepted for it too).
"""

import re
import unicodedata
from datetime import date

FIRST_FISCAL_YEAR = 1989  # 平成元年度
YEARS_AHEAD = 10

# era name (after NFKC and casefold) -> Western year of the era's year 1
_ERAS: dict[str, int] = {
    "令和": 2018,
    "r": 2018,
    "平成": 1988,
    "h": 1988,
    "昭和": 1925,
    "s": 1925,
}
_LAST_ERA_YEAR = {"平成": 31, "h": 31, "昭和": 64, "s": 64}

_WESTERN = re.compile(r"(?:fy)?(\d{4})(?:年度)?")
_ERA = re.compile(r"(令和|平成|昭和|r|h|s)(元|\d{1,3})(?:年度)?")


class FiscalYearError(ValueError):
    """A value that is not a fiscal year we accept; the message says why, for the client."""


def last_fiscal_year(today: date | None = None) -> int:
    return (today or date.today()).year + YEARS_AHEAD


def parse_fiscal_year(value: int | str, *, today: date | None = None) -> int:
    """Return the fiscal year written as `value`, or raise FiscalYearError."""
    if isinstance(value, bool):
        raise FiscalYearError("fiscal year must be a year such as 2024, R6 or 令和6年度")
    if isinstance(value, int):
        return _in_range(value, str(value), today)
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", value)).casefold()
    if match := _WESTERN.fullmatch(text):
        return _in_range(int(match[1]), value, today)
    if match := _ERA.fullmatch(text):
        era, number = match[1], match[2]
        era_year = 1 if number == "元" else int(number)
        if era_year < 1 or era_year > _LAST_ERA_YEAR.get(era, 99):
            raise FiscalYearError(f"{value!r} is not a year of its era")
        return _in_range(_ERAS[era] + era_year, value, today)
    raise FiscalYearError(
        f"{value!r} is not a fiscal year: write it as 2024, R6, 令和6年度 or 平成30年度"
    )


def _in_range(year: int, written: str, today: date | None) -> int:
    last = last_fiscal_year(today)
    if not FIRST_FISCAL_YEAR <= year <= last:
        raise FiscalYearError(
            f"{written!r} is fiscal year {year}, outside {FIRST_FISCAL_YEAR} (平成元年度) to {last}"
        )
    return year


def fiscal_year_label(year: int) -> str:
    """Return the Japanese label of a fiscal year: 2024 -> 令和6年度, 2019 -> 令和元年度."""
    if year >= 2019:
        era, number = "令和", year - 2018
    elif year >= 1989:
        era, number = "平成", year - 1988
    else:
        era, number = "昭和", year - 1925
    return f"{era}{'元' if number == 1 else number}年度"


def period_label(start: int, end: int) -> str:
    """Return the label of a span of fiscal years: 令和5年度～令和8年度."""
    return f"{fiscal_year_label(start)}～{fiscal_year_label(end)}"
