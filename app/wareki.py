"""Fiscal years (年度): parse every way people write them, label them the Japanese way.

A fiscal year is stored as the Western year in which it starts: 令和6年度 runs from
April 2024 to March 2025 and is stored as 2024. 令和 began on 1 May 2019, but the fiscal
year that started in April 2019 is called 令和元年度 (平成31年度 is accepted for it too).
"""

import re
import unicodedata
from datetime import date
from functools import lru_cache

FIRST_FISCAL_YEAR = 1989  # 平成元年度
YEARS_AHEAD = 10

# An era's name as written (after NFKC and casefold) -> the Western year of its year 0, and
# its last year. 令和 has no last year yet; 昭和 ended before the first year we accept.
_ERAS: dict[str, tuple[int, int | None]] = {
    "令和": (2018, None),
    "r": (2018, None),
    "平成": (1988, 31),
    "h": (1988, 31),
}
# The forms we accept, and nothing else: a year of four digits, or an era (令和, ㋿, R; 平成,
# ㍻, H) and its year (元 or one or two digits), each optionally followed by 年度. Digits and
# letters may be full width (ＲＨ０-９); spaces, tabs and ideographic spaces around it are
# ignored, but not inside it. fiscal_year_pattern() is the same language with the range of
# years written out, for the OpenAPI schema.
_SPACE = r"[ \t\u3000]*"
_REIWA = "令和|㋿|[RrＲｒ]"
_HEISEI = "平成|㍻|[HhＨｈ]"
_DIGIT = "[0-9０-９]"
_SYNTAX = re.compile(
    f"{_SPACE}(?:(?P<western>{_DIGIT}{{4}})"
    f"|(?P<era>{_REIWA}|{_HEISEI})(?P<number>元|{_DIGIT}{{1,2}}))(?:年度)?{_SPACE}"
)


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
    match = _SYNTAX.fullmatch(value)
    if match is None:
        raise FiscalYearError(
            f"{value!r} is not a fiscal year: write it as 2024, R6, 令和6年度 or 平成30年度"
        )
    if match["western"] is not None:
        return _in_range(int(unicodedata.normalize("NFKC", match["western"])), value, today)
    era = unicodedata.normalize("NFKC", match["era"]).casefold()
    number = unicodedata.normalize("NFKC", match["number"])
    era_year = 1 if number == "元" else int(number)
    offset, last = _ERAS[era]
    if era_year < 1 or (last is not None and era_year > last):
        raise FiscalYearError(f"{value!r} is not a year of its era")
    return _in_range(offset + era_year, value, today)


def fiscal_year_pattern(today: date | None = None) -> str:
    """Return a regular expression (JSON Schema `pattern`) matching exactly the strings
    parse_fiscal_year accepts: the forms above, with only the years in range."""
    return _pattern(last_fiscal_year(today))


@lru_cache(maxsize=4)
def _pattern(last: int) -> str:
    reiwa = _numbers(1, last - 2018, leading_zero=True)
    heisei = _numbers(1, min(31, last - 1988), leading_zero=True)
    forms = [_numbers(FIRST_FISCAL_YEAR, last)]
    if reiwa:
        forms.append(f"(?:{_REIWA})(?:元|{reiwa})")
    forms.append(f"(?:{_HEISEI})(?:元|{heisei})")
    return f"^{_SPACE}(?:{'|'.join(forms)})(?:年度)?{_SPACE}$"


def _digit(low: int, high: int) -> str:
    """A class of the digits low..high, half or full width."""
    if low == high:
        return f"[{low}{chr(0xFF10 + low)}]"
    return f"[{low}-{high}{chr(0xFF10 + low)}-{chr(0xFF10 + high)}]"


def _numbers(low: int, high: int, *, leading_zero: bool = False) -> str:
    """An alternation of the numbers low..high (a single digit may carry a leading zero)."""
    parts = []
    number = low
    while number <= high:
        tens, unit = divmod(number, 10)
        end = min(high, tens * 10 + 9)
        prefix = "".join(_digit(int(char), int(char)) for char in str(tens)) if tens else ""
        if not tens and leading_zero:
            prefix = _digit(0, 0) + "?"
        parts.append(prefix + _digit(unit, end % 10))
        number = end + 1
    return "(?:" + "|".join(parts) + ")" if parts else ""


def _in_range(year: int, written: str, today: date | None) -> int:
    last = last_fiscal_year(today)
    if not FIRST_FISCAL_YEAR <= year <= last:
        raise FiscalYearError(
            f"{written!r} is fiscal year {year}, outside {FIRST_FISCAL_YEAR} (平成元年度) to {last}"
        )
    return year


@lru_cache(maxsize=256)  # a page of 50 initiatives asks for 100 labels of a few years
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
